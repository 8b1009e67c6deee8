// The library's timeline over the assets table (issue 11 section 3): newest first by
// taken_at (migration 0007), filtered by type, folder, device and "has problems", paged by
// a keyset cursor (taken_at, id) so page 500 costs what page 1 costs. SQL for it lives here;
// VaultIndex owns the connection (the Sql port, sql.ts); where SQLite and PostgreSQL differ the
// statement branches on its dialect and says why.
// Invariant: the order is total (taken_at DESC, id DESC), so paging never repeats or skips
// an asset, whatever arrives meanwhile at other places in the timeline.
import type { Sql, SqlDialect } from './sql.js';
import { notTrashedSql } from './trash-store.js';
import type { AssetKind } from './vault-index.js';

export type LibraryTypeFilter = 'photo' | 'video' | 'raw' | 'live';

export interface LibraryFilter {
  type?: LibraryTypeFilter;
  folder?: string;
  deviceId?: string;
  problems?: boolean;
}

/** Where a page starts: strictly after this (taken_at, id) in timeline order. */
export interface LibraryCursor {
  takenAt: number;
  id: number;
}

export interface LibraryRecord {
  id: number;
  sha256: string;
  kind: AssetKind;
  mime: string | null;
  filename: string;
  size: number;
  takenAt: number;
  /** Parsed MediaMetadata JSON, or null before any PUT. */
  metadata: unknown;
  /** the last re-read's finding when it found a problem; null when ok or never re-read */
  blobProblem: 'damaged' | 'missing' | null;
  folders: { deviceId: string; deviceName: string; folder: string }[];
  /** its group (only a primary or a content in no group is a row) */
  group: { id: string; role: string } | null;
  /** the roles of its group's other members (empty when in no group) */
  memberRoles: string[];
}

interface LibraryRow {
  id: number;
  sha256: string;
  kind: AssetKind;
  mime: string | null;
  filename: string;
  size: number;
  taken_at: number;
  metadata: string | null;
  blob_problem: 'damaged' | 'missing' | null;
  group_id: number | null;
  group_role: string | null;
  /** the other members' roles, comma-separated */
  member_roles: string | null;
}

/**
 * File name endings of camera RAW formats (and DNG). The vault knows an asset's name and
 * declared MIME only; RAW MIME types are not standard (image/x-canon-cr2, image/x-adobe-dng,
 * or a bare application/octet-stream), so the name decides.
 */
export const RAW_EXTENSIONS = [
  'dng', 'cr2', 'cr3', 'crw', 'nef', 'nrw', 'arw', 'srf', 'sr2', 'raf', 'orf', 'rw2', 'rwl',
  'pef', 'srw', 'x3f', '3fr', 'erf', 'kdc', 'mrw', 'iiq', 'raw',
] as const; // prettier-ignore

// lower(): SQLite's LIKE ignores ASCII case, PostgreSQL's does not; the names' endings are
// ASCII, so lower() makes IMG_1.DNG and img_1.dng both match on both engines.
const isRawSql = `(${RAW_EXTENSIONS.map((e) => `lower(a.filename) LIKE '%.${e}'`).join(' OR ')})`;

/**
 * A key of the metadata JSON (text), as SQL text or NULL when absent or JSON null: SQLite
 * has json_extract, PostgreSQL has no json_extract but ->> on jsonb (which also gives NULL
 * for a JSON null, as json_extract does).
 */
function metadataKey(dialect: SqlDialect, key: 'motionPhoto' | 'captureTime'): string {
  return dialect === 'postgres'
    ? `(a.metadata::jsonb ->> '${key}')`
    : `json_extract(a.metadata, '$.${key}')`;
}

// A group's other members are not tiles of their own: its primary stands for the group.
const notSecondarySql = `NOT EXISTS (SELECT 1 FROM group_members gm WHERE gm.sha256 = a.sha256 AND gm.role <> 'primary')`;
// A Live Photo: a primary with a live-video member, or an Android motion photo (its video is
// inside the file; the engine's metadata says so).
const isLiveSql = (
  dialect: SqlDialect,
) => `(EXISTS (SELECT 1 FROM group_members gp JOIN group_members gv
  ON gv.group_id = gp.group_id AND gv.role = 'live-video'
  WHERE gp.sha256 = a.sha256 AND gp.role = 'primary')
  OR ${metadataKey(dialect, 'motionPhoto')} IS NOT NULL)`;

const hasBlobProblemSql = `EXISTS (SELECT 1 FROM asset_checks c WHERE c.sha256 = a.sha256 AND c.state <> 'ok')`;
const thinMetadataSql = (dialect: SqlDialect) =>
  `(a.metadata IS NULL OR ${metadataKey(dialect, 'captureTime')} IS NULL)`;

// Quoted aliases: PostgreSQL folds unquoted names to lower case (deviceid); SQLite keeps them.
const FOLDERS = `SELECT device_id AS "deviceId", MAX(device_name) AS "deviceName", folder,
         COUNT(DISTINCT sha256) AS assets
  FROM locations WHERE gone_at IS NULL
  GROUP BY device_id, folder ORDER BY folder, device_id`;

export class LibraryStore {
  constructor(private readonly sql: Sql) {}

