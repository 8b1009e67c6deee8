// The trash table (migration 0014): contents a person moved out of the library, and the
// removal of a content an administrator's empty decided on. SQL for them lives here;
// VaultIndex owns the connection. Invariant: a content is in the trash at most once; moving
// a group's primary moves its whole asset group (its members are one asset to a person), and
// restoring any member restores them all.
import type { Sql } from './sql.js';

export interface TrashRecord {
  sha256: string;
  filename: string;
  /** bytes */
  size: number;
  /** unix ms, vault clock */
  trashedAt: number;
  trashedBy: string | null;
  /** how many live places devices hold it at now (what keeps it from being removed) */
  livePlaces: number;
}

/** A live place of a content on a device (what keeps it from being removed). */
export interface LivePlace {
  deviceId: string;
  deviceName: string;
  folder: string;
  path: Buffer;
}

/** SQL: the asset `alias` is not in the trash. */
export const notTrashedSql = (alias: string) =>
  `NOT EXISTS (SELECT 1 FROM trash t WHERE t.sha256 = ${alias}.sha256)`;

// The content and, when it leads an asset group, every member of that group.
const WITH_GROUP = `SELECT a.sha256 FROM assets a WHERE a.sha256 = ?
  UNION
  SELECT m.sha256 FROM group_members p JOIN group_members m ON m.group_id = p.group_id
  WHERE p.sha256 = ? AND p.role = 'primary'`;
// The content and every other member of its asset group (restore brings the asset back).
// The CAST gives PostgreSQL the parameter's type, which a bare `?` in a UNION lacks.
const WHOLE_GROUP = `SELECT CAST(? AS TEXT) AS sha256
  UNION
  SELECT m.sha256 FROM group_members p JOIN group_members m ON m.group_id = p.group_id
  WHERE p.sha256 = ?`;
// Removing a content from the index: every row that names it, except its places (their
// history stays: See location-store.ts) and its upload records (they expire).
const FORGET = [
  'DELETE FROM trash WHERE sha256 = ?',
  'DELETE FROM previews WHERE sha256 = ?',
  'DELETE FROM similarity WHERE sha256 = ?',
  'DELETE FROM asset_checks WHERE sha256 = ?',
  'DELETE FROM album_members WHERE sha256 = ?',
  'DELETE FROM group_members WHERE sha256 = ?',
  'DELETE FROM assets WHERE sha256 = ?',
];
// A group left with fewer than two members, or without its primary, is no group. (CASE, not
// SUM(role = 'primary'): PostgreSQL does not sum booleans.)
const END_BROKEN_GROUPS = `DELETE FROM groups WHERE id NOT IN (
  SELECT group_id FROM group_members GROUP BY group_id
  HAVING COUNT(*) >= 2 AND SUM(CASE WHEN role = 'primary' THEN 1 ELSE 0 END) = 1)`;
const END_ORPHAN_MEMBERS =
  'DELETE FROM group_members WHERE group_id NOT IN (SELECT id FROM groups)';

interface TrashRow {
  sha256: string;
  filename: string;
  size: number;
  trashed_at: number;
  trashed_by: string | null;
  live_places: number;
}

interface PlaceRow {
  device_id: string;
  device_name: string;
  folder: string;
  path: Buffer;
}

