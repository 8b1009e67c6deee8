// The previews table (migration 0005): what the vault made of each asset's thumbnail and
// preview. SQL for it lives here; VaultIndex owns the connection. Invariant: an asset has
// at most one row, and no row means its previews are still to be made (See [Note: Preview
// work is the index] in ../previews.ts).
import type Database from 'better-sqlite3';
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

export class PreviewStore {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare<[string], PreviewRow>(
        'SELECT state, source, reason, made_at FROM previews WHERE sha256 = ?',
      ),
      record: db.prepare<
        [
          {
            sha256: string;
            state: string;
            source: string | null;
            reason: string | null;
            at: number;
          },
        ]
      >(
        `INSERT INTO previews (sha256, state, source, reason, made_at)
         VALUES (@sha256, @state, @source, @reason, @at)
         ON CONFLICT (sha256) DO UPDATE SET
           state = excluded.state, source = excluded.source,
           reason = excluded.reason, made_at = excluded.made_at`,
      ),
      // The anti-join walks assets by id (its primary key) and probes previews by its key.
      pendingAfter: db.prepare<[number, number], PendingPreview>(
        `SELECT a.id, a.sha256, a.kind, a.mime, a.filename FROM assets a
         WHERE a.id > ? AND NOT EXISTS (SELECT 1 FROM previews p WHERE p.sha256 = a.sha256)
         ORDER BY a.id LIMIT ?`,
      ),
      counts: db.prepare<[], { state: 'made' | 'none'; n: number }>(
        'SELECT state, COUNT(*) AS n FROM previews GROUP BY state',
      ),
      clear: db.prepare('DELETE FROM previews'),
      forget: db.prepare<[string]>('DELETE FROM previews WHERE sha256 = ?'),
      forgetReason: db.prepare<[{ prefix: string }]>(
        "DELETE FROM previews WHERE state = 'none' AND substr(reason, 1, length(@prefix)) = @prefix",
      ),
    };
  }

  get(sha256: string): PreviewRecord | undefined {
    const row = this.stmts.get.get(sha256);
    if (!row) return undefined;
    return row.state === 'made'
      ? { state: 'made', source: row.source ?? 'decoded', madeAt: row.made_at }
      : { state: 'none', reason: row.reason ?? 'no preview can be made', madeAt: row.made_at };
  }

  record(sha256: string, outcome: PreviewOutcome, at: number): void {
    this.stmts.record.run({
      sha256,
      state: outcome.state,
      source: outcome.state === 'made' ? outcome.source : null,
      reason: outcome.state === 'none' ? outcome.reason : null,
      at,
    });
  }

  /** Assets after `afterId` (an assets.id) with no previews row, in upload order. */
  pendingAfter(afterId: number, limit: number): PendingPreview[] {
    return this.stmts.pendingAfter.all(afterId, limit);
  }

  counts(): { made: number; none: number } {
    const out = { made: 0, none: 0 };
    for (const r of this.stmts.counts.all()) out[r.state] = r.n;
    return out;
  }

  /** Forgets one content's outcome: it is pending again. */
  forget(sha256: string): void {
    this.stmts.forget.run(sha256);
  }

  /**
   * Forgets the 'none' outcomes whose reason starts with one of `prefixes` (a decoder was
   * added since): those assets are pending again. Returns how many.
   */
  forgetReasons(prefixes: readonly string[]): number {
    let n = 0;
    for (const prefix of prefixes) n += this.stmts.forgetReason.run({ prefix }).changes;
    return n;
  }

  /** Forgets every outcome: every asset is pending again (a rebuild). */
  clear(): void {
    this.stmts.clear.run();
  }
}
