// The vault's JSON API as the engine uses it (not tus: that is tus-uploader.ts): the dedup
// check in batches of up to 1,000 hashes, metadata (one asset, or many in one request),
// usage, and health. Every call goes through the engine's one HTTP client (http-client.ts:
// proxy and CA bundle for all), takes an AbortSignal, and turns failures into KeepsakeErrors
// through the one response table (response-table.ts), so a status means the same here as
// during an upload.
import type { Response } from 'got';
import type { VaultUsage } from '../../../common/contract.js';
import {
  type AlbumJson,
  type AlbumSummary,
  type AssetJson,
  assetJsonSchema,
  albumJsonSchema,
  albumListSchema,
  type CreateAlbumRequest,
  type CreateAlbumResponse,
  createAlbumResponseSchema,
  declareGroupsResponseSchema,
  type GroupDeclaration,
  type GroupJson,
  groupJsonSchema,
  type GroupResult,
  MAX_GROUPS_PER_REQUEST,
  type AssetHealthJson,
  type BlobState,
  type LocationJson,
  type MetadataItemResult,
  assetHealthSchema,
  locationPageSchema,
  MAX_VERIFY_HASHES,
  verifyResponseSchema,
  MAX_CHECK_HASHES,
  MAX_METADATA_BATCH_BYTES,
  MAX_METADATA_BATCH_ITEMS,
  checkResponseSchema,
  assetPageSchema,
  type AssetPage,
  goneLocationsResponseSchema,
  type LocationPage,
  MAX_LOCATIONS_PER_REQUEST,
  metadataBatchResponseSchema,
  registerLocationsResponseSchema,
  type RegisterLocationsRequest,
  type RegisterLocationsResponse,
  usageSchema,
  type LibraryFolders,
  libraryFoldersSchema,
  type LibraryPage,
  libraryPageSchema,
  type PreviewStatus,
  previewStatusSchema,
  type Heartbeat,
  type SimilarPage,
  similarPageSchema,
  trashMoveResponseSchema,
  trashRestoreResponseSchema,
} from '../../../common/vault-protocol.js';
import type { MediaMetadata } from '../metadata/types.js';
import { type HttpClient, createHttpClient } from './http-client.js';
import { UploadHttpError, errorForNetworkFault, errorForStatus } from './response-table.js';

const checkBatchSize = MAX_CHECK_HASHES;
/** How long one verify request may take: its vault re-reads up to 1,000 blobs first. */
const verifyTimeoutMs = 30 * 60_000;

export interface VaultClientOptions {
  /** Vault base URL, e.g. http://127.0.0.1:7420 */
  endpoint: string;
  token: string;
  /** PEM bundle added to the default CAs (corporate TLS inspection); ignored with `http`. */
  caFile?: string;
  /** undefined = HTTP(S)_PROXY/NO_PROXY from env; null = none; ignored with `http`. */
  proxyUrl?: string | null;
  env?: NodeJS.ProcessEnv;
  /**
   * The engine's one HTTP client to this vault, shared with the uploader; when absent the
   * client builds its own. A given client is not destroyed by close(): its owner does that.
   */
  http?: HttpClient;
  /** Per-request timeout for these small JSON calls (ms). */
  timeoutMs?: number;
}

/** What the vault said of one item of a metadata batch (common/vault-protocol.ts). */
export type { MetadataItemResult };
export type RegisterLocationResult = RegisterLocationsResponse['results'][number];

