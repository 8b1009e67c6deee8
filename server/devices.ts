// Who is asking (the admin token or one device's token), the device administration API, the
// enrolment exchange, and the heartbeats behind the fleet's health verdicts (issue 13
// sections 1 and 2). Invariant: a token is accepted only while its device is live; a revoked
// device's token is refused on its very next request, with a message that says so.
//
// [Note: Device tokens]
// A device token is 32 random bytes (base64url, prefixed "ksd_" so a person can tell one from
// the admin token). The vault keeps only its SHA-256: the token has 256 bits of entropy, so a
// plain digest is as good as a slow password hash, and a stolen vault.db holds no usable
// token. Looking the digest up in an index is not constant-time, but what a timing
// difference could reveal is where a digest of an unknown token sorts, which helps nobody
// guess a token; the found row's digest is still compared with timingSafeEqual. The admin
// token is checked first, in constant time, as before. `last_seen_at` is written at most once
// a minute per device, so a stream of PATCHes costs no write each.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createDeviceRequestSchema,
  createEnrolmentRequestSchema,
  DEVICE_REVOKED_CODE,
  type DeviceCreated,
  type DeviceJson,
  type DeviceVerdict,
  type EnrolmentCreated,
  ENROLMENT_EXPIRED_CODE,
  ENROLMENT_UNKNOWN_CODE,
  ENROLMENT_USED_CODE,
  enrolRequestSchema,
  type Heartbeat,
  heartbeatSchema,
  renameDeviceRequestSchema,
} from '../common/vault-protocol.js';
import { parseJson, readBody, sendJson } from './api.js';
import { VaultHttpError } from './http-error.js';
import type { DeviceRecord, DeviceSafeTotals, DeviceStore } from './index/device-store.js';
import { isAuthorized } from './token.js';

/** Who sent a request: the admin token, or a live device's own token. */
export type Principal = { kind: 'admin' } | { kind: 'device'; id: string; name: string };

const DEVICE_TOKEN_PREFIX = 'ksd_';
const SEEN_WRITE_INTERVAL_MS = 60_000;
const MAX_DEVICE_BODY_BYTES = 64 * 1024;

export interface FleetThresholds {
  /** a device whose oldest unsafe file is older than this is "behind"; default 3 days */
  behindAfterMs?: number;
  /** a device with no heartbeat for this long is "silent"; default 7 days */
  silentAfterMs?: number;
}
export const DEFAULT_BEHIND_AFTER_MS = 3 * 24 * 3600 * 1000;
export const DEFAULT_SILENT_AFTER_MS = 7 * 24 * 3600 * 1000;

/** Pauses that stop a device's backups until someone acts (not a person's own pause), in words. */
const BLOCKING_PAUSES: ReadonlyMap<string, string> = new Map([
  ['sign_in_needed', 'the vault refused its token'],
  ['vault_full', 'the vault is full'],
  ['disk_full', 'its own disk is full'],
  ['database_corrupt', 'its database is damaged'],
]);

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function bearer(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

export function newDeviceToken(): string {
  return DEVICE_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** A code a person can read aloud and type: 20 base32 characters (100 bits) in groups of 4. */
export function newEnrolmentCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I
  const bytes = randomBytes(20);
  let code = '';
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0 && i % 4 === 0) code += '-';
    code += alphabet[bytes[i]! % 32];
  }
  return code;
}

/** The code as typed, normalised: case and separators do not matter. */
function normaliseCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

function newDeviceId(): string {
  return `dev_${randomBytes(8).toString('hex')}`;
}

/** Device administration shared by the HTTP API and `keepsake vault devices` (on the data dir). */
export class DeviceRegistry {
  private readonly seenWritten = new Map<string, number>();

  constructor(
    private readonly store: DeviceStore,
    private readonly now: () => number,
    private readonly thresholds: FleetThresholds = {},
  ) {}

  /** The principal of an Authorization header, or the 401 to answer. */
  async authenticate(header: string | undefined, adminToken: string): Promise<Principal> {
    if (isAuthorized(header, adminToken)) return { kind: 'admin' };
    const token = bearer(header);
    if (token !== null && token.startsWith(DEVICE_TOKEN_PREFIX)) {
      const d = digest(token);
      const device = await this.store.byTokenHash(d);
      if (device && timingSafeEqual(device.tokenSha256, d)) {
        if (device.revokedAt !== null) throw revokedError(device.name);
        await this.markSeen(device.id);
        return { kind: 'device', id: device.id, name: device.name };
      }
    }
    throw new VaultHttpError(401, 'unauthorized', 'missing or wrong bearer token');
  }

  private async markSeen(id: string): Promise<void> {
    const at = this.now();
    const last = this.seenWritten.get(id);
    if (last !== undefined && at - last < SEEN_WRITE_INTERVAL_MS) return;
    this.seenWritten.set(id, at);
    await this.store.markSeen(id, at);
  }

