// The locations table (migration 0002): every place a client holds each content, with its
// history. SQL for it lives here and nowhere else; VaultIndex owns the connection and hands
// it in. Invariant: at most one live row (gone_at IS NULL) per (device, folder, path), and no
// row is ever deleted: a client can only add places and mark them gone (backup, not sync).
import type Database from 'better-sqlite3';

export interface NewLocation {
  sha256: string;
  folder: string;
  /** raw bytes of the path inside the folder */
  path: Buffer;
  size: number;
  mtimeMs: number | null;
}

export interface LocationRecord extends NewLocation {
  id: number;
  deviceId: string;
  deviceName: string;
  /** unix ms, vault clock */
  firstSeen: number;
  lastSeen: number;
  goneAt: number | null;
}

/** What happened to one registered location. */
export type RegisterOutcome =
  | { ok: true; change: 'added' | 'seen' | 'replaced' }
  | { ok: false; error: 'not_held' | 'size_mismatch'; message: string };

export interface LocationFilter {
  /** every place of one content */
  sha256?: string;
  deviceId?: string;
  folder?: string;
  /** raw bytes the path must start with */
  prefix?: Buffer;
  /** unix ms: the locations live at that moment; without it, the live ones now */
  at?: number;
  /** every row, gone ones too (ignored when `at` is given) */
  includeGone?: boolean;
}

export interface DeviceUsage {
  deviceId: string;
  deviceName: string;
  /** live locations on the device */
  files: number;
  /** their bytes, counting a content once per place */
  bytes: number;
}

interface LocationRow {
  id: number;
  sha256: string;
  device_id: string;
  device_name: string;
  folder: string;
  path: Buffer;
  size: number;
  mtime_ms: number | null;
  first_seen: number;
  last_seen: number;
  gone_at: number | null;
}

function toLocation(r: LocationRow): LocationRecord {
  return {
    id: r.id,
    sha256: r.sha256,
    deviceId: r.device_id,
    deviceName: r.device_name,
    folder: r.folder,
    path: r.path,
    size: r.size,
    mtimeMs: r.mtime_ms,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    goneAt: r.gone_at,
  };
}

