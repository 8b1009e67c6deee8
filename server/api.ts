// The vault's JSON API under /api/v1/ (the bearer token is checked by the router before any
// of this runs). Every handler validates its whole input before it changes anything, so a
// rejected request leaves the index exactly as it was; every error is a VaultHttpError
// answered as {"error", "message"}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AssetJson,
  checkRequestSchema,
  firstIssue,
  MAX_METADATA_BATCH_BYTES,
  MAX_METADATA_BATCH_ITEMS,
  mediaMetadataSchema,
  metadataBatchEnvelopeSchema,
  type MetadataBatchResponse,
  type MetadataItemResult,
  type CheckResponse,
  MAX_CHECK_HASHES,
  SHA256_HEX,
  type Usage,
} from '../common/vault-protocol.js';
import { createAlbumsApi } from './albums-api.js';
import type { AssetConverter } from './asset-convert.js';
import { serveAssetVideo } from './asset-video.js';
import { createGroupsApi } from './groups-api.js';
import type { AssetHealth } from './asset-health.js';
import type { Principal } from './devices.js';
import type { BlobStore } from './blob-store.js';
import { VaultHttpError } from './http-error.js';
import type { AssetRecord, VaultIndex } from './index/vault-index.js';
import { createLibraryApi } from './library-api.js';
import { createLocationsApi } from './locations-api.js';
import { createSimilarApi } from './similar-api.js';
import type { createPreviewsApi } from './previews-api.js';
import type { createTrashApi } from './trash.js';
import { MAX_METADATA_BYTES, parseMetadataBody } from './metadata-schema.js';
import type { VaultMetrics } from './metrics.js';
import { serveVerifiedContent } from './verified-content.js';
import { createVerifyApi } from './verify-api.js';

