// The previews table (migration 0005): what the vault made of each asset's thumbnail and
// preview. SQL for it lives here; VaultIndex owns the connection (the Sql port, sql.ts).
// Invariant: an asset has at most one row, and no row means its previews are still to be
// made (See [Note: Preview work is the index] in ../previews.ts).
import type { Sql } from './sql.js';
import type { AssetKind } from './vault-index.js';

export type PreviewSource = 'decoded' | 'embedded' | 'poster';

export type PreviewOutcome =
  { state: 'made'; source: PreviewSource } | { state: 'none'; reason: string };

export type PreviewRecord = PreviewOutcome & { madeAt: number };

/** An asset whose previews are still to be made. */
export interface PendingPreview {
  id: number;
  sha256: string;
  kind: AssetKind;
  mime: string | null;
  filename: string;
}

interface PreviewRow {
  state: 'made' | 'none';
  source: PreviewSource | null;
  reason: string | null;
  made_at: number;
}

// The anti-join walks assets by id (its primary key) and probes previews by its key.
const PENDING_AFTER = `SELECT a.id, a.sha256, a.kind, a.mime, a.filename FROM assets a
  WHERE a.id > ? AND NOT EXISTS (SELECT 1 FROM previews p WHERE p.sha256 = a.sha256)
  ORDER BY a.id LIMIT ?`;

// The prefix is cast so that PostgreSQL knows which length() it is (length(unknown) is
// ambiguous there); the same text on SQLite.
const FORGET_REASON = `DELETE FROM previews
  WHERE state = 'none' AND substr(reason, 1, length(CAST(@prefix AS TEXT))) = @prefix`;

export class PreviewStore {
  constructor(private readonly sql: Sql) {}

  async get(sha256: string): Promise<PreviewRecord | undefined> {
    const row = await this.sql.get<PreviewRow>(
      'SELECT state, source, reason, made_at FROM previews WHERE sha256 = ?',
      [sha256],
    );
    if (!row) return undefined;
    return row.state === 'made'
      ? { state: 'made', source: row.source ?? 'decoded', madeAt: row.made_at }
      : { state: 'none', reason: row.reason ?? 'no preview can be made', madeAt: row.made_at };
  }

  async record(sha256: string, outcome: PreviewOutcome, at: number): Promise<void> {
    await this.sql.run(
      `INSERT INTO previews (sha256, state, source, reason, made_at)
       VALUES (@sha256, @state, @source, @reason, @at)
       ON CONFLICT (sha256) DO UPDATE SET
         state = excluded.state, source = excluded.source,
         reason = excluded.reason, made_at = excluded.made_at`,
      {
        sha256,
        state: outcome.state,
        source: outcome.state === 'made' ? outcome.source : null,
        reason: outcome.state === 'none' ? outcome.reason : null,
        at,
      },
    );
  }

  /** Assets after `afterId` (an assets.id) with no previews row, in upload order. */
  pendingAfter(afterId: number, limit: number): Promise<PendingPreview[]> {
    return this.sql.all<PendingPreview>(PENDING_AFTER, [afterId, limit]);
  }

  async counts(): Promise<{ made: number; none: number }> {
    const out = { made: 0, none: 0 };
    const rows = await this.sql.all<{ state: 'made' | 'none'; n: number }>(
      'SELECT state, COUNT(*) AS n FROM previews GROUP BY state',
    );
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /** Forgets one content's outcome: it is pending again. */
  async forget(sha256: string): Promise<void> {
    await this.sql.run('DELETE FROM previews WHERE sha256 = ?', [sha256]);
  }

  /**
   * Forgets the 'none' outcomes whose reason starts with one of `prefixes` (a decoder was
   * added since): those assets are pending again. Returns how many.
   */
  async forgetReasons(prefixes: readonly string[]): Promise<number> {
    let n = 0;
    for (const prefix of prefixes) n += (await this.sql.run(FORGET_REASON, { prefix })).changes;
    return n;
  }

  /** Forgets every outcome: every asset is pending again (a rebuild). */
  async clear(): Promise<void> {
    await this.sql.run('DELETE FROM previews');
  }
}
