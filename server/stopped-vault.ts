// Opening a vault that is not running, for the maintenance commands that work on its data
// directory directly (`keepsake vault scrub`, `keepsake vault previews --rebuild`). Invariant:
// such a command holds the data directory's lock for as long as it uses the index, so it
// never works beside a running vault, and it always closes the index and releases the lock.
// With a shared index (--index postgres://…, several nodes: See [Note: Several vault nodes]
// in vault.ts) the lock is this node's: the work must be one other nodes may run beside,
// which the index's transactions make safe (an empty's forget checks and removes at once).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PostgresIndexError } from './index/postgres-sql.js';
import { IndexTooNewError, VaultIndex } from './index/vault-index.js';
import { acquireDataDirLock } from './lock.js';
import { VaultStartError } from './start-error.js';

/**
 * Opens the index a vault (or a maintenance command) starts on; an index a newer vault made,
 * or a PostgreSQL that cannot be reached, is a VaultStartError the CLI says in one line.
 */
export async function openIndexToStart(location: string): Promise<VaultIndex> {
  try {
    return await VaultIndex.open(location);
  } catch (err) {
    if (err instanceof IndexTooNewError) throw new VaultStartError('index_too_new', err.message);
    if (err instanceof PostgresIndexError) {
      throw new VaultStartError('index_unreachable', err.message, { cause: err });
    }
    throw err;
  }
}

/**
 * Runs `work` with the index of the stopped vault in `dataDir`. `whenRunning` is what to tell
 * a person whose vault is running (after "a vault is running on DIR; ").
 */
export async function withStoppedVault<T>(
  vault: { dataDir: string; /** --index; default <dataDir>/vault.db */ index?: string },
  whenRunning: string,
  work: (index: VaultIndex) => Promise<T>,
): Promise<T> {
  const { dataDir } = vault;
  if (vault.index === undefined && !existsSync(join(dataDir, 'vault.db'))) {
    throw new VaultStartError('no_vault', `${dataDir} holds no vault (no vault.db)`);
  }
  const lock = await acquireDataDirLock(dataDir).catch((err: unknown) => {
    if (err instanceof VaultStartError && err.code === 'data_dir_locked') {
      throw new VaultStartError(
        'data_dir_locked',
        `a vault is running on ${dataDir}; ${whenRunning}`,
      );
    }
    throw err;
  });
  let index: VaultIndex | undefined;
  try {
    index = await openIndexToStart(vault.index ?? join(dataDir, 'vault.db'));
    return await work(index);
  } finally {
    await index?.close();
    await lock.release();
  }
}