export interface VaultClient {
  readonly endpoint: string;
  /** Which of these hashes the vault already holds (any number; batched by 1,000). */
  check(sha256s: string[], signal?: AbortSignal): Promise<Set<string>>;
  putMetadata(sha256: string, metadata: MediaMetadata, signal?: AbortSignal): Promise<void>;
  /**
   * Sends the metadata of many assets (any number; batched by 500 per request) and answers
   * one result per item, in item order. A whole-request failure throws as the other calls.
   */
  putMetadataBatch(
    items: readonly { sha256: string; metadata: MediaMetadata }[],
    signal?: AbortSignal,
  ): Promise<MetadataItemResult[]>;
  usage(signal?: AbortSignal): Promise<VaultUsage>;
  /** Tells the vault how this device is doing (POST /api/v1/heartbeat, issue 13 section 2). */
  heartbeat?(beat: Heartbeat, signal?: AbortSignal): Promise<void>;
  /**
   * Registers places of this device (any number; 1,000 per request). One result per item, in
   * order: recorded, or refused for that item alone (not_held, size_mismatch).
   */
  registerLocations(
    device: { id: string; name: string },
    items: RegisterLocationsRequest['locations'],
    signal?: AbortSignal,
  ): Promise<RegisterLocationResult[]>;
  /** Marks places of this device gone (any number); per item, whether a live place was marked. */
  markLocationsGone(
    deviceId: string,
    items: { folder: string; pathB64: string; sha256?: string }[],
    signal?: AbortSignal,
  ): Promise<boolean[]>;
  /** One page of places (GET /api/v1/locations): `query` holds its filters, as the vault names them. */
  listLocations(
    query: Record<string, string>,
    after: string | null,
    limit: number,
    signal?: AbortSignal,
  ): Promise<LocationPage>;
  /** One asset with its metadata (GET /api/v1/assets/:sha256); null when not held. */
  asset(sha256: string, signal?: AbortSignal): Promise<AssetJson | null>;
  /** One page of assets with their metadata (GET /api/v1/assets). */
  listAssets(after: string | null, limit: number, signal?: AbortSignal): Promise<AssetPage>;
  /** The devices the vault knows places of, with what each holds. */
  devices(signal?: AbortSignal): Promise<{ deviceId: string; deviceName: string }[]>;
  /** true when /healthz answers 2xx. Never throws. */
  health(signal?: AbortSignal): Promise<boolean>;
  /**
   * The dedup check with the vault's finding for content it held but lost: present, damaged
   * or missing (any number of hashes; batched by 1,000). Hashes never held are in no list.
   */
  checkStates(sha256s: readonly string[], signal?: AbortSignal): Promise<ContentStates>;
  /**
   * Asks the vault to re-hash the stored bytes of each content now (POST /api/v1/verify,
   * batched by 1,000): ok, damaged or missing (missing too for content it never held).
   */
  verify(sha256s: readonly string[], signal?: AbortSignal): Promise<Map<string, BlobState>>;
  /** The vault's receipt of one content; null when it does not hold it. */
  assetHealth(sha256: string, signal?: AbortSignal): Promise<AssetHealthJson | null>;
  /** Every place (device, folder, path) the vault knows this content at, gone ones too. */
  locationsOf(sha256: string, signal?: AbortSignal): Promise<LocationJson[]>;
  /** Every album on the vault (GET /api/v1/albums). */
  albums(signal?: AbortSignal): Promise<AlbumSummary[]>;
  /** One album with its members in order; null when the vault has none with this id. */
  album(id: string, signal?: AbortSignal): Promise<AlbumJson | null>;
  /**
   * Makes the album of (source, key), or finds it and appends the members it lacks
   * (POST /api/v1/albums: idempotent, so a re-run import makes no second album).
   */
  createAlbum(album: CreateAlbumRequest, signal?: AbortSignal): Promise<CreateAlbumResponse>;
  /**
   * Declares groups (POST /api/v1/groups, any number; 500 per request): one result per
   * declaration, in order. See [Note: A declaration replaces] in common/vault-protocol.ts.
   */
  declareGroups(groups: readonly GroupDeclaration[], signal?: AbortSignal): Promise<GroupResult[]>;
  /** One group with its members; null when the vault has none with this id. */
  group(id: string, signal?: AbortSignal): Promise<GroupJson | null>;
  /** One page of the library's timeline (GET /api/v1/library); `query` as the vault names it. */
  library(
    query: Record<string, string>,
    after: string | null,
    limit: number,
    signal?: AbortSignal,
  ): Promise<LibraryPage>;
  /** The folders (per device) the vault holds places in (GET /api/v1/library/folders). */
  libraryFolders(signal?: AbortSignal): Promise<LibraryFolders['folders']>;
  /** What became of one asset's previews; null when the vault holds no such asset. */
  previewStatus(sha256: string, signal?: AbortSignal): Promise<PreviewStatus | null>;
  /** One page of similar photos (GET /api/v1/similar). */
  similar(after: string | null, limit: number, signal?: AbortSignal): Promise<SimilarPage>;
  /** Moves contents to the vault's trash; returns what is in the trash now of them. */
  trash(sha256s: readonly string[], signal?: AbortSignal): Promise<string[]>;
  /** Takes contents out of the vault's trash; returns those taken out. */
  untrash(sha256s: readonly string[], signal?: AbortSignal): Promise<string[]>;
  close(): void;
}