  async add(name: string): Promise<DeviceCreated> {
    const token = newDeviceToken();
    // The name check and the insert are one store call (See [Note: Device rules are one
    // transaction] in index/device-store.ts).
    const device = await this.store.add({
      id: newDeviceId(),
      name,
      tokenSha256: digest(token),
      at: this.now(),
    });
    if (device === 'name_taken') throw nameTakenError(name);
    return { id: device.id, name: device.name, token };
  }

  async revoke(name: string): Promise<DeviceJson> {
    const device = await this.store.revokeByName(name, this.now());
    if (!device) throw notFoundError(name);
    return this.jsonOf(device);
  }

  async rename(oldName: string, newName: string): Promise<DeviceJson> {
    const device = await this.store.renameLive(oldName, newName);
    if (device === 'not_found') throw notFoundError(oldName);
    if (device === 'name_taken') throw nameTakenError(newName);
    return this.jsonOf(device);
  }

  async createEnrolment(ttlMs: number): Promise<EnrolmentCreated> {
    const code = newEnrolmentCode();
    const at = this.now();
    await this.store.addEnrolment(digest(normaliseCode(code)), at, at + ttlMs);
    return { code, expiresAt: at + ttlMs };
  }

  /** A client's enrolment code for its own device token; refused when used, expired or unknown. */
  async enrol(code: string, name: string): Promise<DeviceCreated> {
    const token = newDeviceToken();
    // The name a client asks for may be taken (two laptops called "laptop"): the store
    // numbers it in the transaction that uses the code.
    const outcome = await this.store.enrol(digest(normaliseCode(code)), this.now(), {
      id: newDeviceId(),
      name,
      tokenSha256: digest(token),
    });
    if (outcome.ok) return { id: outcome.device.id, name: outcome.device.name, token };
    switch (outcome.reason) {
      case 'used':
        throw new VaultHttpError(
          410,
          ENROLMENT_USED_CODE,
          'this enrolment code was already used; ask the vault administrator for a new one',
        );
      case 'expired':
        throw new VaultHttpError(
          410,
          ENROLMENT_EXPIRED_CODE,
          'this enrolment code has expired; ask the vault administrator for a new one',
        );
      case 'unknown':
        throw new VaultHttpError(
          404,
          ENROLMENT_UNKNOWN_CODE,
          'this vault issued no such enrolment code; check it was typed right',
        );
      default: {
        const never: never = outcome.reason;
        throw new Error(`unexpected enrolment outcome ${String(never)}`);
      }
    }
  }

  async heartbeat(principal: Principal, beat: Heartbeat): Promise<void> {
    if (principal.kind !== 'device') return; // the admin token is no device: nothing to keep
    const at = this.now();
    // A backup pass that left nothing to send is a successful backup, whatever it reported.
    const completed = beat.pass === 'backup' && beat.bytesPending === 0 && !beat.paused;
    const kept = await this.store.recordHeartbeat(
      principal.id,
      JSON.stringify(beat),
      at,
      completed ? at : null,
    );
    // Revoked since this request was authenticated: refused as its next request would be.
    if (!kept) throw revokedError(principal.name);
    this.seenWritten.set(principal.id, at);
  }

  async list(): Promise<DeviceJson[]> {
    const devices = await this.store.list();
    const safe = await this.store.safeTotalsByDevice();
    return devices.map((d) => this.json(d, safe.get(d.id) ?? { files: 0, bytes: 0 }));
  }

  private async jsonOf(d: DeviceRecord): Promise<DeviceJson> {
    return this.json(d, await this.store.safeTotals(d.id));
  }

  private json(d: DeviceRecord, safe: DeviceSafeTotals): DeviceJson {
    const beat = d.heartbeat === null ? null : heartbeatSchema.safeParse(JSON.parse(d.heartbeat));
    const heartbeat = beat?.success ? beat.data : null;
    const { verdict, reason } = this.verdict(d, heartbeat);
    return {
      id: d.id,
      name: d.name,
      createdAt: d.createdAt,
      revokedAt: d.revokedAt,
      lastSeenAt: d.lastSeenAt,
      lastBackupAt: d.lastBackupAt,
      lastHeartbeatAt: d.heartbeatAt,
      version: heartbeat?.version ?? null,
      filesSafe: safe.files,
      bytesSafe: safe.bytes,
      heartbeat,
      verdict,
      verdictReason: reason,
    };
  }

