// The locations table (migration 0002): every place a client holds each content, with its
// history. SQL for it lives here and nowhere else; VaultIndex owns the connection (the Sql
// port, sql.ts) and hands it in. Invariant: at most one live row (gone_at IS NULL) per
// (device, folder, path), and no row is ever deleted: a client can only add places and mark
// them gone (backup, not sync). A device token's registrations and marks are checked against
// the places other device tokens registered in the same transaction that writes them.
import type { Sql } from './sql.js';

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

/** Refused whole: another device's token registered places under this client device id. */
export const OTHER_DEVICE = 'other_device';

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

const LIVE = `SELECT id, sha256 FROM locations
  WHERE device_id = ? AND folder = ? AND path = ? AND gone_at IS NULL`;
const MARK_GONE = 'UPDATE locations SET gone_at = ? WHERE id = ? AND gone_at IS NULL';

/**
 * True when places under this client device id were registered with another device's
 * token: a device token may not register or mark gone in another device's name.
 */
async function claimedByOther(tx: Sql, deviceId: string, vaultDevice: string): Promise<boolean> {
  const row = await tx.get(
    `SELECT 1 AS one FROM locations
     WHERE device_id = ? AND vault_device IS NOT NULL AND vault_device <> ? LIMIT 1`,
    [deviceId, vaultDevice],
  );
  return row !== undefined;
}

export class LocationStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Registers a device's locations in one durable transaction, in order. A content the vault
   * does not hold (or whose size differs) is refused for that item only. `vaultDevice` is the
   * devices row whose token sent them (null: the admin token); OTHER_DEVICE, nothing
   * written, when another device's token registered places under `device.id`.
   */
  register(
    device: { id: string; name: string; vaultDevice?: string | null },
    items: readonly NewLocation[],
    at: number,
  ): Promise<RegisterOutcome[] | typeof OTHER_DEVICE> {
    const vaultDevice = device.vaultDevice ?? null;
    return this.sql.transaction(
      async (tx) => {
        if (vaultDevice !== null && (await claimedByOther(tx, device.id, vaultDevice))) {
          return OTHER_DEVICE;
        }
        const outcomes: RegisterOutcome[] = [];
        for (const item of items)
          outcomes.push(await registerOne(tx, device, vaultDevice, item, at));
        return outcomes;
      },
      { durable: true },
    );
  }

  /**
   * Marks live locations gone (when `sha256` is given, only if the place still holds that
   * content). Returns, per item, whether a live location was marked; OTHER_DEVICE, nothing
   * marked, when `vaultDevice` is a device token and another device's token registered
   * places under `deviceId`.
   */
  markGone(
    deviceId: string,
    items: readonly { folder: string; path: Buffer; sha256?: string }[],
    at: number,
    vaultDevice: string | null = null,
  ): Promise<boolean[] | typeof OTHER_DEVICE> {
    return this.sql.transaction(
      async (tx) => {
        if (vaultDevice !== null && (await claimedByOther(tx, deviceId, vaultDevice))) {
          return OTHER_DEVICE;
        }
        const marked: boolean[] = [];
        for (const item of items) {
          const live = await tx.get<{ id: number; sha256: string }>(LIVE, [
            deviceId,
            item.folder,
            item.path,
          ]);
          if (!live || (item.sha256 !== undefined && item.sha256 !== live.sha256)) {
            marked.push(false);
            continue;
          }
          marked.push((await tx.run(MARK_GONE, [at, live.id])).changes === 1);
        }
        return marked;
      },
      { durable: true },
    );
  }

  /** Locations matching the filter with id > afterId, in registration order. */
  async page(filter: LocationFilter, afterId: number, limit: number): Promise<LocationRecord[]> {
    const where = ['id > @afterId'];
    if (filter.sha256 !== undefined) where.push('sha256 = @sha256');
    if (filter.deviceId !== undefined) where.push('device_id = @deviceId');
    if (filter.folder !== undefined) where.push('folder = @folder');
    if (filter.prefix !== undefined && filter.prefix.length > 0) {
      // substr of a BLOB (SQLite) or a bytea (PostgreSQL) is bytes in both.
      where.push('substr(path, 1, @prefixLength) = @prefix');
    }
    if (filter.at !== undefined)
      where.push('first_seen <= @at AND (gone_at IS NULL OR gone_at > @at)');
    else if (filter.includeGone !== true) where.push('gone_at IS NULL');
    const text = `SELECT * FROM locations WHERE ${where.join(' AND ')} ORDER BY id LIMIT @limit`;
    const params: Record<string, unknown> = { afterId, limit };
    if (filter.sha256 !== undefined) params.sha256 = filter.sha256;
    if (filter.deviceId !== undefined) params.deviceId = filter.deviceId;
    if (filter.folder !== undefined) params.folder = filter.folder;
    if (filter.prefix !== undefined && filter.prefix.length > 0) {
      params.prefix = filter.prefix;
      params.prefixLength = filter.prefix.length;
    }
    if (filter.at !== undefined) params.at = filter.at;
    return (await this.sql.all<LocationRow>(text, params)).map(toLocation);
  }

  /** Bytes dedup saves across the live locations, and how many live locations there are. */
  async dedupSaved(): Promise<{ bytes: number; places: number }> {
    // Bytes of every live place of a content beyond its first: what dedup saved.
    const row = await this.sql.get<{ bytes: number; places: number }>(
      `SELECT COALESCE(SUM((n - 1) * size), 0) AS bytes, COALESCE(SUM(n), 0) AS places FROM (
         SELECT COUNT(*) AS n, a.size AS size FROM locations l
         JOIN assets a ON a.sha256 = l.sha256
         WHERE l.gone_at IS NULL GROUP BY l.sha256, a.size) AS per_content`,
    );
    return row ?? { bytes: 0, places: 0 };
  }

  async byDevice(): Promise<DeviceUsage[]> {
    // The name is the latest registration's, asked of that row: a bare column beside MAX()
    // is SQLite's rule only, PostgreSQL refuses it.
    const rows = await this.sql.all<{
      device_id: string;
      device_name: string;
      files: number;
      bytes: number;
    }>(
      `SELECT l.device_id,
              (SELECT n.device_name FROM locations n
               WHERE n.device_id = l.device_id AND n.gone_at IS NULL
               ORDER BY n.last_seen DESC, n.id DESC LIMIT 1) AS device_name,
              COUNT(*) AS files, COALESCE(SUM(l.size), 0) AS bytes
       FROM locations l WHERE l.gone_at IS NULL GROUP BY l.device_id ORDER BY l.device_id`,
    );
    return rows.map((r) => ({
      deviceId: r.device_id,
      deviceName: r.device_name,
      files: r.files,
      bytes: r.bytes,
    }));
  }
}

