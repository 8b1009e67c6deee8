// The vault's JSON API as the engine uses it (not tus: that is upload/): the dedup check in
// batches of up to 1,000 hashes, metadata PUT, usage, and health. One got instance with a
// keep-alive agent; every call takes an AbortSignal; failures become KeepsakeErrors with the
// codes the queue acts on (sign_in_needed, vault_full, vault_unreachable, upload_rejected).
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { HTTPError, type Got } from 'got';
import type { VaultUsage } from '../../../common/contract.js';
import { KeepsakeError } from '../errors.js';
import type { MediaMetadata } from '../metadata/types.js';

export const checkBatchSize = 1000;

export interface VaultClientOptions {
  /** Vault base URL, e.g. http://127.0.0.1:7420 */
  endpoint: string;
  token: string;
  /** PEM bundle for a corporate TLS-inspecting proxy. */
  caFile?: string;
  /** Per-request timeout for these small JSON calls (ms). */
  timeoutMs?: number;
}

export interface VaultClient {
  readonly endpoint: string;
  /** Which of these hashes the vault already holds (any number; batched by 1,000). */
  check(sha256s: string[], signal?: AbortSignal): Promise<Set<string>>;
  putMetadata(sha256: string, metadata: MediaMetadata, signal?: AbortSignal): Promise<void>;
  usage(signal?: AbortSignal): Promise<VaultUsage>;
  /** true when /healthz answers 2xx. Never throws. */
  health(signal?: AbortSignal): Promise<boolean>;
  close(): void;
}

export function createVaultClient(options: VaultClientOptions): VaultClient {
  const base = options.endpoint.replace(/\/+$/, '');
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 8,
    ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}),
  });
  const client: Got = got.extend({
    prefixUrl: base,
    headers: { authorization: `Bearer ${options.token}` },
    agent: { http: httpAgent, https: httpsAgent },
    timeout: { request: options.timeoutMs ?? 30_000 },
    retry: { limit: 0 },
  });

  async function call<T>(fn: () => Promise<T>, what: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toVaultError(err, what, base);
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
          () =>
            client
              .post('api/v1/assets/check', { json: { sha256: batch }, signal })
              .json<{ present?: unknown }>(),
          'check which files the vault holds',
        );
        if (Array.isArray(body.present)) {
          for (const s of body.present) if (typeof s === 'string') present.add(s.toLowerCase());
        }
      }
      return present;
    },
    async putMetadata(sha256, metadata, signal) {
      await call(
        () => client.put(`api/v1/assets/${sha256}/metadata`, { json: metadata, signal }),
        'send metadata to the vault',
      );
    },
    async usage(signal) {
      const body = await call(
        () => client.get('api/v1/usage', { signal }).json<Record<string, unknown>>(),
        'read the vault usage',
      );
      return normaliseUsage(body);
    },
    async health(signal) {
      try {
        const res = await got.get(`${base}/healthz`, {
          signal,
          agent: { http: httpAgent, https: httpsAgent },
          timeout: { request: 5000 },
          retry: { limit: 0 },
          throwHttpErrors: false,
        });
        return res.statusCode >= 200 && res.statusCode < 300;
      } catch {
        return false;
      }
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
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

function toVaultError(err: unknown, what: string, base: string): unknown {
  if (
    err instanceof Error &&
    (err.name === 'AbortError' || (err as { code?: string }).code === 'ERR_ABORTED')
  ) {
    const abort = new Error('aborted');
    abort.name = 'AbortError';
    return abort;
  }
  if (err instanceof HTTPError) {
    const status = err.response.statusCode;
    if (status === 401 || status === 403) {
      return new KeepsakeError(
        'sign_in_needed',
        'The vault refused the access token: sign in again (check the token).',
        false,
        { cause: err },
      );
    }
    if (status === 507) {
      return new KeepsakeError('vault_full', 'The vault is full.', true, { cause: err });
    }
    if (status >= 500 || status === 429) {
      return new KeepsakeError(
        'vault_unreachable',
        `The vault could not ${what} (HTTP ${status}); will retry.`,
        true,
        { cause: err },
      );
    }
    return new KeepsakeError(
      'upload_rejected',
      `The vault refused the request to ${what} (HTTP ${status}).`,
      false,
      { cause: err },
    );
  }
  return new KeepsakeError(
    'vault_unreachable',
    `Cannot reach the vault at ${base} to ${what}; will retry.`,
    true,
    { cause: err },
  );
}