  /** See deviceVerdictSchema in common/vault-protocol.ts. Silence outranks the last report. */
  private verdict(
    d: DeviceRecord,
    beat: Heartbeat | null,
  ): { verdict: DeviceVerdict; reason: string } {
    const now = this.now();
    const silentAfter = this.thresholds.silentAfterMs ?? DEFAULT_SILENT_AFTER_MS;
    const behindAfter = this.thresholds.behindAfterMs ?? DEFAULT_BEHIND_AFTER_MS;
    const days = (ms: number) => `${Math.round((ms / 86_400_000) * 10) / 10} days`;
    const since = d.heartbeatAt ?? d.createdAt;
    if (d.revokedAt !== null) return { verdict: 'silent', reason: 'revoked' };
    if (now - since > silentAfter) {
      return {
        verdict: 'silent',
        reason:
          d.heartbeatAt === null
            ? `no heartbeat since it was added ${days(now - since)} ago`
            : `no heartbeat for ${days(now - since)}`,
      };
    }
    if (beat === null) return { verdict: 'healthy', reason: 'no heartbeat yet' };
    const blocking = beat.paused ? BLOCKING_PAUSES.get(beat.pausedReason ?? '') : undefined;
    if (blocking !== undefined) return { verdict: 'failing', reason: `paused: ${blocking}` };
    if (beat.lastError !== null) return { verdict: 'failing', reason: beat.lastError };
    if (beat.oldestUnsafeAgeMs !== null && beat.oldestUnsafeAgeMs > behindAfter) {
      return {
        verdict: 'behind',
        reason: `its oldest file not yet backed up waits for ${days(beat.oldestUnsafeAgeMs)}`,
      };
    }
    return { verdict: 'healthy', reason: 'backing up' };
  }
}

function revokedError(name: string): VaultHttpError {
  return new VaultHttpError(
    401,
    DEVICE_REVOKED_CODE,
    `this device was revoked by the vault's administrator ("${name}"); ask them for a new enrolment code`,
  );
}

function notFoundError(name: string): VaultHttpError {
  return new VaultHttpError(404, 'not_found', `no device named "${name}"`);
}

function nameTakenError(name: string): VaultHttpError {
  return new VaultHttpError(409, 'device_exists', `a device named "${name}" already exists`);
}

function parseWith<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: Error } },
  raw: unknown,
): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new VaultHttpError(400, 'bad_request', `invalid request body: ${parsed.error.message}`);
  }
  return parsed.data;
}

function adminOnly(principal: Principal): void {
  if (principal.kind !== 'admin') {
    throw new VaultHttpError(403, 'forbidden', 'this needs the vault administrator token');
  }
}

/** /api/v1/devices, /api/v1/enrolments, /api/v1/heartbeat (enrol is routed before auth). */
export function createDevicesApi(registry: DeviceRegistry) {
  const body = async (req: IncomingMessage) =>
    parseJson(await readBody(req, MAX_DEVICE_BODY_BYTES));
  const methodNotAllowed = (allowed: string): never => {
    throw new VaultHttpError(405, 'method_not_allowed', `this resource answers ${allowed} only`);
  };

  return {
    /** POST /api/v1/enrol: needs no token, the code is the credential. */
    async enrol(req: IncomingMessage, res: ServerResponse): Promise<void> {
      if (req.method !== 'POST') methodNotAllowed('POST');
      const r = parseWith(enrolRequestSchema, await body(req));
      sendJson(res, 200, await registry.enrol(r.code, r.name));
    },

    /** Routes one request whose first path part is devices, enrolments or heartbeat. */
    async handle(
      req: IncomingMessage,
      res: ServerResponse,
      principal: Principal,
      parts: readonly string[],
    ): Promise<void> {
      const method = req.method ?? 'GET';
      const [p0, p1, p2, ...extra] = parts;
      if (p0 === 'heartbeat' && parts.length === 1) {
        if (method !== 'POST') methodNotAllowed('POST');
        await registry.heartbeat(principal, parseWith(heartbeatSchema, await body(req)));
        res.writeHead(204, { 'Cache-Control': 'no-store' });
        res.end();
        return;
      }
      adminOnly(principal);
      if (p0 === 'enrolments' && parts.length === 1) {
        if (method !== 'POST') methodNotAllowed('POST');
        const r = parseWith(createEnrolmentRequestSchema, await body(req));
        return sendJson(res, 201, await registry.createEnrolment(r.ttlMs));
      }
      if (p0 === 'devices' && (parts.length === 1 || (parts.length === 2 && p1 === ''))) {
        if (method === 'GET') return sendJson(res, 200, { devices: await registry.list() });
        if (method === 'POST') {
          const r = parseWith(createDeviceRequestSchema, await body(req));
          return sendJson(res, 201, await registry.add(r.name));
        }
        return methodNotAllowed('GET, POST');
      }
      if (p0 === 'devices' && p1 !== undefined && extra.length === 0) {
        if (p2 === 'revoke') {
          if (method !== 'POST') methodNotAllowed('POST');
          return sendJson(res, 200, await registry.revoke(p1));
        }
        if (p2 === 'rename') {
          if (method !== 'POST') methodNotAllowed('POST');
          const r = parseWith(renameDeviceRequestSchema, await body(req));
          return sendJson(res, 200, await registry.rename(p1, r.name));
        }
      }
      throw new VaultHttpError(
        404,
        'not_found',
        `no such API endpoint: /api/v1/${parts.join('/')}`,
      );
    },
  };
}
