// The vault's JSON API as the engine uses it (not tus: that is tus-uploader.ts): the dedup
// check in batches of up to 1,000 hashes, metadata (one asset, or many in one request),
// usage, and health. Every call goes through the engine's one HTTP client (http-client.ts:
// proxy and CA bundle for all), takes an AbortSignal, and turns failures into KeepsakeErrors
// through the one response table (response-table.ts), so a status means the same here as
// during an upload.
import type { Response } from 'got';
import type { VaultUsage } from '../../../common/contract.js';
import type { MediaMetadata } from '../metadata/types.js';
import { type HttpClient, createHttpClient } from './http-client.js';
import { errorForNetworkFault, errorForStatus } from './response-table.js';

export const checkBatchSize = 1000;
/** The most items the vault takes in one POST /api/v1/metadata (BATCH-PROTOCOL.md §3). */
export const metadataBatchSize = 500;

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

/** What the vault said of one item of a metadata batch. */
export interface MetadataItemResult {
  sha256: string;
  status: 'stored' | 'refused' | 'unknown_asset';
  /** For 'refused': the MediaMetadata field the vault would not take (drop it and resend). */
  field?: string;
  message?: string;
}

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
  /** true when /healthz answers 2xx. Never throws. */
  health(signal?: AbortSignal): Promise<boolean>;
  close(): void;
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
  async function call(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    what: string,
    json: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const url = `${base}/${path}`;
    let res: Response<string>;
    try {
      res = await http.got(url, {
        method,
        headers: { authorization: `Bearer ${options.token}` },
        ...(json === undefined ? {} : { json }),
        ...(signal ? { signal } : {}),
        timeout: { request: timeoutMs },
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
        const body = (await call(
          'POST',
          'api/v1/assets/check',
          'check which files the vault holds',
          { sha256: batch },
          signal,
        )) as { present?: unknown };
        if (Array.isArray(body.present)) {
          for (const s of body.present) if (typeof s === 'string') present.add(s.toLowerCase());
        }
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
      for (let i = 0; i < items.length; i += metadataBatchSize) {
        const batch = items.slice(i, i + metadataBatchSize);
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
      return normaliseUsage((body ?? {}) as Record<string, unknown>);
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
    close() {
      if (options.http === undefined) http.destroy();
    },
  };
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
  const results = (body as { results?: unknown } | null)?.results;
  const bad = (why: string): never => {
    throw errorForStatus(
      {
        method: 'POST',
        url,
        status: 502,
        body: why,
        retryAfter: undefined,
        nowMs: Date.now(),
      },
      'send metadata to the vault',
    );
  };
  if (!Array.isArray(results) || results.length !== sent.length) {
    return bad(`expected ${sent.length} results`);
  }
  return results.map((r: unknown, i): MetadataItemResult => {
    const o = (r ?? {}) as Record<string, unknown>;
    const expected = sent[i]?.sha256;
    if (typeof o.sha256 !== 'string' || o.sha256.toLowerCase() !== expected) {
      return bad(`result ${i} is not for ${expected}`);
    }
    if (o.status !== 'stored' && o.status !== 'refused' && o.status !== 'unknown_asset') {
      return bad(`result ${i} has status ${String(o.status)}`);
    }
    return {
      sha256: expected,
      status: o.status,
      ...(typeof o.field === 'string' ? { field: o.field } : {}),
      ...(typeof o.message === 'string' ? { message: o.message } : {}),
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
