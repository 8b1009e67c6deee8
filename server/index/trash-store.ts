// The trash table (migration 0014): contents a person moved out of the library, and the
// removal of a content an administrator's empty decided on. SQL for them lives here;
// VaultIndex owns the connection. Invariant: a content is in the trash at most once; moving
// a group's primary moves its whole asset group (its members are one asset to a person), and
// restoring any member restores them all.
import type Database from 'better-sqlite3';

export interface TrashRecord {
  sha256: string;
  filename: string;
  /** bytes */
  size: number;
  /** unix ms, vault clock */
  trashedAt: number;
  trashedBy: string | null;
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

export class TrashStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      // The content and, when it leads an asset group, every member of that group.
      withGroup: db.prepare<[string, string], { sha256: string }>(
        `SELECT a.sha256 FROM assets a WHERE a.sha256 = ?
         UNION
         SELECT m.sha256 FROM group_members p JOIN group_members m ON m.group_id = p.group_id
         WHERE p.sha256 = ? AND p.role = 'primary'`,
      ),
      // The content and every other member of its asset group (restore brings the asset back).
      wholeGroup: db.prepare<[string, string], { sha256: string }>(
        `SELECT ? AS sha256
         UNION
         SELECT m.sha256 FROM group_members p JOIN group_members m ON m.group_id = p.group_id
         WHERE p.sha256 = ?`,
      ),
      insert: db.prepare<[string, number, string | null]>(
        'INSERT INTO trash (sha256, trashed_at, trashed_by) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      remove: db.prepare<[string]>('DELETE FROM trash WHERE sha256 = ?'),
      list: db.prepare<[], TrashRecord>(
        `SELECT t.sha256, a.filename, a.size, t.trashed_at AS trashedAt, t.trashed_by AS trashedBy
         FROM trash t JOIN assets a ON a.sha256 = t.sha256 ORDER BY t.trashed_at, t.sha256`,
      ),
      livePlaces: db.prepare<[string], LivePlace>(
        `SELECT device_id AS deviceId, device_name AS deviceName, folder, path
         FROM locations WHERE sha256 = ? AND gone_at IS NULL ORDER BY id`,
      ),
      totals: db.prepare<[], { n: number; bytes: number }>(
        `SELECT COUNT(*) AS n, COALESCE(SUM(a.size), 0) AS bytes
         FROM trash t JOIN assets a ON a.sha256 = t.sha256`,
      ),
      // Removing a content from the index: every row that names it, except its places (their
      // history stays: See location-store.ts) and its upload records (they expire).
      forget: [
        'DELETE FROM trash WHERE sha256 = ?',
        'DELETE FROM previews WHERE sha256 = ?',
        'DELETE FROM similarity WHERE sha256 = ?',
        'DELETE FROM asset_checks WHERE sha256 = ?',
        'DELETE FROM album_members WHERE sha256 = ?',
        'DELETE FROM group_members WHERE sha256 = ?',
        'DELETE FROM assets WHERE sha256 = ?',
      ].map((sql) => db.prepare<[string]>(sql)),
      // A group left with fewer than two members, or without its primary, is no group.
      endBrokenGroups: db.prepare(
        `DELETE FROM groups WHERE id NOT IN (
           SELECT group_id FROM group_members GROUP BY group_id
           HAVING COUNT(*) >= 2 AND SUM(role = 'primary') = 1)`,
      ),
      endOrphanMembers: db.prepare(
        'DELETE FROM group_members WHERE group_id NOT IN (SELECT id FROM groups)',
      ),
    };
  }

  /**
   * Moves contents to the trash (a group's primary takes its whole asset group with it).
   * Returns what is in the trash now of what was asked, and what the vault does not hold.
   */
  move(
    hashes: readonly string[],
    at: number,
    by: string | null,
  ): { moved: string[]; unknown: string[] } {
    return this.db.transaction(() => {
      const moved = new Set<string>();
      const unknown: string[] = [];
      for (const h of hashes) {
        const all = this.stmts.withGroup.all(h, h).map((r) => r.sha256);
        if (!all.includes(h)) {
          unknown.push(h);
          continue;
        }
        for (const s of all) {
          this.stmts.insert.run(s, at, by);
          moved.add(s);
        }
      }
      return { moved: [...moved], unknown };
    })();
  }

  /** Takes contents out of the trash, each with its whole asset group; returns those taken. */
  restore(hashes: readonly string[]): string[] {
    return this.db.transaction(() => {
      const restored: string[] = [];
      for (const h of hashes) {
        for (const { sha256 } of this.stmts.wholeGroup.all(h, h)) {
          if (this.stmts.remove.run(sha256).changes === 1) restored.push(sha256);
        }
      }
      return restored;
    })();
  }

  /** Everything in the trash, oldest first. */
  list(): TrashRecord[] {
    return this.stmts.list.all();
  }

  totals(): { assets: number; bytes: number } {
    const t = this.stmts.totals.get();
    return { assets: t?.n ?? 0, bytes: t?.bytes ?? 0 };
  }

  /** Which of these contents are in the trash (one statement per chunk of 500). */
  trashedAmong(hashes: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (let i = 0; i < hashes.length; i += 500) {
      const chunk = hashes.slice(i, i + 500);
      const rows = this.db
        .prepare<string[], { sha256: string }>(
          `SELECT sha256 FROM trash WHERE sha256 IN (${chunk.map(() => '?').join(',')})`,
        )
        .all(...chunk);
      for (const r of rows) out.add(r.sha256);
    }
    return out;
  }

  /** The places devices hold this content at now. */
  livePlaces(sha256: string): LivePlace[] {
    return this.stmts.livePlaces.all(sha256);
  }

  /**
   * Forgets one trashed content from the index, in a transaction synced before the blob goes
   * (See [Note: What the trash answers] in ../trash.ts). False when it is not in the trash
   * (restored meanwhile): then nothing changed.
   */
  forget(sha256: string): boolean {
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(() => {
        const inTrash = this.trashedAmong([sha256]).has(sha256);
        if (!inTrash || this.livePlaces(sha256).length > 0) return false;
        for (const stmt of this.stmts.forget) stmt.run(sha256);
        this.stmts.endBrokenGroups.run();
        this.stmts.endOrphanMembers.run();
        return true;
      })();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }
}
