// The albums tables (migration 0005): albums an import rebuilt and their members in order.
// SQL for them lives here and nowhere else; VaultIndex owns the connection (the Sql port,
// sql.ts) and hands it in.
// Invariant: at most one album per (source, key), and a content is in an album at most once,
// so posting an album again (a re-run import) never makes a second one or a repeated member;
// a member is a content the vault holds when its transaction commits.
import { heldAmong } from './held-contents.js';
import type { Sql } from './sql.js';

export type AlbumSource = 'takeout' | 'icloud' | 'folder';

export interface AlbumRecord {
  id: number;
  name: string;
  description: string;
  source: AlbumSource;
  key: string;
  /** unix ms, vault clock */
  createdAt: number;
  memberCount: number;
}

interface AlbumRow {
  id: number;
  name: string;
  description: string;
  source: AlbumSource;
  key: string;
  created_at: number;
  member_count: number;
}

function toAlbum(r: AlbumRow): AlbumRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    source: r.source,
    key: r.key,
    createdAt: r.created_at,
    memberCount: r.member_count,
  };
}

const SELECT_ALBUM = `SELECT a.*, (SELECT COUNT(*) FROM album_members m WHERE m.album_id = a.id) AS member_count
  FROM albums a`;

export class AlbumStore {
  constructor(private readonly sql: Sql) {}

  /**
   * The album of (source, key), made when absent, with the `members` it lacks appended in
   * order; those the vault does not hold are left out and returned as `notHeld`. One
   * transaction (which held contents are is read in it, so none leaves between the check and
   * the insert), synced before the answer (See [Note: Which commits are synced] in
   * vault-index.ts): the client is told the album exists.
   */
  upsert(
    album: { name: string; description: string; source: AlbumSource; key: string },
    members: readonly string[],
    at: number,
  ): Promise<{ id: number; created: boolean; added: number; notHeld: string[] }> {
    return this.sql.transaction(
      async (tx) => {
        const held = await heldAmong(tx, members);
        let id = (
          await tx.get<{ id: number }>('SELECT id FROM albums WHERE source = ? AND key = ?', [
            album.source,
            album.key,
          ])
        )?.id;
        const created = id === undefined;
        if (id === undefined) {
          id = (
            await tx.get<{ id: number }>(
              `INSERT INTO albums (name, description, source, key, created_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, key) DO NOTHING RETURNING id`,
              [album.name, album.description, album.source, album.key, at],
            )
          )?.id;
          // None: a row a concurrent transaction committed, which PostgreSQL reports as a
          // serialization failure (retried) unless this one could see it, and it read none.
          if (id === undefined) throw new Error('inserting an album returned no id');
        }
        let position =
          (
            await tx.get<{ next: number }>(
              'SELECT COALESCE(MAX(position) + 1, 0) AS next FROM album_members WHERE album_id = ?',
              [id],
            )
          )?.next ?? 0;
        let added = 0;
        for (const sha256 of members) {
          if (!held.has(sha256)) continue;
          const inserted = await tx.run(
            `INSERT INTO album_members (album_id, sha256, position) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING`,
            [id, sha256, position],
          );
          if (inserted.changes === 1) {
            added++;
            position++;
          }
        }
        return { id, created, added, notHeld: members.filter((s) => !held.has(s)) };
      },
      { durable: true },
    );
  }

  async get(id: number): Promise<AlbumRecord | undefined> {
    const row = await this.sql.get<AlbumRow>(`${SELECT_ALBUM} WHERE a.id = ?`, [id]);
    return row ? toAlbum(row) : undefined;
  }

  /** An album and its members in album order, read in one transaction (they agree). */
  withMembers(id: number): Promise<{ album: AlbumRecord; members: string[] } | undefined> {
    return this.sql.transaction(async (tx) => {
      const row = await tx.get<AlbumRow>(`${SELECT_ALBUM} WHERE a.id = ?`, [id]);
      if (!row) return undefined;
      return { album: toAlbum(row), members: await membersIn(tx, id) };
    });
  }

  async list(): Promise<AlbumRecord[]> {
    return (await this.sql.all<AlbumRow>(`${SELECT_ALBUM} ORDER BY a.id`)).map(toAlbum);
  }

  /** sha256 of each member, in album order. */
  members(id: number): Promise<string[]> {
    return membersIn(this.sql, id);
  }
}

async function membersIn(tx: Sql, id: number): Promise<string[]> {
  const rows = await tx.all<{ sha256: string }>(
    'SELECT sha256 FROM album_members WHERE album_id = ? ORDER BY position',
    [id],
  );
  return rows.map((r) => r.sha256);
}
