// The library's timeline over the assets table (issue 11 section 3): newest first by
// taken_at (migration 0007), filtered by type, folder, device and "has problems", paged by
// a keyset cursor (taken_at, id) so page 500 costs what page 1 costs. SQL for it lives here;
// VaultIndex owns the connection.
// Invariant: the order is total (taken_at DESC, id DESC), so paging never repeats or skips
// an asset, whatever arrives meanwhile at other places in the timeline.
import type Database from 'better-sqlite3';
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

// LIKE is case-insensitive for ASCII, so IMG_1.DNG and img_1.dng both match.
const isRawSql = `(${RAW_EXTENSIONS.map((e) => `a.filename LIKE '%.${e}'`).join(' OR ')})`;

// A group's other members are not tiles of their own: its primary stands for the group.
const notSecondarySql = `NOT EXISTS (SELECT 1 FROM group_members gm WHERE gm.sha256 = a.sha256 AND gm.role <> 'primary')`;
// A Live Photo: a primary with a live-video member, or an Android motion photo (its video is
// inside the file; the engine's metadata says so).
const isLiveSql = `(EXISTS (SELECT 1 FROM group_members gp JOIN group_members gv
  ON gv.group_id = gp.group_id AND gv.role = 'live-video'
  WHERE gp.sha256 = a.sha256 AND gp.role = 'primary')
  OR json_extract(a.metadata, '$.motionPhoto') IS NOT NULL)`;

const hasBlobProblemSql = `EXISTS (SELECT 1 FROM asset_checks c WHERE c.sha256 = a.sha256 AND c.state <> 'ok')`;
const thinMetadataSql = `(a.metadata IS NULL OR json_extract(a.metadata, '$.captureTime') IS NULL)`;

export class LibraryStore {
  private readonly db: Database.Database;
  /** One prepared statement per filter shape (at most 2^4 * 5 of them). */
  private readonly pages = new Map<string, Database.Statement<unknown[], LibraryRow>>();
  private readonly counts = new Map<string, Database.Statement<unknown[], { n: number }>>();
  private readonly stmts;

  constructor(db: Database.Database) {
    this.db = db;
    this.stmts = {
      folders: db.prepare<
        [],
        { deviceId: string; deviceName: string; folder: string; assets: number }
      >(
        `SELECT device_id AS deviceId, MAX(device_name) AS deviceName, folder,
                COUNT(DISTINCT sha256) AS assets
         FROM locations WHERE gone_at IS NULL
         GROUP BY device_id, folder ORDER BY folder, device_id`,
      ),
    };
  }

  /** The WHERE clauses and their parameters for a filter (without the cursor). */
  private where(filter: LibraryFilter): { key: string; clauses: string[]; params: unknown[] } {
    // A content in the vault's trash is out of the library until restored.
    const clauses: string[] = [notSecondarySql, notTrashedSql('a')];
    const params: unknown[] = [];
    const key: string[] = [];
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
        clauses.push(isLiveSql);
        break;
      default: {
        const unknownType: never = filter.type;
        throw new Error(`unknown library type ${String(unknownType)}`);
      }
    }
    if (filter.type !== undefined) key.push(`t=${filter.type}`);
    if (filter.folder !== undefined || filter.deviceId !== undefined) {
      // A place held now (gone_at IS NULL), found through locations_sha256.
      const inner = ['l.sha256 = a.sha256', 'l.gone_at IS NULL'];
      if (filter.folder !== undefined) {
        inner.push('l.folder = ?');
        params.push(filter.folder);
        key.push('f');
      }
      if (filter.deviceId !== undefined) {
        inner.push('l.device_id = ?');
        params.push(filter.deviceId);
        key.push('d');
      }
      clauses.push(`EXISTS (SELECT 1 FROM locations l WHERE ${inner.join(' AND ')})`);
    }
    if (filter.problems === true) {
      clauses.push(`(${hasBlobProblemSql} OR ${thinMetadataSql})`);
      key.push('p');
    }
    return { key: key.join(','), clauses, params };
  }

  /**
   * One page of the timeline after `cursor` (null: from the newest). Asks for `limit` rows;
   * the caller asks one more than it shows to learn whether another page exists.
   */
  page(filter: LibraryFilter, cursor: LibraryCursor | null, limit: number): LibraryRecord[] {
    const { key, clauses, params } = this.where(filter);
    const cacheKey = `${key}|${cursor === null ? 'first' : 'after'}`;
    let stmt = this.pages.get(cacheKey);
    if (stmt === undefined) {
      const all = cursor === null ? clauses : ['(a.taken_at, a.id) < (?, ?)', ...clauses];
      stmt = this.db.prepare<unknown[], LibraryRow>(
        `SELECT a.id, a.sha256, a.kind, a.mime, a.filename, a.size, a.taken_at, a.metadata,
                (SELECT c.state FROM asset_checks c
                  WHERE c.sha256 = a.sha256 AND c.state <> 'ok') AS blob_problem,
                g.group_id, g.role AS group_role,
                (SELECT group_concat(o.role) FROM group_members o
                  WHERE o.group_id = g.group_id AND o.sha256 <> a.sha256) AS member_roles
         FROM assets a INDEXED BY assets_timeline
         LEFT JOIN group_members g ON g.sha256 = a.sha256
         WHERE ${all.join(' AND ')}
         ORDER BY a.taken_at DESC, a.id DESC LIMIT ?`,
      );
      this.pages.set(cacheKey, stmt);
    }
    const args =
      cursor === null ? [...params, limit] : [cursor.takenAt, cursor.id, ...params, limit];
    const rows = stmt.all(...args);
    const folders = this.foldersOf(rows.map((r) => r.sha256));
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
  count(filter: LibraryFilter): number {
    const { key, clauses, params } = this.where(filter);
    let stmt = this.counts.get(key);
    if (stmt === undefined) {
      stmt = this.db.prepare<unknown[], { n: number }>(
        `SELECT COUNT(*) AS n FROM assets a WHERE ${clauses.join(' AND ')}`,
      );
      this.counts.set(key, stmt);
    }
    return stmt.get(...params)?.n ?? 0;
  }

  /** The folders (per device) that hold places now, with how many contents each holds. */
  folders(): { deviceId: string; deviceName: string; folder: string; assets: number }[] {
    return this.stmts.folders.all();
  }

  /** The folders each of these contents lives in now (one statement for the page). */
  private foldersOf(
    hashes: readonly string[],
  ): Map<string, { deviceId: string; deviceName: string; folder: string }[]> {
    const out = new Map<string, { deviceId: string; deviceName: string; folder: string }[]>();
    if (hashes.length === 0) return out;
    const rows = this.db
      .prepare<string[], { sha256: string; deviceId: string; deviceName: string; folder: string }>(
        `SELECT DISTINCT sha256, device_id AS deviceId, device_name AS deviceName, folder
         FROM locations WHERE gone_at IS NULL AND sha256 IN (${hashes.map(() => '?').join(',')})
         ORDER BY device_id, folder`,
      )
      .all(...hashes);
    for (const r of rows) {
      let list = out.get(r.sha256);
      if (list === undefined) out.set(r.sha256, (list = []));
      list.push({ deviceId: r.deviceId, deviceName: r.deviceName, folder: r.folder });
    }
    return out;
  }
}