  /** The WHERE clauses and their parameters for a filter (without the cursor). */
  private where(filter: LibraryFilter): { clauses: string[]; params: unknown[] } {
    // A content in the vault's trash is out of the library until restored.
    const clauses: string[] = [notSecondarySql, notTrashedSql('a')];
    const params: unknown[] = [];
    switch (filter.type) {
      case undefined:
        break;
      case 'photo':
        clauses.push("a.kind = 'image'");
        break;
      case 'video':
        clauses.push("a.kind = 'video'");
        break;
      case 'raw':
        clauses.push(isRawSql);
        break;
      case 'live':
        // Live Photos are groups (issue 11 section 1), or motion photos: one file.
        clauses.push(isLiveSql(this.sql.dialect));
        break;
      default: {
        const unknownType: never = filter.type;
        throw new Error(`unknown library type ${String(unknownType)}`);
      }
    }
    if (filter.folder !== undefined || filter.deviceId !== undefined) {
      // A place held now (gone_at IS NULL), found through locations_sha256.
      const inner = ['l.sha256 = a.sha256', 'l.gone_at IS NULL'];
      if (filter.folder !== undefined) {
        inner.push('l.folder = ?');
        params.push(filter.folder);
      }
      if (filter.deviceId !== undefined) {
        inner.push('l.device_id = ?');
        params.push(filter.deviceId);
      }
      clauses.push(`EXISTS (SELECT 1 FROM locations l WHERE ${inner.join(' AND ')})`);
    }
    if (filter.problems === true) {
      clauses.push(`(${hasBlobProblemSql} OR ${thinMetadataSql(this.sql.dialect)})`);
    }
    return { clauses, params };
  }

  /**
   * One page of the timeline after `cursor` (null: from the newest). Asks for `limit` rows;
   * the caller asks one more than it shows to learn whether another page exists.
   */
  async page(
    filter: LibraryFilter,
    cursor: LibraryCursor | null,
    limit: number,
  ): Promise<LibraryRecord[]> {
    const { clauses, params } = this.where(filter);
    const all = cursor === null ? clauses : ['(a.taken_at, a.id) < (?, ?)', ...clauses];
    // INDEXED BY is SQLite's (its planner otherwise may pick a filter's index and sort the
    // whole match); PostgreSQL has no index hints and walks assets_timeline for this ORDER BY.
    const from = this.sql.dialect === 'sqlite' ? 'assets a INDEXED BY assets_timeline' : 'assets a';
    // string_agg: PostgreSQL's, and SQLite's since 3.44 (better-sqlite3 bundles a newer one).
    const rows = await this.sql.all<LibraryRow>(
      `SELECT a.id, a.sha256, a.kind, a.mime, a.filename, a.size, a.taken_at, a.metadata,
              (SELECT c.state FROM asset_checks c
                WHERE c.sha256 = a.sha256 AND c.state <> 'ok') AS blob_problem,
              g.group_id, g.role AS group_role,
              (SELECT string_agg(o.role, ',') FROM group_members o
                WHERE o.group_id = g.group_id AND o.sha256 <> a.sha256) AS member_roles
       FROM ${from}
       LEFT JOIN group_members g ON g.sha256 = a.sha256
       WHERE ${all.join(' AND ')}
       ORDER BY a.taken_at DESC, a.id DESC LIMIT ?`,
      cursor === null ? [...params, limit] : [cursor.takenAt, cursor.id, ...params, limit],
    );
    const folders = await this.foldersOf(rows.map((r) => r.sha256));
    return rows.map((r) => ({
      id: r.id,
      sha256: r.sha256,
      kind: r.kind,
      mime: r.mime,
      filename: r.filename,
      size: r.size,
      takenAt: r.taken_at,
      metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as unknown),
      blobProblem: r.blob_problem,
      folders: folders.get(r.sha256) ?? [],
      group:
        r.group_id === null || r.group_role === null
          ? null
          : { id: String(r.group_id), role: r.group_role },
      memberRoles: r.member_roles === null ? [] : r.member_roles.split(','),
    }));
  }

  /** How many assets match the filter. */
  async count(filter: LibraryFilter): Promise<number> {
    const { clauses, params } = this.where(filter);
    const row = await this.sql.get<{ n: number }>(
      `SELECT COUNT(*) AS n FROM assets a WHERE ${clauses.join(' AND ')}`,
      params,
    );
    return row?.n ?? 0;
  }

  /** The folders (per device) that hold places now, with how many contents each holds. */
  folders(): Promise<{ deviceId: string; deviceName: string; folder: string; assets: number }[]> {
    return this.sql.all(FOLDERS);
  }

  /** The folders each of these contents lives in now (one statement for the page). */
  private async foldersOf(
    hashes: readonly string[],
  ): Promise<Map<string, { deviceId: string; deviceName: string; folder: string }[]>> {
    const out = new Map<string, { deviceId: string; deviceName: string; folder: string }[]>();
    if (hashes.length === 0) return out;
    const rows = await this.sql.all<{
      sha256: string;
      deviceId: string;
      deviceName: string;
      folder: string;
    }>(
      `SELECT DISTINCT sha256, device_id AS "deviceId", device_name AS "deviceName", folder
       FROM locations WHERE gone_at IS NULL AND sha256 IN (${hashes.map(() => '?').join(',')})
       ORDER BY "deviceId", folder`,
      hashes,
    );
    for (const r of rows) {
      let list = out.get(r.sha256);
      if (list === undefined) out.set(r.sha256, (list = []));
      list.push({ deviceId: r.deviceId, deviceName: r.deviceName, folder: r.folder });
    }
    return out;
  }
}