export interface ContentStates {
  present: Set<string>;
  damaged: Set<string>;
  missing: Set<string>;
}

export function createVaultClient(options: VaultClientOptions): VaultClient {
  const base = options.endpoint.replace(/\/+$/, '');
  const http =
    options.http ??
    createHttpClient({
      endpoint: base,
      ...(options.caFile !== undefined ? { caFile: options.caFile } : {}),
      ...(options.proxyUrl !== undefined ? { proxyUrl: options.proxyUrl } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
      idleTimeoutMs: options.timeoutMs ?? 30_000,
    });
  const timeoutMs = options.timeoutMs ?? 30_000;

  /** One JSON request; a 2xx body parsed as JSON, anything else through the response table. */
  /** GETs what the vault may not have: its 404 is null, an answer `schema` does not match is not understood. */
  async function getOrNull<T>(
    path: string,
    what: string,
    schema: { safeParse(body: unknown): { success: true; data: T } | { success: false } },
    signal: AbortSignal | undefined,
  ): Promise<T | null> {
    let body: unknown;
    try {
      body = await call('GET', path, what, undefined, signal);
    } catch (err) {
      if (err instanceof UploadHttpError && err.status === 404) return null;
      throw err;
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw notUnderstood(`${base}/${path}`, what);
    return parsed.data;
  }

  async function call(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    what: string,
    json: unknown,
    signal: AbortSignal | undefined,
    timeout: { request: number; socket?: number } = { request: timeoutMs },
  ): Promise<unknown> {
    const url = `${base}/${path}`;
    let res: Response<string>;
    try {
      res = await http.got(url, {
        method,
        headers: { authorization: `Bearer ${options.token}` },
        ...(json === undefined ? {} : { json }),
        ...(signal ? { signal } : {}),
        timeout,
      });
    } catch (err) {
      throw errorForNetworkFault(err, what, method, url, signal);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const retryAfter = res.headers['retry-after'];
      throw errorForStatus(
        {
          method,
          url,
          status: res.statusCode,
          body: res.body,
          retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
          nowMs: Date.now(),
        },
        what,
      );
    }
    if (res.body.trim() === '') return {};
    try {
      return JSON.parse(res.body) as unknown;
    } catch {
      throw errorForStatus(
        { method, url, status: 502, body: res.body, retryAfter: undefined, nowMs: Date.now() },
        `${what} (the answer was not JSON)`,
      );
    }
  }

  return {
    endpoint: base,
    async check(sha256s, signal) {
      const present = new Set<string>();
      for (let i = 0; i < sha256s.length; i += checkBatchSize) {
        const batch = sha256s.slice(i, i + checkBatchSize);
        // Sequential on purpose: each batch is one small request, and the vault handles a
        // thousand hashes per call; parallel batches would only contend for its database.
        const body = await call(
          'POST',
          'api/v1/assets/check',
          'check which files the vault holds',
          { sha256: batch },
          signal,
        );
        const parsed = checkResponseSchema.safeParse(body);
        if (!parsed.success)
          throw notUnderstood(`${base}/api/v1/assets/check`, 'check which files the vault holds');
        for (const s of parsed.data.present) present.add(s);
      }
      return present;
    },
    async putMetadata(sha256, metadata, signal) {
      await call(
        'PUT',
        `api/v1/assets/${sha256}/metadata`,
        'send metadata to the vault',
        metadata,
        signal,
      );
    },
    async putMetadataBatch(items, signal) {
      const results: MetadataItemResult[] = [];
      for (const batch of metadataGroups(items)) {
        const body = await call(
          'POST',
          'api/v1/metadata',
          'send metadata to the vault',
          { items: batch },
          signal,
        );
        results.push(...parseMetadataResults(body, batch, `${base}/api/v1/metadata`));
      }
      return results;
    },
    async usage(signal) {
      const body = await call('GET', 'api/v1/usage', 'read the vault usage', undefined, signal);
      const parsed = usageSchema.safeParse(body);
      if (parsed.success) {
        const { byDevice: _, ...usage } = parsed.data;
        return usage;
      }
      // A vault from before the shared schema may leave fields out: count them as 0.
      return normaliseUsage((body ?? {}) as Record<string, unknown>);
    },
    async heartbeat(beat, signal) {
      await call('POST', 'api/v1/heartbeat', 'report how this device is doing', beat, signal);
    },
    async registerLocations(device, items, signal) {
      const results: RegisterLocationResult[] = [];
      const what = 'register where files are kept';
      for (let i = 0; i < items.length; i += MAX_LOCATIONS_PER_REQUEST) {
        const batch = items.slice(i, i + MAX_LOCATIONS_PER_REQUEST);
        const body = await call(
          'POST',
          'api/v1/locations',
          what,
          { deviceId: device.id, deviceName: device.name, locations: batch },
          signal,
        );
        const parsed = registerLocationsResponseSchema.safeParse(body);
        if (!parsed.success || parsed.data.results.length !== batch.length) {
          throw notUnderstood(`${base}/api/v1/locations`, what);
        }
        results.push(...parsed.data.results);
      }
      return results;
    },
    async markLocationsGone(deviceId, items, signal) {
      const marked: boolean[] = [];
      const what = 'mark files gone on the vault';
      for (let i = 0; i < items.length; i += MAX_LOCATIONS_PER_REQUEST) {
        const batch = items.slice(i, i + MAX_LOCATIONS_PER_REQUEST);
        const body = await call(
          'POST',
          'api/v1/locations/gone',
          what,
          { deviceId, locations: batch },
          signal,
        );
        const parsed = goneLocationsResponseSchema.safeParse(body);
        if (!parsed.success || parsed.data.results.length !== batch.length) {
          throw notUnderstood(`${base}/api/v1/locations/gone`, what);
        }
        marked.push(...parsed.data.results.map((r) => r.marked));
      }
      return marked;
    },
    async listLocations(query, after, limit, signal) {
      const params = new URLSearchParams({ ...query, limit: String(limit) });
      if (after !== null) params.set('after', after);
      const what = 'list where files were kept';
      const body = await call(
        'GET',
        `api/v1/locations?${params.toString()}`,
        what,
        undefined,
        signal,
      );
      const parsed = locationPageSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/locations`, what);
      return parsed.data;
    },
    async listAssets(after, limit, signal) {
      const params = new URLSearchParams({ limit: String(limit) });
      if (after !== null) params.set('after', after);
      const what = 'list the files on the vault';
      const body = await call('GET', `api/v1/assets?${params.toString()}`, what, undefined, signal);
      const parsed = assetPageSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/assets`, what);
      return parsed.data;
    },
    async asset(sha256, signal) {
      return getOrNull(
        `api/v1/assets/${sha256}`,
        'read an asset on the vault',
        assetJsonSchema,
        signal,
      );
    },
    async albums(signal) {
      const what = 'list the albums on the vault';
      const body = await call('GET', 'api/v1/albums', what, undefined, signal);
      const parsed = albumListSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/albums`, what);
      return parsed.data.albums;
    },
    async album(id, signal) {
      return getOrNull(
        `api/v1/albums/${encodeURIComponent(id)}`,
        'read an album on the vault',
        albumJsonSchema,
        signal,
      );
    },
    async createAlbum(album, signal) {
      const what = `make the album "${album.name}" on the vault`;
      const body = await call('POST', 'api/v1/albums', what, album, signal);
      const parsed = createAlbumResponseSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/albums`, what);
      return parsed.data;
    },
    async declareGroups(groups, signal) {
      const what = 'send groups (Live Photos, RAW+JPEG, edits, sidecars) to the vault';
      const results: GroupResult[] = [];
      for (let i = 0; i < groups.length; i += MAX_GROUPS_PER_REQUEST) {
        const batch = groups.slice(i, i + MAX_GROUPS_PER_REQUEST);
        const body = await call('POST', 'api/v1/groups', what, { groups: batch }, signal);
        const parsed = declareGroupsResponseSchema.safeParse(body);
        if (!parsed.success || parsed.data.results.length !== batch.length)
          throw notUnderstood(`${base}/api/v1/groups`, what);
        results.push(...parsed.data.results);
      }
      return results;
    },
    async group(id, signal) {
      return getOrNull(
        `api/v1/groups/${encodeURIComponent(id)}`,
        'read a group on the vault',
        groupJsonSchema,
        signal,
      );
    },
    async devices(signal) {
      const what = 'list the devices on the vault';
      const body = await call('GET', 'api/v1/usage', what, undefined, signal);
      const parsed = usageSchema.safeParse(body);
      if (!parsed.success) return [];
      return parsed.data.byDevice.map(({ deviceId, deviceName }) => ({ deviceId, deviceName }));
    },
    async health(signal) {
      try {
        const res = await http.got(`${base}/healthz`, {
          method: 'GET',
          ...(signal ? { signal } : {}),
          timeout: { request: 5000 },
        });
        return res.statusCode >= 200 && res.statusCode < 300;
      } catch {
        return false;
      }
    },
    async checkStates(sha256s, signal) {
      const what = 'check which files the vault holds';
      const out: ContentStates = { present: new Set(), damaged: new Set(), missing: new Set() };
      for (let i = 0; i < sha256s.length; i += checkBatchSize) {
        const batch = sha256s.slice(i, i + checkBatchSize);
        const body = await call('POST', 'api/v1/assets/check', what, { sha256: batch }, signal);
        const parsed = checkResponseSchema.safeParse(body);
        if (!parsed.success) throw notUnderstood(`${base}/api/v1/assets/check`, what);
        for (const s of parsed.data.present) out.present.add(s);
        for (const s of parsed.data.damaged ?? []) out.damaged.add(s);
        for (const s of parsed.data.missing ?? []) out.missing.add(s);
      }
      return out;
    },
    async verify(sha256s, signal) {
      const what = 'ask the vault to verify what it stores';
      const states = new Map<string, BlobState>();
      for (let i = 0; i < sha256s.length; i += MAX_VERIFY_HASHES) {
        const batch = sha256s.slice(i, i + MAX_VERIFY_HASHES);
        // One batch at a time: the vault re-reads every blob of a batch before it answers,
        // so the connection is silent for as long as that takes (bounded by the caller's
        // batch sizes; see verify/verify-run.ts).
        const body = await call('POST', 'api/v1/verify', what, { sha256: batch }, signal, {
          request: verifyTimeoutMs,
          socket: verifyTimeoutMs,
        });
        const parsed = verifyResponseSchema.safeParse(body);
        if (!parsed.success) throw notUnderstood(`${base}/api/v1/verify`, what);
        for (const r of parsed.data.results) states.set(r.sha256.toLowerCase(), r.state);
        if (batch.some((s) => !states.has(s))) throw notUnderstood(`${base}/api/v1/verify`, what);
      }
      return states;
    },
    async assetHealth(sha256, signal) {
      return getOrNull(
        `api/v1/assets/${sha256}/health`,
        'read what the vault knows of a file',
        assetHealthSchema,
        signal,
      );
    },
    async locationsOf(sha256, signal) {
      const what = 'read where the vault knows a file';
      const all: LocationJson[] = [];
      let after: string | null = null;
      // Bounded: a content kept in more than 10,000 places is listed in part.
      for (let page = 0; page < 10; page++) {
        const q = new URLSearchParams({ sha256, includeGone: '1', limit: '1000' });
        if (after !== null) q.set('after', after);
        const body = await call('GET', `api/v1/locations?${q.toString()}`, what, undefined, signal);
        const parsed = locationPageSchema.safeParse(body);
        if (!parsed.success) throw notUnderstood(`${base}/api/v1/locations`, what);
        all.push(...parsed.data.locations);
        if (parsed.data.next === null) break;
        after = parsed.data.next;
      }
      return all;
    },
    async library(query, after, limit, signal) {
      const params = new URLSearchParams({ ...query, limit: String(limit) });
      if (after !== null) params.set('after', after);
      const what = 'list the library on the vault';
      const body = await call(
        'GET',
        `api/v1/library?${params.toString()}`,
        what,
        undefined,
        signal,
      );
      const parsed = libraryPageSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/library`, what);
      return parsed.data;
    },
    async libraryFolders(signal) {
      const what = 'list the folders on the vault';
      const body = await call('GET', 'api/v1/library/folders', what, undefined, signal);
      const parsed = libraryFoldersSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/library/folders`, what);
      return parsed.data.folders;
    },
    async previewStatus(sha256, signal) {
      return getOrNull(
        `api/v1/assets/${sha256}/previews`,
        'read the state of a preview',
        previewStatusSchema,
        signal,
      );
    },
    async similar(after, limit, signal) {
      const params = new URLSearchParams({ limit: String(limit) });
      if (after !== null) params.set('after', after);
      const what = 'list similar photos on the vault';
      const body = await call(
        'GET',
        `api/v1/similar?${params.toString()}`,
        what,
        undefined,
        signal,
      );
      const parsed = similarPageSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/similar`, what);
      return parsed.data;
    },
    async trash(sha256s, signal) {
      const what = "move files to the vault's trash";
      const body = await call('POST', 'api/v1/trash', what, { sha256: sha256s }, signal);
      const parsed = trashMoveResponseSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/trash`, what);
      return parsed.data.moved;
    },
    async untrash(sha256s, signal) {
      const what = "restore files from the vault's trash";
      const body = await call('POST', 'api/v1/trash/restore', what, { sha256: sha256s }, signal);
      const parsed = trashRestoreResponseSchema.safeParse(body);
      if (!parsed.success) throw notUnderstood(`${base}/api/v1/trash/restore`, what);
      return parsed.data.restored;
    },
    close() {
      if (options.http === undefined) http.destroy();
    },
  };
}

