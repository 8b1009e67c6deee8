// The devices and enrolments tables (migration 0009): the vault's own record of each device
// token, its latest heartbeat, and the one-time enrolment codes. SQL for them lives here and
// nowhere else; VaultIndex owns the connection and hands it in.
// Invariant: only SHA-256 digests of tokens and codes are stored, never the secrets; a
// revoked row is kept (its uploads and places keep naming it) and never becomes live again.
import type Database from 'better-sqlite3';

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

export class DeviceStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      insert: db.prepare<[string, string, Buffer, number]>(
        'INSERT INTO devices (id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)',
      ),
      byTokenHash: db.prepare<[Buffer], DeviceRow>('SELECT * FROM devices WHERE token_sha256 = ?'),
      byId: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE id = ?'),
      liveByName: db.prepare<[string], DeviceRow>(
        'SELECT * FROM devices WHERE name = ? AND revoked_at IS NULL',
      ),
      all: db.prepare<[], DeviceRow>('SELECT * FROM devices ORDER BY created_at, id'),
      revoke: db.prepare<[number, string]>(
        'UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
      ),
      rename: db.prepare<[string, string]>('UPDATE devices SET name = ? WHERE id = ?'),
      seen: db.prepare<[number, string]>('UPDATE devices SET last_seen_at = ? WHERE id = ?'),
      heartbeat: db.prepare<[number, string, number, string]>(
        'UPDATE devices SET heartbeat_at = ?, heartbeat = ?, last_seen_at = ? WHERE id = ?',
      ),
      backedUp: db.prepare<[number, string]>(
        'UPDATE devices SET last_backup_at = max(coalesce(last_backup_at, 0), ?) WHERE id = ?',
      ),
      safe: db.prepare<[string], { files: number; bytes: number | null }>(
        `SELECT count(*) AS files, sum(size) AS bytes FROM locations
         WHERE vault_device = ? AND gone_at IS NULL`,
      ),
      insertEnrolment: db.prepare<[Buffer, number, number]>(
        'INSERT INTO enrolments (code_sha256, created_at, expires_at) VALUES (?, ?, ?)',
      ),
      enrolment: db.prepare<[Buffer], EnrolmentRow>(
        'SELECT * FROM enrolments WHERE code_sha256 = ?',
      ),
      useEnrolment: db.prepare<[number, string, Buffer]>(
        'UPDATE enrolments SET used_at = ?, device_id = ? WHERE code_sha256 = ? AND used_at IS NULL',
      ),
    };
  }

  add(d: { id: string; name: string; tokenSha256: Buffer; at: number }): DeviceRecord {
    this.stmts.insert.run(d.id, d.name, d.tokenSha256, d.at);
    return this.byId(d.id)!;
  }

  byId(id: string): DeviceRecord | undefined {
    const row = this.stmts.byId.get(id);
    return row ? toDevice(row) : undefined;
  }

  /** The device whose token hashes to this digest, revoked or not. */
  byTokenHash(digest: Buffer): (DeviceRecord & { tokenSha256: Buffer }) | undefined {
    const row = this.stmts.byTokenHash.get(digest);
    return row ? { ...toDevice(row), tokenSha256: row.token_sha256 } : undefined;
  }

  liveByName(name: string): DeviceRecord | undefined {
    const row = this.stmts.liveByName.get(name);
    return row ? toDevice(row) : undefined;
  }

  list(): DeviceRecord[] {
    return this.stmts.all.all().map(toDevice);
  }

  /** False when no live device has this id. */
  revoke(id: string, at: number): boolean {
    return this.stmts.revoke.run(at, id).changes === 1;
  }

  rename(id: string, name: string): void {
    this.stmts.rename.run(name, id);
  }

  markSeen(id: string, at: number): void {
    this.stmts.seen.run(at, id);
  }

  recordHeartbeat(id: string, json: string, at: number, backupCompletedAt: number | null): void {
    this.db.transaction(() => {
      this.stmts.heartbeat.run(at, json, at, id);
      if (backupCompletedAt !== null) this.stmts.backedUp.run(backupCompletedAt, id);
    })();
  }

  safeTotals(id: string): DeviceSafeTotals {
    const row = this.stmts.safe.get(id);
    return { files: row?.files ?? 0, bytes: row?.bytes ?? 0 };
  }

  addEnrolment(codeSha256: Buffer, at: number, expiresAt: number): void {
    this.stmts.insertEnrolment.run(codeSha256, at, expiresAt);
  }

  /**
   * Exchanges an enrolment code for a new device, in one transaction: a code is used at most
   * once even when two clients present it at the same moment.
   */
  enrol(
    codeSha256: Buffer,
    at: number,
    device: { id: string; name: string; tokenSha256: Buffer },
  ): EnrolmentOutcome {
    return this.db.transaction((): EnrolmentOutcome => {
      const row = this.stmts.enrolment.get(codeSha256);
      if (!row) return { ok: false, reason: 'unknown' };
      if (row.used_at !== null) return { ok: false, reason: 'used' };
      if (at > row.expires_at) return { ok: false, reason: 'expired' };
      this.stmts.insert.run(device.id, device.name, device.tokenSha256, at);
      this.stmts.useEnrolment.run(at, device.id, codeSha256);
      return { ok: true, device: this.byId(device.id)! };
    })();
  }
}
