// The stored_encoding / stored_bytes columns of assets (migration 0013): how each content is
// stored on disk, for usage and for the compressor's bookkeeping. SQL for them lives here;
// VaultIndex owns the connection. See [Note: Compressing blobs in the background] in
// ../compressor.ts.
// Invariant: 'compressed' is recorded only once the plain file is gone and the compressed one
// is durable; 'compressing' marks the only window in which both may be on disk.
import type { Sql } from './sql.js';

/** An asset the compressor has not considered yet. */
export interface UnconsideredAsset {
  id: number;
  sha256: string;
  size: number;
  mime: string | null;
  filename: string;
}

export interface EncodingTotals {
  /** bytes the blobs take on disk (a compressed blob's file, else the original size) */
  storedBytes: number;
  /** original bytes minus stored bytes, over the compressed contents */
  compressionSavedBytes: number;
  compressedAssets: number;
}

const SET = 'UPDATE assets SET stored_encoding = ?, stored_bytes = ? WHERE sha256 = ?';

export class EncodingStore {
  constructor(private readonly sql: Sql) {}

  /** Assets not yet considered, after the cursor (an id), in id order. */
  unconsideredAfter(cursor: number, limit: number): Promise<UnconsideredAsset[]> {
    return this.sql.all<UnconsideredAsset>(
      `SELECT id, sha256, size, mime, filename FROM assets
       WHERE stored_encoding IS NULL AND id > ? ORDER BY id LIMIT ?`,
      [cursor, limit],
    );
  }

  /** Contents a crash may have left with both files on disk (the start-up sweep settles them). */
  async compressing(): Promise<string[]> {
    const rows = await this.sql.all<{ sha256: string }>(
      "SELECT sha256 FROM assets WHERE stored_encoding = 'compressing'",
    );
    return rows.map((r) => r.sha256);
  }

  /** Considered, and left plain (already compressed, or too little to gain). */
  async keptPlain(sha256: string): Promise<void> {
    await this.sql.run(SET, ['plain', null, sha256]);
  }

  /**
   * Durably, before the compressed file is renamed in beside the plain one. False when the
   * asset is no longer indexed (the trash was emptied of it meanwhile): nothing to compress.
   */
  compressingNow(sha256: string): Promise<boolean> {
    return this.sql.transaction(
      async (tx) => (await tx.run(SET, ['compressing', null, sha256])).changes === 1,
      { durable: true },
    );
  }

  /**
   * Durably, once the plain file is gone and only the compressed one holds the content. False
   * when the asset is no longer indexed.
   */
  compressed(sha256: string, storedBytes: number): Promise<boolean> {
    return this.sql.transaction(
      async (tx) => (await tx.run(SET, ['compressed', storedBytes, sha256])).changes === 1,
      { durable: true },
    );
  }

  /**
   * The start-up settling of a content listed by compressing(): 'compressed' with the size of
   * its compressed object, or unconsidered again (null: the object is not in place). Only
   * while the index still says 'compressing', checked in the same statement: another vault
   * node's compressor may have finished it since it was listed. Durable, as compressed().
   */
  settle(sha256: string, storedBytes: number | null): Promise<boolean> {
    return this.sql.transaction(
      async (tx) => {
        const { changes } = await tx.run(
          `${SET} AND stored_encoding = 'compressing'`,
          storedBytes === null ? [null, null, sha256] : ['compressed', storedBytes, sha256],
        );
        return changes === 1;
      },
      { durable: true },
    );
  }

  /** To be considered again (its bytes were replaced by a repair, or compressing was undone). */
  async forget(sha256: string): Promise<void> {
    await this.sql.run(SET, [null, null, sha256]);
  }

  /** One statement, so the figures agree with each other while the compressor works. */
  async totals(): Promise<EncodingTotals> {
    const t = await this.sql.get<{ total: number; assets: number; size: number; stored: number }>(
      `SELECT COALESCE(SUM(size), 0) AS total,
              COUNT(CASE WHEN stored_encoding = 'compressed' THEN 1 END) AS assets,
              COALESCE(SUM(CASE WHEN stored_encoding = 'compressed' THEN size END), 0) AS size,
              COALESCE(SUM(CASE WHEN stored_encoding = 'compressed' THEN stored_bytes END), 0)
                AS stored
       FROM assets`,
    );
    const { total, assets, size, stored } = t ?? { total: 0, assets: 0, size: 0, stored: 0 };
    return {
      storedBytes: total - size + stored,
      compressionSavedBytes: size - stored,
      compressedAssets: assets,
    };
  }
}