async function registerOne(
  tx: Sql,
  device: { id: string; name: string },
  vaultDevice: string | null,
  item: NewLocation,
  at: number,
): Promise<RegisterOutcome> {
  const held = await tx.get<{ size: number }>('SELECT size FROM assets WHERE sha256 = ?', [
    item.sha256,
  ]);
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
  const live = await tx.get<{ id: number; sha256: string }>(LIVE, [
    device.id,
    item.folder,
    item.path,
  ]);
  if (live?.sha256 === item.sha256) {
    // A place first registered with the admin token is adopted by the device token that
    // registers it next (setups that moved to device tokens); a device's own stays its own.
    await tx.run(
      `UPDATE locations SET device_name = ?, size = ?, mtime_ms = ?, last_seen = ?,
         vault_device = coalesce(?, vault_device) WHERE id = ?`,
      [device.name, item.size, item.mtimeMs, at, vaultDevice, live.id],
    );
    return { ok: true, change: 'seen' };
  }
  if (live) await tx.run(MARK_GONE, [at, live.id]);
  await tx.run(
    `INSERT INTO locations
       (sha256, device_id, device_name, folder, path, size, mtime_ms, first_seen, last_seen,
        vault_device)
     VALUES (@sha256, @deviceId, @deviceName, @folder, @path, @size, @mtimeMs, @at, @at,
        @vaultDevice)`,
    {
      sha256: item.sha256,
      deviceId: device.id,
      deviceName: device.name,
      folder: item.folder,
      path: item.path,
      size: item.size,
      mtimeMs: item.mtimeMs,
      at,
      vaultDevice,
    },
  );
  return { ok: true, change: live ? 'replaced' : 'added' };
}
