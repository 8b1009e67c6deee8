// The similarity table (migration 0011): each photo's perceptual hash, sharpness and pixel
// size, measured from its preview. SQL for it lives here; VaultIndex owns the connection.
// Invariant: a row exists only for an asset whose preview was made (the measure is taken from
// it), and an asset has at most one row.
import type Database from 'better-sqlite3';
import type { MediaMetadata } from '../../common/vault-protocol.js';
import { notTrashedSql } from './trash-store.js';

const NOT_TRASHED = notTrashedSql('a');
const TRASH_SIGNATURE =
  "(SELECT COUNT(*) || ':' || COALESCE(MAX(trashed_at), 0) || ':' || COALESCE(MAX(rowid), 0) FROM trash)";

export interface SimilarityRecord {
  phash: string;
  sharpness: number;
  width: number | null;
  height: number | null;
}

/** A photo whose preview is made but not yet measured (the backfill's work). */
export interface UnmeasuredPhoto {
  id: number;
  sha256: string;
}

/** What grouping needs of one measured photo (See main/... similar-groups policy). */
export interface SimilarityCandidate extends SimilarityRecord {
  id: number;
  sha256: string;
  size: number;
  filename: string;
  takenAt: number;
  metadata: Partial<MediaMetadata> | null;
  group: { id: number; role: string } | null;
}

interface CandidateRow {
  id: number;
  sha256: string;
  size: number;
  filename: string;
  taken_at: number;
  metadata: string | null;
  phash: string;
  sharpness: number;
  width: number | null;
  height: number | null;
  group_id: number | null;
  group_role: string | null;
}

export class SimilarityStore {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      record: db.prepare<
        [
          {
            sha256: string;
            phash: string;
            sharpness: number;
            width: number | null;
            height: number | null;
            at: number;
          },
        ]
      >(
        `INSERT INTO similarity (sha256, phash, sharpness, width, height, measured_at)
         VALUES (@sha256, @phash, @sharpness, @width, @height, @at)
         ON CONFLICT (sha256) DO UPDATE SET
           phash = excluded.phash, sharpness = excluded.sharpness, width = excluded.width,
           height = excluded.height, measured_at = excluded.measured_at`,
      ),
      get: db.prepare<[string], SimilarityRecord>(
        'SELECT phash, sharpness, width, height FROM similarity WHERE sha256 = ?',
      ),
      unmeasuredAfter: db.prepare<[number, number], UnmeasuredPhoto>(
        `SELECT a.id, a.sha256 FROM assets a JOIN previews p ON p.sha256 = a.sha256
         WHERE a.id > ? AND p.state = 'made' AND p.source <> 'poster'
           AND NOT EXISTS (SELECT 1 FROM similarity s WHERE s.sha256 = a.sha256)
         ORDER BY a.id LIMIT ?`,
      ),
      // Every measured photo that stands for itself: in no asset group, a group's primary
      // (its size is the whole asset's: trashing it trashes them all), or a declared edit.
      candidates: db.prepare<[], CandidateRow>(
        `SELECT a.id, a.sha256, a.filename, a.taken_at, a.metadata,
                s.phash, s.sharpness, s.width, s.height, g.group_id, g.role AS group_role,
                CASE WHEN g.role = 'primary'
                  THEN (SELECT SUM(x.size) FROM group_members m JOIN assets x ON x.sha256 = m.sha256
                        WHERE m.group_id = g.group_id AND m.role <> 'edit')
                  ELSE a.size END AS size
         FROM similarity s JOIN assets a ON a.sha256 = s.sha256
         LEFT JOIN group_members g ON g.sha256 = a.sha256
         WHERE a.kind = 'image' AND (g.role IS NULL OR g.role IN ('primary', 'edit'))
           AND ${NOT_TRASHED}
         ORDER BY a.id`,
      ),
      // Changes whenever a change could regroup: a measure, a metadata PUT, a group
      // declaration, a move to or from the trash.
      signature: db.prepare<[], { sig: string }>(
        `SELECT (SELECT COUNT(*) || ':' || COALESCE(MAX(measured_at), 0) FROM similarity) || '/' ||
                (SELECT COALESCE(MAX(metadata_updated_at), 0) FROM assets) || '/' ||
                (SELECT COUNT(*) || ':' || COALESCE(MAX(declared_at), 0) FROM groups) || '/' ||
                (SELECT COUNT(*) || ':' || COALESCE(MAX(rowid), 0) FROM group_members) || '/' ||
                ${TRASH_SIGNATURE} AS sig`,
      ),
    };
  }

  record(sha256: string, r: SimilarityRecord, at: number): void {
    this.stmts.record.run({ sha256, ...r, at });
  }

  get(sha256: string): SimilarityRecord | undefined {
    return this.stmts.get.get(sha256);
  }

  /** Photos after `afterId` (an assets.id) with a made preview and no measure, by id. */
  unmeasuredAfter(afterId: number, limit: number): UnmeasuredPhoto[] {
    return this.stmts.unmeasuredAfter.all(afterId, limit);
  }

  /** A string that changes whenever candidates() could answer differently. */
  signature(): string {
    return this.stmts.signature.get()?.sig ?? '';
  }

  /** Every measured photo, in upload order. */
  candidates(): SimilarityCandidate[] {
    return this.stmts.candidates.all().map((r) => ({
      id: r.id,
      sha256: r.sha256,
      size: r.size,
      filename: r.filename,
      takenAt: r.taken_at,
      metadata:
        r.metadata === null ? null : (JSON.parse(r.metadata) as Partial<MediaMetadata> | null),
      phash: r.phash,
      sharpness: r.sharpness,
      width: r.width,
      height: r.height,
      group:
        r.group_id === null || r.group_role === null
          ? null
          : { id: r.group_id, role: r.group_role },
    }));
  }
}