export const API_PREFIX = '/api/v1/';
const MAX_CHECK_BODY_BYTES = 128 * 1024;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export interface ApiDeps {
  index: VaultIndex;
  blobs: BlobStore;
  quotaBytes: number | null;
  now: () => number;
  health: AssetHealth;
  metrics: VaultMetrics;
  /** POST /api/v1/batch (batch-api.ts) */
  batch: {
    handle(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void>;
  };
  /** thumbnails and previews (previews-api.ts) */
  previews: ReturnType<typeof createPreviewsApi>;
  /** the vault's trash (trash.ts) */
  trash: ReturnType<typeof createTrashApi>;
  /** content?format= (asset-convert.ts) */
  convert: AssetConverter;
}

function assetJson(a: AssetRecord): AssetJson {
  return {
    sha256: a.sha256,
    size: a.size,
    mime: a.mime,
    kind: a.kind,
    filename: a.filename,
    relpath: a.relpath,
    mtimeMs: a.mtimeMs,
    firstUploadedAt: a.firstUploadedAt,
    metadata: a.metadata,
    group: a.group === null ? null : { id: String(a.group.id), role: a.group.role },
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: VaultHttpError): void {
  const text = err.body();
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  };
  if (err.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="keepsake-vault"';
  // A request body we refused is not read: close the connection rather than drain it.
  if (err.status === 413) headers.Connection = 'close';
  res.writeHead(err.status, headers);
  res.end(text);
}

/** Reads a request body up to `limit` bytes; 413 beyond it (checked before reading when declared). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw new VaultHttpError(
      413,
      'payload_too_large',
      `the request body is limited to ${limit} bytes`,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      throw new VaultHttpError(
        413,
        'payload_too_large',
        `the request body is limited to ${limit} bytes`,
      );
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new VaultHttpError(400, 'invalid_json', 'the request body is not valid JSON');
  }
}

function requireSha256(value: string): string {
  if (!SHA256_HEX.test(value)) {
    throw new VaultHttpError(400, 'invalid_sha256', 'a sha256 must be 64 lowercase hex characters');
  }
  return value;
}

function methodNotAllowed(allowed: string): never {
  throw new VaultHttpError(405, 'method_not_allowed', `this resource answers ${allowed} only`);
}

type ParsedRange = { start: number; end: number } | 'unsatisfiable' | null;

/** One `bytes=` range (RFC 9110 14.1.2); several ranges are answered with the whole body. */
export function parseRange(header: string | undefined, size: number): ParsedRange {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export function createApi(deps: ApiDeps) {
  const { index } = deps;

  async function check(req: IncomingMessage, res: ServerResponse) {
    const body = parseJson(await readBody(req, MAX_CHECK_BODY_BYTES));
    const list = (body as { sha256?: unknown } | null)?.sha256;
    if (typeof body !== 'object' || body === null || !Array.isArray(list)) {
      throw new VaultHttpError(400, 'bad_request', 'expected {"sha256": [...]}');
    }
    if (list.length > MAX_CHECK_HASHES) {
      throw new VaultHttpError(
        413,
        'payload_too_large',
        `at most ${MAX_CHECK_HASHES} hashes per check (got ${list.length})`,
      );
    }
    const parsed = checkRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new VaultHttpError(
        400,
        'invalid_sha256',
        'every sha256 must be 64 lowercase hex characters',
      );
    }
    // Damaged and missing content is not present: clients holding it upload it again.
    const { trashed, ...held } = await deps.health.presence([...new Set(parsed.data.sha256)]);
    // `trashed` only when there is any: the answer stays what older clients know.
    const reply: CheckResponse = trashed.length > 0 ? { ...held, trashed } : held;
    sendJson(res, 200, reply);
  }

  async function list(url: URL, res: ServerResponse) {
    const limitRaw = url.searchParams.get('limit');
    const after = url.searchParams.get('after');
    let limit = DEFAULT_PAGE;
    if (limitRaw !== null) {
      if (!/^\d{1,4}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > MAX_PAGE) {
        throw new VaultHttpError(
          400,
          'bad_request',
          `limit must be an integer from 1 to ${MAX_PAGE}`,
        );
      }
      limit = Number(limitRaw);
    }
    let afterId = 0;
    if (after !== null && after !== '') {
      if (!/^\d{1,15}$/.test(after)) {
        throw new VaultHttpError(
          400,
          'invalid_cursor',
          'after must be a cursor returned as "next" by this listing',
        );
      }
      afterId = Number(after);
    }
    // One row more than asked tells whether another page exists: `next` is null exactly
    // at the end, so a client never fetches an empty page.
    const page = await index.listAssets(afterId, limit + 1);
    const more = page.assets.length > limit;
    const assets = more ? page.assets.slice(0, limit) : page.assets;
    sendJson(res, 200, {
      assets: assets.map((a) => assetJson(a.record)),
      next: more ? String(assets.at(-1)?.id) : null,
    });
  }

  async function getAsset(sha256: string): Promise<AssetRecord> {
    const asset = await index.getAsset(sha256);
    if (!asset)
      throw new VaultHttpError(404, 'not_found', 'the vault holds no asset with this sha256');
    return asset;
  }

  async function putMetadata(sha256: string, req: IncomingMessage, res: ServerResponse) {
    await getAsset(sha256);
    const metadata = parseMetadataBody(await readBody(req, MAX_METADATA_BYTES));
    if (!(await index.setMetadata(sha256, JSON.stringify(metadata), deps.now()))) {
      await getAsset(sha256);
    }
    sendJson(res, 200, assetJson(await getAsset(sha256)));
  }

  /**
   * POST /api/v1/metadata: many assets' metadata at once. Each item is checked on its own: an
   * invalid one is refused naming its first invalid field, an unknown asset is reported, and
   * the valid ones are stored together in one synced commit before the answer.
   */
  async function metadataBatch(req: IncomingMessage, res: ServerResponse) {
    const envelope = metadataBatchEnvelopeSchema.safeParse(
      parseJson(await readBody(req, MAX_METADATA_BATCH_BYTES)),
    );
    if (!envelope.success) {
      throw new VaultHttpError(
        400,
        'bad_request',
        `expected {"items": [{"sha256", "metadata"}]} with 1 to ${MAX_METADATA_BATCH_ITEMS} items: ${firstIssue(envelope.error).message}`,
      );
    }
    const results: MetadataItemResult[] = [];
    const valid: { at: number; sha256: string; json: string }[] = [];
    for (const item of envelope.data.items) {
      const parsed = mediaMetadataSchema.safeParse(item.metadata);
      if (!parsed.success) {
        const { field, message } = firstIssue(parsed.error);
        results.push({ sha256: item.sha256, status: 'refused', field, message });
        continue;
      }
      const json = JSON.stringify(parsed.data);
      if (Buffer.byteLength(json) > MAX_METADATA_BYTES) {
        results.push({
          sha256: item.sha256,
          status: 'refused',
          field: '',
          message: `metadata is limited to ${MAX_METADATA_BYTES} bytes`,
        });
        continue;
      }
      valid.push({ at: results.length, sha256: item.sha256, json });
      results.push({ sha256: item.sha256, status: 'stored' });
    }
    const stored = await index.setMetadataMany(valid, deps.now());
    valid.forEach((v, i) => {
      if (!stored[i]) results[v.at] = { sha256: v.sha256, status: 'unknown_asset' };
    });
    const reply: MetadataBatchResponse = { results };
    sendJson(res, 200, reply);
  }

  async function content(sha256: string, req: IncomingMessage, res: ServerResponse, url: URL) {
    const format = url.searchParams.get('format');
    const asset = await getAsset(sha256);
    if (format !== null) return deps.convert.serve(asset, format, req, res);
    return serveVerifiedContent(deps, asset, req, res);
  }

  async function usage(res: ServerResponse) {
    const reply: Usage = {
      ...(await index.usage()),
      byDevice: await index.locations.byDevice(),
      quotaBytes: deps.quotaBytes,
      reservedBytes: await index.reservedBytes(),
    };
    sendJson(res, 200, reply);
  }

  const locations = createLocationsApi({ index, now: deps.now });
  const verifyApi = createVerifyApi({ index, health: deps.health });
  const albums = createAlbumsApi({ index, now: deps.now });
  const library = createLibraryApi({ index });
  const groups = createGroupsApi({ index, now: deps.now });
  const similar = createSimilarApi({ index });

  /** Routes one /api/v1/ request; throws VaultHttpError for the router to answer. */
  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    principal: Principal,
  ): Promise<void> {
    const rest = url.pathname.slice(API_PREFIX.length);
    let parts: string[];
    try {
      parts = rest.split('/').map((p) => decodeURIComponent(p));
    } catch {
      throw new VaultHttpError(
        400,
        'invalid_path',
        'the request path is not valid percent-encoding',
      );
    }
    const method = req.method ?? 'GET';
    const [p0, p1, p2, ...extra] = parts;
    if (p0 === 'usage' && parts.length === 1) {
      if (method !== 'GET') methodNotAllowed('GET');
      return usage(res);
    }
    if (p0 === 'metadata' && parts.length === 1) {
      if (method !== 'POST') methodNotAllowed('POST');
      return metadataBatch(req, res);
    }
    if (p0 === 'batch' && parts.length === 1) {
      if (method !== 'POST') methodNotAllowed('POST');
      return deps.batch.handle(req, res, principal);
    }
    if (p0 === 'locations') return locations.handle(req, res, url, parts.slice(1), principal);
    if (p0 === 'albums') return albums.handle(req, res, url, parts.slice(1));
    if (p0 === 'library') return library.handle(req, res, url, parts.slice(1));
    if (p0 === 'groups') return groups.handle(req, res, url, parts.slice(1), principal);
    if (p0 === 'similar') return similar.handle(req, res, url, parts.slice(1));
    if (p0 === 'trash') return deps.trash.handle(req, res, url, parts.slice(1), principal);
    if (p0 === 'verify' && parts.length === 1) {
      if (method !== 'POST') methodNotAllowed('POST');
      return verifyApi.verify(req, res);
    }
    if (p0 === 'assets') {
      if (parts.length === 1 || (parts.length === 2 && p1 === '')) {
        if (method !== 'GET') methodNotAllowed('GET');
        return list(url, res);
      }
      if (p1 === 'check' && parts.length === 2) {
        if (method !== 'POST') methodNotAllowed('POST');
        return check(req, res);
      }
      if (p1 !== undefined && extra.length === 0) {
        const sha256 = requireSha256(p1);
        if (p2 === undefined) {
          if (method !== 'GET') methodNotAllowed('GET');
          return sendJson(res, 200, assetJson(await getAsset(sha256)));
        }
        if (p2 === 'metadata') {
          if (method !== 'PUT') methodNotAllowed('PUT');
          return putMetadata(sha256, req, res);
        }
        if (p2 === 'content') {
          if (method !== 'GET' && method !== 'HEAD') methodNotAllowed('GET, HEAD');
          return content(sha256, req, res, url);
        }
        if (p2 === 'video') {
          if (method !== 'GET' && method !== 'HEAD') methodNotAllowed('GET, HEAD');
          return serveAssetVideo(deps, await getAsset(sha256), req, res);
        }
        if (p2 === 'thumbnail' || p2 === 'preview') {
          if (method !== 'GET' && method !== 'HEAD') methodNotAllowed('GET, HEAD');
          await getAsset(sha256);
          return deps.previews.picture(sha256, p2, req, res);
        }
        if (p2 === 'previews') {
          if (method !== 'GET') methodNotAllowed('GET');
          await getAsset(sha256);
          return sendJson(res, 200, await deps.previews.status(sha256));
        }
        if (p2 === 'health') {
          if (method !== 'GET') methodNotAllowed('GET');
          return sendJson(res, 200, await deps.health.receipt(await getAsset(sha256)));
        }
      }
    }
    throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
  }

  return { handle };
}
