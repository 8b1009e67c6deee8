// The stored_encoding / stored_bytes columns of assets (migration 0013): how each content is
// stored on disk, for usage and for the compressor's bookkeeping. SQL for them lives here;
// VaultIndex owns the connection. See [Note: Compressing blobs in the background] in
// ../compressor.ts.
// Invariant: 'compressed' is recorded only once the plain file is gone and the compressed one
// is durable; 'compressing' marks the only window in which both may be on disk.
import type Database from 'better-sqlite3';

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

export class EncodingStore {
  private readonly stmts;

  constructor(
    db: Database.Database,
    /** runs a commit with synchronous = FULL (VaultIndex.durably) */
    private readonly durably: <T>(commit: () => T) => T,
  ) {
    this.stmts = {
      unconsideredAfter: db.prepare<[number, number], UnconsideredAsset>(
        `SELECT id, sha256, size, mime, filename FROM assets
         WHERE stored_encoding IS NULL AND id > ? ORDER BY id LIMIT ?`,
      ),
      compressing: db.prepare<[], { sha256: string }>(
        "SELECT sha256 FROM assets WHERE stored_encoding = 'compressing'",
      ),
      set: db.prepare<[string | null, number | null, string]>(
        'UPDATE assets SET stored_encoding = ?, stored_bytes = ? WHERE sha256 = ?',
      ),
      totals: db.prepare<[], { assets: number; size: number; stored: number }>(
        `SELECT COUNT(*) AS assets, COALESCE(SUM(size), 0) AS size,
                COALESCE(SUM(stored_bytes), 0) AS stored
         FROM assets WHERE stored_encoding = 'compressed'`,
      ),
      allSize: db.prepare<[], { size: number }>(
        'SELECT COALESCE(SUM(size), 0) AS size FROM assets',
      ),
    };
  }

  /** Assets not yet considered, after the cursor (an id), in id order. */
  unconsideredAfter(cursor: number, limit: number): UnconsideredAsset[] {
    return this.stmts.unconsideredAfter.all(cursor, limit);
  }

  /** Contents a crash may have left with both files on disk (the start-up sweep settles them). */
  compressing(): string[] {
    return this.stmts.compressing.all().map((r) => r.sha256);
  }

  /** Considered, and left plain (already compressed, or too little to gain). */
  keptPlain(sha256: string): void {
    this.stmts.set.run('plain', null, sha256);
  }

  /**
   * Durably, before the compressed file is renamed in beside the plain one. False when the
   * asset is no longer indexed (the trash was emptied of it meanwhile): nothing to compress.
   */
  compressingNow(sha256: string): boolean {
    return this.durably(() => this.stmts.set.run('compressing', null, sha256).changes === 1);
  }

  /**
   * Durably, once the plain file is gone and only the compressed one holds the content. False
   * when the asset is no longer indexed.
   */
  compressed(sha256: string, storedBytes: number): boolean {
    return this.durably(() => this.stmts.set.run('compressed', storedBytes, sha256).changes === 1);
  }

  /** To be considered again (its bytes were replaced by a repair, or compressing was undone). */
  forget(sha256: string): void {
    this.stmts.set.run(null, null, sha256);
  }

  totals(): EncodingTotals {
    const c = this.stmts.totals.get() ?? { assets: 0, size: 0, stored: 0 };
    const all = this.stmts.allSize.get()?.size ?? 0;
    return {
      storedBytes: all - c.size + c.stored,
      compressionSavedBytes: c.size - c.stored,
      compressedAssets: c.assets,
    };
  }
}
