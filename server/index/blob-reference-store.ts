// What in the index refers to a stored content, for `keepsake vault sweep` (../blob-sweep.ts):
// the assets rows in sha256 order (walked beside the blob store's listing), and whether one
// content is referenced right now (an assets row, or an upload of it being received).
// Read-only: the sweep never writes the index.
import type { Sql } from './sql.js';

export type AssetCheckState = 'ok' | 'damaged' | 'missing';

export class BlobReferenceStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Up to `limit` assets after `after` in sha256 order, with what their health says. The order
   * is the engine's own for the column (a PostgreSQL collation may differ from byte order for
   * other text, not for lower-case hex); the sweep confirms every finding, so an order that
   * differed would cost extra checks, never a wrong answer.
   */
  assetsBySha(
    after: string,
    limit: number,
  ): Promise<{ sha256: string; state: AssetCheckState | null }[]> {
    return this.sql.all(
      `SELECT a.sha256, c.state FROM assets a LEFT JOIN asset_checks c ON c.sha256 = a.sha256
        WHERE a.sha256 > ? ORDER BY a.sha256 LIMIT ?`,
      [after, limit],
    );
  }

  /**
   * True when the index refers to the content now: an assets row, or an upload of it still
   * being received (its commit may be about to reuse the object: See [Note: Sweeping beside
   * running nodes] in ../blob-sweep.ts).
   */
  async isReferenced(sha256: string): Promise<boolean> {
    const row = await this.sql.get<{ n: number }>(
      `SELECT (SELECT COUNT(*) FROM assets WHERE sha256 = ?)
            + (SELECT COUNT(*) FROM uploads WHERE sha256 = ? AND state = 'receiving') AS n`,
      [sha256, sha256],
    );
    return (row?.n ?? 0) > 0;
  }
}
