// The devices and enrolments tables (migration 0009): the vault's own record of each device
// token, its latest heartbeat, and the one-time enrolment codes. SQL for them lives here and
// nowhere else; VaultIndex owns the connection (the Sql port, sql.ts) and hands it in.
// Invariant: only SHA-256 digests of tokens and codes are stored, never the secrets; a
// revoked row is kept (its uploads and places keep naming it) and never becomes live again;
// live names are unique and an enrolment code makes at most one device, whatever runs
// between the calls (See [Note: Device rules are one transaction]).
//
// [Note: Device rules are one transaction]
// Each rule that reads and then writes is one method and one transaction: "no live device
// has this name, so add it" (add, rename, enrol's numbering), "this code is unused, so
// use it" (enrol), "this device is live, so revoke it / record its heartbeat". With several
// vault nodes on one PostgreSQL, two nodes may run the same rule at once; SERIALIZABLE
// aborts one and the driver runs its work again, so the work only touches the index and
// takes every value it writes (ids, token digests) from its arguments: running it twice
// writes the same rows. Inserts under a uniqueness rule say ON CONFLICT DO NOTHING and
// look at `changes`: a conflict PostgreSQL could not order is then a retried serialization
// failure, never a unique-violation error, and a conflict with a visible row is an answer.
import type { Sql } from './sql.js';

export interface DeviceRecord {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
  lastSeenAt: number | null;
  lastBackupAt: number | null;
  heartbeatAt: number | null;
  /** the latest heartbeat as sent (JSON text), null before the first */
  heartbeat: string | null;
}

export interface DeviceSafeTotals {
  /** live places the device registered with its own token */
  files: number;
  bytes: number;
}

interface DeviceRow {
  id: string;
  name: string;
  token_sha256: Buffer;
  created_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
  last_backup_at: number | null;
  heartbeat_at: number | null;
  heartbeat: string | null;
}

interface EnrolmentRow {
  code_sha256: Buffer;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  device_id: string | null;
}

function toDevice(r: DeviceRow): DeviceRecord {
  return {
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    lastSeenAt: r.last_seen_at,
    lastBackupAt: r.last_backup_at,
    heartbeatAt: r.heartbeat_at,
    heartbeat: r.heartbeat,
  };
}

export type EnrolmentOutcome =
  { ok: true; device: DeviceRecord } | { ok: false; reason: 'unknown' | 'used' | 'expired' };

const BY_ID = 'SELECT * FROM devices WHERE id = ?';
const LIVE_BY_NAME = 'SELECT * FROM devices WHERE name = ? AND revoked_at IS NULL';

async function byIdIn(tx: Sql, id: string): Promise<DeviceRecord | undefined> {
  const row = await tx.get<DeviceRow>(BY_ID, [id]);
  return row ? toDevice(row) : undefined;
}

async function liveByNameIn(tx: Sql, name: string): Promise<DeviceRecord | undefined> {
  const row = await tx.get<DeviceRow>(LIVE_BY_NAME, [name]);
  return row ? toDevice(row) : undefined;
}

/** Inserts a live device; false when a live device has the name (See [Note: Device rules are one transaction]). */
async function insertDevice(
  tx: Sql,
  d: { id: string; name: string; tokenSha256: Buffer; at: number },
): Promise<boolean> {
  const inserted = await tx.run(
    `INSERT INTO devices (id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING`,
    [d.id, d.name, d.tokenSha256, d.at],
  );
  return inserted.changes === 1;
}

export class DeviceStore {
  constructor(private readonly sql: Sql) {}

  /** Adds a live device, or answers 'name_taken' when a live device has the name. */
  add(d: {
    id: string;
    name: string;
    tokenSha256: Buffer;
    at: number;
  }): Promise<DeviceRecord | 'name_taken'> {
    return this.sql.transaction(async (tx) => {
      if ((await liveByNameIn(tx, d.name)) !== undefined) return 'name_taken';
      if (!(await insertDevice(tx, d))) return 'name_taken';
      return (await byIdIn(tx, d.id))!;
    });
  }

  byId(id: string): Promise<DeviceRecord | undefined> {
    return byIdIn(this.sql, id);
  }

  /** The device whose token hashes to this digest, revoked or not. */
  async byTokenHash(digest: Buffer): Promise<(DeviceRecord & { tokenSha256: Buffer }) | undefined> {
    const row = await this.sql.get<DeviceRow>('SELECT * FROM devices WHERE token_sha256 = ?', [
      digest,
    ]);
    return row ? { ...toDevice(row), tokenSha256: row.token_sha256 } : undefined;
  }

  liveByName(name: string): Promise<DeviceRecord | undefined> {
    return liveByNameIn(this.sql, name);
  }

  async list(): Promise<DeviceRecord[]> {
    return (await this.sql.all<DeviceRow>('SELECT * FROM devices ORDER BY created_at, id')).map(
      toDevice,
    );
  }