export class LocationStore {
  private readonly stmts;
  private readonly pageStatements = new Map<string, Database.Statement<unknown[], LocationRow>>();

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      assetSize: db.prepare<[string], { size: number }>('SELECT size FROM assets WHERE sha256 = ?'),
      live: db.prepare<[string, string, Buffer], { id: number; sha256: string }>(
        `SELECT id, sha256 FROM locations
         WHERE device_id = ? AND folder = ? AND path = ? AND gone_at IS NULL`,
      ),
      // A place first registered with the admin token is adopted by the device token that
      // registers it next (setups that moved to device tokens); a device's own stays its own.
      seen: db.prepare<[string, number, number | null, number, string | null, number]>(
        `UPDATE locations SET device_name = ?, size = ?, mtime_ms = ?, last_seen = ?,
           vault_device = coalesce(?, vault_device) WHERE id = ?`,
      ),
      markGone: db.prepare<[number, number]>(
        'UPDATE locations SET gone_at = ? WHERE id = ? AND gone_at IS NULL',
      ),
      insert: db.prepare(
        `INSERT INTO locations
           (sha256, device_id, device_name, folder, path, size, mtime_ms, first_seen, last_seen,
            vault_device)
         VALUES (@sha256, @deviceId, @deviceName, @folder, @path, @size, @mtimeMs, @at, @at,
            @vaultDevice)`,
      ),
      // Whether another device's token registered places under this client device id.
      claimedByOther: db.prepare<[string, string], { one: number }>(
        `SELECT 1 AS one FROM locations
         WHERE device_id = ? AND vault_device IS NOT NULL AND vault_device <> ? LIMIT 1`,
      ),
      // Bytes of every live place of a content beyond its first: what dedup saved.
      dedupSaved: db.prepare<[], { bytes: number; places: number }>(
        `SELECT COALESCE(SUM((n - 1) * size), 0) AS bytes, COALESCE(SUM(n), 0) AS places FROM (
           SELECT COUNT(*) AS n, a.size AS size FROM locations l
           JOIN assets a ON a.sha256 = l.sha256
           WHERE l.gone_at IS NULL GROUP BY l.sha256)`,
      ),
      // The bare device_name is taken from the row with MAX(last_seen) (SQLite's min/max rule).
      byDevice: db.prepare<
        [],
        { device_id: string; device_name: string; files: number; bytes: number; seen: number }
      >(
        `SELECT device_id, device_name, MAX(last_seen) AS seen, COUNT(*) AS files,
                COALESCE(SUM(size), 0) AS bytes
         FROM locations WHERE gone_at IS NULL GROUP BY device_id ORDER BY device_id`,
      ),
    };
  }

  /**
   * Registers a device's locations in one durable transaction, in order. A content the vault
   * does not hold (or whose size differs) is refused for that item only. `vaultDevice` is the
   * devices row whose token sent them (null: the admin token).
   */
  register(
    device: { id: string; name: string; vaultDevice?: string | null },
    items: readonly NewLocation[],
    at: number,
  ): RegisterOutcome[] {
    return this.durably(() =>
      this.db.transaction(() =>
        items.map((item): RegisterOutcome => {
          const held = this.stmts.assetSize.get(item.sha256);
          if (!held) {
            return {
              ok: false,
              error: 'not_held',
              message: 'the vault holds no content with this sha256: upload it first',
            };
          }
          if (held.size !== item.size) {
            return {
              ok: false,
              error: 'size_mismatch',
              message: `the vault's content with this sha256 is ${held.size} bytes, not ${item.size}`,
            };
          }
          const live = this.stmts.live.get(device.id, item.folder, item.path);
          if (live?.sha256 === item.sha256) {
            this.stmts.seen.run(
              device.name,
              item.size,
              item.mtimeMs,
              at,
              device.vaultDevice ?? null,
              live.id,
            );
            return { ok: true, change: 'seen' };
          }
          if (live) this.stmts.markGone.run(at, live.id);
          this.stmts.insert.run({
            sha256: item.sha256,
            deviceId: device.id,
            deviceName: device.name,
            folder: item.folder,
            path: item.path,
            size: item.size,
            mtimeMs: item.mtimeMs,
            at,
            vaultDevice: device.vaultDevice ?? null,
          });
          return { ok: true, change: live ? 'replaced' : 'added' };
        }),
      )(),
    );
  }

  /**
   * Marks live locations gone (when `sha256` is given, only if the place still holds that
   * content). Returns, per item, whether a live location was marked.
   */
  markGone(
    deviceId: string,
    items: readonly { folder: string; path: Buffer; sha256?: string }[],
    at: number,
  ): boolean[] {
    return this.durably(() =>
      this.db.transaction(() =>
        items.map((item) => {
          const live = this.stmts.live.get(deviceId, item.folder, item.path);
          if (!live || (item.sha256 !== undefined && item.sha256 !== live.sha256)) return false;
          return this.stmts.markGone.run(at, live.id).changes === 1;
        }),
      )(),
    );
  }

  /** Locations matching the filter with id > afterId, in registration order. */
  page(filter: LocationFilter, afterId: number, limit: number): LocationRecord[] {
    const where = ['id > @afterId'];
    if (filter.sha256 !== undefined) where.push('sha256 = @sha256');
    if (filter.deviceId !== undefined) where.push('device_id = @deviceId');
    if (filter.folder !== undefined) where.push('folder = @folder');
    if (filter.prefix !== undefined && filter.prefix.length > 0) {
      where.push('substr(path, 1, @prefixLength) = @prefix');
    }
    if (filter.at !== undefined)
      where.push('first_seen <= @at AND (gone_at IS NULL OR gone_at > @at)');
    else if (filter.includeGone !== true) where.push('gone_at IS NULL');
    const sql = `SELECT * FROM locations WHERE ${where.join(' AND ')} ORDER BY id LIMIT @limit`;
    let stmt = this.pageStatements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<unknown[], LocationRow>(sql);
      this.pageStatements.set(sql, stmt);
    }
    const params: Record<string, unknown> = { afterId, limit };
    if (filter.sha256 !== undefined) params.sha256 = filter.sha256;
    if (filter.deviceId !== undefined) params.deviceId = filter.deviceId;
    if (filter.folder !== undefined) params.folder = filter.folder;
    if (filter.prefix !== undefined && filter.prefix.length > 0) {
      params.prefix = filter.prefix;
      params.prefixLength = filter.prefix.length;
    }
    if (filter.at !== undefined) params.at = filter.at;
    return stmt.all(params).map(toLocation);
  }

  /**
   * True when places under this client device id were registered with another device's
   * token: a device token may not register or mark gone in another device's name.
   */
  claimedByOtherDevice(deviceId: string, vaultDevice: string): boolean {
    return this.stmts.claimedByOther.get(deviceId, vaultDevice) !== undefined;
  }

  /** Bytes dedup saves across the live locations, and how many live locations there are. */
  dedupSaved(): { bytes: number; places: number } {
    return this.stmts.dedupSaved.get() ?? { bytes: 0, places: 0 };
  }

  byDevice(): DeviceUsage[] {
    return this.stmts.byDevice.all().map((r) => ({
      deviceId: r.device_id,
      deviceName: r.device_name,
      files: r.files,
      bytes: r.bytes,
    }));
  }

  /** A client is told its locations are recorded right after this commit: survive power loss. */
  private durably<T>(commit: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return commit();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }
}
