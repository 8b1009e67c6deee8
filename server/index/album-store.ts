// The albums tables (migration 0005): albums an import rebuilt and their members in order.
// SQL for them lives here and nowhere else; VaultIndex owns the connection and hands it in.
// Invariant: at most one album per (source, key), and a content is in an album at most once,
// so posting an album again (a re-run import) never makes a second one or a repeated member.
import type Database from 'better-sqlite3';

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
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      byKey: db.prepare<[string, string], AlbumRow>(
        `${SELECT_ALBUM} WHERE a.source = ? AND a.key = ?`,
      ),
      byId: db.prepare<[number], AlbumRow>(`${SELECT_ALBUM} WHERE a.id = ?`),
      all: db.prepare<[], AlbumRow>(`${SELECT_ALBUM} ORDER BY a.id`),
      insert: db.prepare<[string, string, string, string, number]>(
        'INSERT INTO albums (name, description, source, key, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      nextPosition: db.prepare<[number], { next: number }>(
        'SELECT COALESCE(MAX(position) + 1, 0) AS next FROM album_members WHERE album_id = ?',
      ),
      addMember: db.prepare<[number, string, number]>(
        'INSERT INTO album_members (album_id, sha256, position) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      members: db.prepare<[number], { sha256: string }>(
        'SELECT sha256 FROM album_members WHERE album_id = ? ORDER BY position',
      ),
    };
  }

  /**
   * The album of (source, key), made when absent, with `members` it lacks appended in order.
   * One transaction, synced before the answer (See [Note: Which commits are synced] in
   * vault-index.ts): the client is told the album exists.
   */
  upsert(
    album: { name: string; description: string; source: AlbumSource; key: string },
    members: readonly string[],
    at: number,
  ): { id: number; created: boolean; added: number } {
    this.db.pragma('synchronous = FULL');
    try {
      return this.insertOrExtend(album, members, at);
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  private insertOrExtend(
    album: { name: string; description: string; source: AlbumSource; key: string },
    members: readonly string[],
    at: number,
  ): { id: number; created: boolean; added: number } {
    return this.db.transaction(() => {
      let id = this.stmts.byKey.get(album.source, album.key)?.id;
      const created = id === undefined;
      if (id === undefined) {
        id = Number(
          this.stmts.insert.run(album.name, album.description, album.source, album.key, at)
            .lastInsertRowid,
        );
      }
      let position = this.stmts.nextPosition.get(id)?.next ?? 0;
      let added = 0;
      for (const sha256 of members) {
        if (this.stmts.addMember.run(id, sha256, position).changes === 1) {
          added++;
          position++;
        }
      }
      return { id, created, added };
    })();
  }

  get(id: number): AlbumRecord | undefined {
    const row = this.stmts.byId.get(id);
    return row ? toAlbum(row) : undefined;
  }

  list(): AlbumRecord[] {
    return this.stmts.all.all().map(toAlbum);
  }

  /** sha256 of each member, in album order. */
  members(id: number): string[] {
    return this.stmts.members.all(id).map((r) => r.sha256);
  }
}
