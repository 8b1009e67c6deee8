// /api/v1/locations: clients tell the vault every place they hold each content (backed-up
// files and duplicates alike), mark places gone, and page through them, now or as they were
// at a moment (issue 10 section 1). Names are raw bytes: a file name need not be UTF-8, so a
// path travels as base64 (`pathB64`) with `path` as a display string beside it.
// Invariant: a request is validated whole before anything is stored; nothing here deletes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { parseJson, readBody, sendJson } from './api.js';
import {
  base64Schema,
  goneLocationsRequestSchema,
  type LocationJson,
  MAX_LOCATION_PATH_BYTES,
  registerLocationsRequestSchema,
  type RegisterLocationsResponse,
  SHA256_HEX,
} from '../common/vault-protocol.js';
import { VaultHttpError } from './http-error.js';
import {
  type LocationFilter,
  type LocationRecord,
  type NewLocation,
  OTHER_DEVICE,
} from './index/location-store.js';
import type { VaultIndex } from './index/vault-index.js';
import type { Principal } from './devices.js';

const MAX_LOCATIONS_BODY_BYTES = 16 * 1024 * 1024;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** Why a path inside a folder is refused, or null when it is acceptable. */
export function pathProblem(bytes: Buffer): string | null {
  if (bytes.length === 0) return 'a path must not be empty';
  if (bytes.length > MAX_LOCATION_PATH_BYTES)
    return `a path is at most ${MAX_LOCATION_PATH_BYTES} bytes`;
  if (bytes.includes(0)) return 'a path must not contain NUL';
  // Split on the byte '/', not on characters: the bytes need not be UTF-8.
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x2f) {
      const segment = bytes.subarray(start, i).toString('latin1');
      if (segment === '' || segment === '.' || segment === '..') {
        return 'a path is relative to its folder: no leading "/", empty, "." or ".." segments';
      }
      start = i + 1;
    }
  }
  return null;
}

function pathBytes(place: { path?: string | undefined; pathB64?: string | undefined }): Buffer {
  let bytes: Buffer;
  if (place.pathB64 !== undefined) bytes = Buffer.from(place.pathB64, 'base64');
  else if (place.path !== undefined) bytes = Buffer.from(place.path, 'utf8');
  else throw new VaultHttpError(400, 'bad_request', 'each location needs path or pathB64');
  const problem = pathProblem(bytes);
  if (problem !== null) throw new VaultHttpError(400, 'invalid_path', problem);
  return bytes;
}

function parseBody<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new VaultHttpError(
      400,
      'bad_request',
      `invalid request body${where ? ` at ${where}` : ''}: ${issue?.message ?? 'malformed'}`,
    );
  }
  return parsed.data;
}

export function locationJson(l: LocationRecord): LocationJson {
  return {
    sha256: l.sha256,
    deviceId: l.deviceId,
    deviceName: l.deviceName,
    folder: l.folder,
    path: l.path.toString('utf8'),
    pathB64: l.path.toString('base64'),
    size: l.size,
    mtimeMs: l.mtimeMs,
    firstSeen: l.firstSeen,
    lastSeen: l.lastSeen,
    goneAt: l.goneAt,
  };
}

function intParam(url: URL, name: string, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) > max) {
    throw new VaultHttpError(400, 'bad_request', `${name} must be a whole number up to ${max}`);
  }
  return Number(raw);
}

