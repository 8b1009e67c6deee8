// Brings an index to the latest schema of migrations.ts, on either engine, and refuses one a
// newer vault made (its tables would mean things this vault does not know).
import type { SqlDatabase } from './sql.js';
import { migrations } from './migrations.js';

export class IndexTooNewError extends Error {
  override name = 'IndexTooNewError';
}

/** Applies pending migrations, each in one transaction with its version bump. */
export async function migrateIndex(db: SqlDatabase): Promise<void> {
  const latest = migrations.at(-1)?.version ?? 0;
  await db.migrate(
    migrations.map((m) => ({
      version: m.version,
      script: db.dialect === 'sqlite' ? m.sqlite : m.postgres,
    })),
    (current) => {
      if (current > latest) {
        throw new IndexTooNewError(
          `the vault index is schema version ${current}, newer than this vault understands (${latest}); run a newer keepsake`,
        );
      }
    },
  );
}
