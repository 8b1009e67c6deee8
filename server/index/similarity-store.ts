// The similarity table (migration 0011): each photo's perceptual hash, sharpness and pixel
// size, measured from its preview. SQL for it lives here; VaultIndex owns the connection.
// Invariant: a row exists only for an asset whose preview was made (the measure is taken from
// it), and an asset has at most one row.
//
// [Note: What the signature counts]
// signature() must change whenever candidates() could answer differently, so that the
// similar-photos review (../similar-api.ts) regroups only then; with several vault nodes each
// keeps its own cache, so the signature comes from the index, never from a node's memory. It
// is a handful of aggregates over what candidates() reads (no rowid: PostgreSQL has none):
// - each write that could regroup stamps its row with the writer's clock: a measure
//   (similarity.measured_at), a metadata PUT (assets.metadata_updated_at, the only column of a
//   candidate's asset row written after its insert), a declaration (groups.declared_at), a
//   move to the trash (trash.trashed_at). COUNT and SUM of each stamp change with every insert,
//   delete and re-stamp, whatever the other nodes' clocks say (a MAX would miss a re-stamp
//   from a node whose clock is behind). A new or forgotten asset changes candidates() only
//   through its similarity row.
// - group_members has no stamp: a member's role and group change only in a declaration, which
//   stamps its group; COUNT and SUM(group_id) also see members moved between groups.
// - trash: SUM of the trashed assets' ids too, which sees a restore and a move of another
//   content in one millisecond.
// The limit: a row re-stamped in the very millisecond of its last stamp. Sums of stamps are
// taken from a fixed base (SIGNATURE_BASE_MS) so they stay within SQLite's 64-bit integers
// for tens of millions of rows, and read as text so PostgreSQL's exact numeric reaches
// JavaScript unrounded.
import type { MediaMetadata } from '../../common/vault-protocol.js';
import type { Sql } from './sql.js';
import { notTrashedSql } from './trash-store.js';

const NOT_TRASHED = notTrashedSql('a');

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

// Every measured photo that stands for itself: in no asset group, a group's primary (its size
// is the whole asset's: trashing it trashes them all), or a declared edit.
const CANDIDATES = `SELECT a.id, a.sha256, a.filename, a.taken_at, a.metadata,
         s.phash, s.sharpness, s.width, s.height, g.group_id, g.role AS group_role,
         CASE WHEN g.role = 'primary'
           THEN (SELECT SUM(x.size) FROM group_members m JOIN assets x ON x.sha256 = m.sha256
                 WHERE m.group_id = g.group_id AND m.role <> 'edit')
           ELSE a.size END AS size
  FROM similarity s JOIN assets a ON a.sha256 = s.sha256
  LEFT JOIN group_members g ON g.sha256 = a.sha256
  WHERE a.kind = 'image' AND (g.role IS NULL OR g.role IN ('primary', 'edit'))
    AND ${NOT_TRASHED}
  ORDER BY a.id`;

// See [Note: What the signature counts]. Figures, not a string built in SQL (`||` on numbers
// differs between the dialects): JavaScript joins them.
const SIGNATURE_BASE_MS = 1_700_000_000_000;
const stamps = (table: string, column: string) =>
  `(SELECT COUNT(${column}) FROM ${table}) AS ${table}_n,
   (SELECT CAST(COALESCE(SUM(${column} - ${SIGNATURE_BASE_MS}), 0) AS TEXT) FROM ${table})
     AS ${table}_stamps`;
const SIGNATURE = `SELECT ${stamps('similarity', 'measured_at')},
  ${stamps('assets', 'metadata_updated_at')},
  ${stamps('groups', 'declared_at')},
  ${stamps('trash', 'trashed_at')},
  (SELECT COUNT(*) FROM group_members) AS members_n,
  (SELECT COALESCE(SUM(group_id), 0) FROM group_members) AS members_groups,
  (SELECT COALESCE(SUM(a.id), 0) FROM trash t JOIN assets a ON a.sha256 = t.sha256)
    AS trash_ids`;

export class SimilarityStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Records a photo's measure; false when its asset is no longer indexed (the trash was
   * emptied of it while it was measured): no row is left for an asset that is gone. The check
   * and the write are one transaction.
   */
  record(sha256: string, r: SimilarityRecord, at: number): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      if ((await tx.get('SELECT 1 AS one FROM assets WHERE sha256 = ?', [sha256])) === undefined) {
        return false;
      }
      await tx.run(
        `INSERT INTO similarity (sha256, phash, sharpness, width, height, measured_at)
         VALUES (@sha256, @phash, @sharpness, @width, @height, @at)
         ON CONFLICT (sha256) DO UPDATE SET
           phash = excluded.phash, sharpness = excluded.sharpness, width = excluded.width,
           height = excluded.height, measured_at = excluded.measured_at`,
        {
          sha256,
          phash: r.phash,
          sharpness: r.sharpness,
          width: r.width,
          height: r.height,
          at,
        },
      );
      return true;
    });
  }

  get(sha256: string): Promise<SimilarityRecord | undefined> {
    return this.sql.get<SimilarityRecord>(
      'SELECT phash, sharpness, width, height FROM similarity WHERE sha256 = ?',
      [sha256],
    );
  }

  /** Photos after `afterId` (an assets.id) with a made preview and no measure, by id. */
  unmeasuredAfter(afterId: number, limit: number): Promise<UnmeasuredPhoto[]> {
    return this.sql.all<UnmeasuredPhoto>(
      `SELECT a.id, a.sha256 FROM assets a JOIN previews p ON p.sha256 = a.sha256
       WHERE a.id > ? AND p.state = 'made' AND p.source <> 'poster'
         AND NOT EXISTS (SELECT 1 FROM similarity s WHERE s.sha256 = a.sha256)
       ORDER BY a.id LIMIT ?`,
      [afterId, limit],
    );
  }

  /**
   * A string that changes whenever candidates() could answer differently (See [Note: What the
   * signature counts]). Read it BEFORE candidates(): a change between the two then only costs
   * one more regrouping, never a stale answer kept.
   */
  async signature(): Promise<string> {
    const row = await this.sql.get<Record<string, number | string>>(SIGNATURE);
    return row === undefined ? '' : Object.values(row).join(':');
  }

  /** Every measured photo, in upload order. */
  async candidates(): Promise<SimilarityCandidate[]> {
    const rows = await this.sql.all<CandidateRow>(CANDIDATES);
    return rows.map((r) => ({
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