export function createLocationsApi(deps: { index: VaultIndex; now: () => number }) {
  const { index } = deps;

  /**
   * A device token speaks only for the client device ids it registered places under: the
   * store checks that in the transaction that writes (a check here, before it, could be
   * overtaken by another device's registration between the two).
   */
  function refusedAsOthers(): VaultHttpError {
    return new VaultHttpError(
      403,
      'forbidden',
      'these places belong to another device: a device token registers only its own',
    );
  }

  async function register(req: IncomingMessage, res: ServerResponse, principal: Principal) {
    const body = parseBody(
      registerLocationsRequestSchema,
      parseJson(await readBody(req, MAX_LOCATIONS_BODY_BYTES)),
    );
    const items: NewLocation[] = body.locations.map((l) => ({
      sha256: l.sha256,
      folder: l.folder,
      path: pathBytes(l),
      size: l.size,
      mtimeMs: l.mtimeMs ?? null,
    }));
    const results = await index.locations.register(
      {
        id: body.deviceId,
        name: body.deviceName,
        vaultDevice: principal.kind === 'device' ? principal.id : null,
      },
      items,
      deps.now(),
    );
    if (results === OTHER_DEVICE) throw refusedAsOthers();
    sendJson(res, 200, { results } satisfies RegisterLocationsResponse);
  }

  async function gone(req: IncomingMessage, res: ServerResponse, principal: Principal) {
    const body = parseBody(
      goneLocationsRequestSchema,
      parseJson(await readBody(req, MAX_LOCATIONS_BODY_BYTES)),
    );
    const items = body.locations.map((l) => ({
      folder: l.folder,
      path: pathBytes(l),
      ...(l.sha256 !== undefined ? { sha256: l.sha256 } : {}),
    }));
    const marked = await index.locations.markGone(
      body.deviceId,
      items,
      deps.now(),
      principal.kind === 'device' ? principal.id : null,
    );
    if (marked === OTHER_DEVICE) throw refusedAsOthers();
    sendJson(res, 200, { results: marked.map((m) => ({ marked: m })) });
  }

  async function list(url: URL, res: ServerResponse) {
    const q = url.searchParams;
    const filter: LocationFilter = {};
    const sha256 = q.get('sha256');
    if (sha256 !== null && sha256 !== '') {
      if (!SHA256_HEX.test(sha256)) {
        throw new VaultHttpError(
          400,
          'invalid_sha256',
          'sha256 must be 64 lowercase hex characters',
        );
      }
      filter.sha256 = sha256;
    }
    const device = q.get('device');
    if (device !== null && device !== '') filter.deviceId = device;
    const folder = q.get('folder');
    if (folder !== null && folder !== '') filter.folder = folder;
    const prefixB64 = q.get('prefixB64');
    const prefix = q.get('prefix');
    if (prefixB64 !== null && prefixB64 !== '') {
      const checked = base64Schema.safeParse(prefixB64);
      if (!checked.success) throw new VaultHttpError(400, 'bad_request', 'prefixB64 is not base64');
      filter.prefix = Buffer.from(prefixB64, 'base64');
    } else if (prefix !== null && prefix !== '') filter.prefix = Buffer.from(prefix, 'utf8');
    const at = intParam(url, 'at', Number.MAX_SAFE_INTEGER);
    if (at !== undefined) filter.at = at;
    const includeGone = q.get('includeGone');
    if (includeGone === '1' || includeGone === 'true') filter.includeGone = true;
    const limit = intParam(url, 'limit', MAX_PAGE) ?? DEFAULT_PAGE;
    if (limit < 1) throw new VaultHttpError(400, 'bad_request', `limit must be 1 to ${MAX_PAGE}`);
    const afterRaw = q.get('after');
    let afterId = 0;
    if (afterRaw !== null && afterRaw !== '') {
      if (!/^\d{1,15}$/.test(afterRaw)) {
        throw new VaultHttpError(
          400,
          'invalid_cursor',
          'after must be a cursor returned as "next" by this listing',
        );
      }
      afterId = Number(afterRaw);
    }
    // One row more than asked tells whether another page exists (`next` null at the end).
    const rows = await index.locations.page(filter, afterId, limit + 1);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    sendJson(res, 200, {
      locations: page.map(locationJson),
      next: more ? String(page.at(-1)?.id) : null,
    });
  }

  /** Routes /api/v1/locations[/gone]; `rest` is the path after "locations". */
  function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    rest: readonly string[],
    principal: Principal,
  ): Promise<void> | void {
    const method = req.method ?? 'GET';
    const methodNotAllowed = (allowed: string): never => {
      throw new VaultHttpError(405, 'method_not_allowed', `this resource answers ${allowed} only`);
    };
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
      if (method === 'GET') return list(url, res);
      if (method === 'POST') return register(req, res, principal);
      return methodNotAllowed('GET, POST');
    }
    if (rest.length === 1 && rest[0] === 'gone') {
      if (method !== 'POST') methodNotAllowed('POST');
      return gone(req, res, principal);
    }
    throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
  }

  return { handle };
}