export class TrashStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Moves contents to the trash (a group's primary takes its whole asset group with it).
   * Returns what is in the trash now of what was asked, and what the vault does not hold.
   */
  move(
    hashes: readonly string[],
    at: number,
    by: string | null,
  ): Promise<{ moved: string[]; unknown: string[] }> {
    return this.sql.transaction(async (tx) => {
      const moved = new Set<string>();
      const unknown: string[] = [];
      for (const h of hashes) {
        const all = (await tx.all<{ sha256: string }>(WITH_GROUP, [h, h])).map((r) => r.sha256);
        if (!all.includes(h)) {
          unknown.push(h);
          continue;
        }
        for (const s of all) {
          await tx.run(
            'INSERT INTO trash (sha256, trashed_at, trashed_by) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
            [s, at, by],
          );
          moved.add(s);
        }
      }
      return { moved: [...moved], unknown };
    });
  }

  /** Takes contents out of the trash, each with its whole asset group; returns those taken. */
  restore(hashes: readonly string[]): Promise<string[]> {
    return this.sql.transaction(async (tx) => {
      const restored: string[] = [];
      for (const h of hashes) {
        for (const { sha256 } of await tx.all<{ sha256: string }>(WHOLE_GROUP, [h, h])) {
          const { changes } = await tx.run('DELETE FROM trash WHERE sha256 = ?', [sha256]);
          if (changes === 1) restored.push(sha256);
        }
      }
      return restored;
    });
  }

  /** Everything in the trash, oldest first, each with how many live places hold it. */
  async list(): Promise<TrashRecord[]> {
    const rows = await this.sql.all<TrashRow>(
      `SELECT t.sha256, a.filename, a.size, t.trashed_at, t.trashed_by,
              (SELECT COUNT(*) FROM locations l WHERE l.sha256 = t.sha256 AND l.gone_at IS NULL)
                AS live_places
       FROM trash t JOIN assets a ON a.sha256 = t.sha256 ORDER BY t.trashed_at, t.sha256`,
    );
    return rows.map((r) => ({
      sha256: r.sha256,
      filename: r.filename,
      size: r.size,
      trashedAt: r.trashed_at,
      trashedBy: r.trashed_by,
      livePlaces: r.live_places,
    }));
  }

  async totals(): Promise<{ assets: number; bytes: number }> {
    const t = await this.sql.get<{ n: number; bytes: number }>(
      `SELECT COUNT(*) AS n, COALESCE(SUM(a.size), 0) AS bytes
       FROM trash t JOIN assets a ON a.sha256 = t.sha256`,
    );
    return { assets: t?.n ?? 0, bytes: t?.bytes ?? 0 };
  }

  /** Which of these contents are in the trash (one statement per chunk of 500). */
  async trashedAmong(hashes: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < hashes.length; i += 500) {
      const chunk = hashes.slice(i, i + 500);
      const rows = await this.sql.all<{ sha256: string }>(
        `SELECT sha256 FROM trash WHERE sha256 IN (${chunk.map(() => '?').join(',')})`,
        chunk,
      );
      for (const r of rows) out.add(r.sha256);
    }
    return out;
  }

  /** The places devices hold this content at now. */
  livePlaces(sha256: string): Promise<LivePlace[]> {
    return livePlaces(this.sql, sha256);
  }

  /**
   * Forgets one trashed content from the index, in ONE transaction synced before the blob goes
   * (See [Note: What the trash answers] in ../trash.ts), that checks again what the empty
   * decided on: it is still in the trash, was put there no later than `latestTrashedAt` (the
   * empty's now minus the retention: one restored and trashed again since has a new
   * retention), and no device holds a live place of it. False when one of those no longer
   * holds: then nothing changed.
   */
  forget(sha256: string, latestTrashedAt: number): Promise<boolean> {
    return this.sql.transaction(
      async (tx) => {
        const row = await tx.get<{ trashed_at: number }>(
          'SELECT trashed_at FROM trash WHERE sha256 = ?',
          [sha256],
        );
        if (row === undefined || row.trashed_at > latestTrashedAt) return false;
        if ((await livePlaces(tx, sha256)).length > 0) return false;
        for (const statement of FORGET) await tx.run(statement, [sha256]);
        await tx.run(END_BROKEN_GROUPS);
        await tx.run(END_ORPHAN_MEMBERS);
        return true;
      },
      { durable: true },
    );
  }
}

async function livePlaces(sql: Sql, sha256: string): Promise<LivePlace[]> {
  const rows = await sql.all<PlaceRow>(
    `SELECT device_id, device_name, folder, path
     FROM locations WHERE sha256 = ? AND gone_at IS NULL ORDER BY id`,
    [sha256],
  );
  return rows.map((r) => ({
    deviceId: r.device_id,
    deviceName: r.device_name,
    folder: r.folder,
    path: r.path,
  }));
}