/**
 * Consecutive groups within the vault's limits for one request: MAX_METADATA_BATCH_ITEMS
 * items and MAX_METADATA_BATCH_BYTES of JSON body (an item alone is at most 64 KiB).
 */
function metadataGroups<T>(items: readonly T[]): T[][] {
  const limit = MAX_METADATA_BATCH_BYTES - 1024; // room for the envelope
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (
      current.length > 0 &&
      (current.length >= MAX_METADATA_BATCH_ITEMS || bytes + size > limit)
    ) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** A 2xx answer that does not say what the protocol says: retried like a vault fault. */
function notUnderstood(url: string, what: string): UploadHttpError {
  return errorForStatus(
    {
      method: 'POST',
      url,
      status: 502,
      body: 'the answer does not follow common/vault-protocol.ts',
      retryAfter: undefined,
      nowMs: Date.now(),
    },
    what,
  );
}

/**
 * The per-item results of a metadata batch, checked against what was sent: one result per
 * item, same order, same sha256. A reply that does not line up is the vault's bug; it is
 * reported as a retryable failure of the whole batch rather than trusted item by item.
 */
function parseMetadataResults(
  body: unknown,
  sent: readonly { sha256: string }[],
  url: string,
): MetadataItemResult[] {
  const what = 'send metadata to the vault';
  const parsed = metadataBatchResponseSchema.safeParse(body);
  if (!parsed.success || parsed.data.results.length !== sent.length) {
    throw notUnderstood(url, what);
  }
  return parsed.data.results.map((r, i): MetadataItemResult => {
    const expected = sent[i]?.sha256;
    if (expected === undefined || r.sha256.toLowerCase() !== expected)
      throw notUnderstood(url, what);
    return {
      sha256: expected,
      status: r.status,
      ...(r.field !== undefined ? { field: r.field } : {}),
      ...(r.message !== undefined ? { message: r.message } : {}),
    };
  });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function typeBucket(v: unknown): { assets: number; bytes: number } {
  const o = (v ?? {}) as Record<string, unknown>;
  return { assets: num(o.assets), bytes: num(o.bytes) };
}

/** Accepts the vault's usage body and returns the contract's shape (missing fields as 0). */
function normaliseUsage(body: Record<string, unknown>): VaultUsage {
  const byType = (body.byType ?? {}) as Record<string, unknown>;
  return {
    assets: num(body.assets),
    bytes: num(body.bytes),
    dedupSavedBytes: num(body.dedupSavedBytes),
    byType: {
      image: typeBucket(byType.image),
      video: typeBucket(byType.video),
      other: typeBucket(byType.other),
    },
    quotaBytes: typeof body.quotaBytes === 'number' ? body.quotaBytes : null,
  };
}