  /** Revokes the live device of this name: the revoked record, or undefined when none. */
  revokeByName(name: string, at: number): Promise<DeviceRecord | undefined> {
    return this.sql.transaction(async (tx) => {
      const device = await liveByNameIn(tx, name);
      if (!device) return undefined;
      await tx.run('UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [
        at,
        device.id,
      ]);
      return (await byIdIn(tx, device.id))!;
    });
  }

  /**
   * Renames the live device `oldName`: the renamed record, 'not_found' when no live device
   * has that name, 'name_taken' when another live device has the new one.
   */
  renameLive(oldName: string, newName: string): Promise<DeviceRecord | 'not_found' | 'name_taken'> {
    return this.sql.transaction(async (tx) => {
      const device = await liveByNameIn(tx, oldName);
      if (!device) return 'not_found';
      if (oldName !== newName && (await liveByNameIn(tx, newName)) !== undefined) {
        return 'name_taken';
      }
      await tx.run('UPDATE devices SET name = ? WHERE id = ?', [newName, device.id]);
      return (await byIdIn(tx, device.id))!;
    });
  }

  /** Moves last_seen_at of a live device (a revoked one is no longer seen). */
  async markSeen(id: string, at: number): Promise<void> {
    await this.sql.run('UPDATE devices SET last_seen_at = ? WHERE id = ? AND revoked_at IS NULL', [
      at,
      id,
    ]);
  }

  /**
   * Records a live device's heartbeat and, when it reports a completed backup, moves
   * last_backup_at forward (never back), in one transaction. False when the device is
   * revoked (or unknown): a heartbeat that arrives after its device was revoked is refused,
   * not kept.
   */
  recordHeartbeat(
    id: string,
    json: string,
    at: number,
    backupCompletedAt: number | null,
  ): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      const beat = await tx.run(
        `UPDATE devices SET heartbeat_at = @at, heartbeat = @json, last_seen_at = @at
         WHERE id = @id AND revoked_at IS NULL`,
        { at, json, id },
      );
      if (beat.changes !== 1) return false;
      if (backupCompletedAt !== null) {
        await tx.run(
          `UPDATE devices SET last_backup_at = @backup
           WHERE id = @id AND (last_backup_at IS NULL OR last_backup_at < @backup)`,
          { backup: backupCompletedAt, id },
        );
      }
      return true;
    });
  }

  async safeTotals(id: string): Promise<DeviceSafeTotals> {
    const row = await this.sql.get<{ files: number; bytes: number | null }>(
      `SELECT count(*) AS files, sum(size) AS bytes FROM locations
       WHERE vault_device = ? AND gone_at IS NULL`,
      [id],
    );
    return { files: row?.files ?? 0, bytes: row?.bytes ?? 0 };
  }

  /** safeTotals of every device that has live places, in one statement. */
  async safeTotalsByDevice(): Promise<Map<string, DeviceSafeTotals>> {
    const rows = await this.sql.all<{ vault_device: string; files: number; bytes: number | null }>(
      `SELECT vault_device, count(*) AS files, sum(size) AS bytes FROM locations
       WHERE vault_device IS NOT NULL AND gone_at IS NULL GROUP BY vault_device`,
    );
    return new Map(rows.map((r) => [r.vault_device, { files: r.files, bytes: r.bytes ?? 0 }]));
  }

  async addEnrolment(codeSha256: Buffer, at: number, expiresAt: number): Promise<void> {
    await this.sql.run(
      'INSERT INTO enrolments (code_sha256, created_at, expires_at) VALUES (?, ?, ?)',
      [codeSha256, at, expiresAt],
    );
  }

  /**
   * Exchanges an enrolment code for a new device, in one transaction: a code is used at most
   * once even when two clients (or two vault nodes) present it at the same moment. The name
   * asked for is numbered when a live device has it ("laptop (2)"), in the same transaction.
   */
  enrol(
    codeSha256: Buffer,
    at: number,
    device: { id: string; name: string; tokenSha256: Buffer },
  ): Promise<EnrolmentOutcome> {
    return this.sql.transaction(async (tx): Promise<EnrolmentOutcome> => {
      const row = await tx.get<EnrolmentRow>('SELECT * FROM enrolments WHERE code_sha256 = ?', [
        codeSha256,
      ]);
      if (!row) return { ok: false, reason: 'unknown' };
      if (row.used_at !== null) return { ok: false, reason: 'used' };
      if (at > row.expires_at) return { ok: false, reason: 'expired' };
      // The conditional update, not the read above, is what uses the code.
      const used = await tx.run(
        'UPDATE enrolments SET used_at = ?, device_id = ? WHERE code_sha256 = ? AND used_at IS NULL',
        [at, device.id, codeSha256],
      );
      if (used.changes !== 1) return { ok: false, reason: 'used' };
      for (let n = 1; ; n++) {
        const name = n === 1 ? device.name : `${device.name} (${n})`;
        if ((await liveByNameIn(tx, name)) !== undefined) continue;
        if (await insertDevice(tx, { ...device, name, at })) break;
      }
      return { ok: true, device: (await byIdIn(tx, device.id))! };
    });
  }
}
