// Every row of [Note: Upload response table] (main/engine/vault/response-table.ts), each
// against a real loopback server answering what the row needs.
import assert from 'node:assert/strict';
import { appendFile, truncate, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type ErrorCode, KeepsakeError } from '../../../../main/engine/errors.js';
import type { MediaMetadata } from '../../../../main/engine/metadata/types.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import {
  UploadHttpError,
  isDeviceRevoked,
  parseRetryAfter,
} from '../../../../main/engine/vault/response-table.js';
import { type TusUploader, createTusUploader } from '../../../../main/engine/vault/tus-uploader.js';
import type { UploadJob } from '../../../../main/engine/vault/types.js';
import { type VaultClient, createVaultClient } from '../../../../main/engine/vault/vault-client.js';
import { makeTempDir } from '../../../support/paths.js';
import { jobFor, randomFile, recordingCallbacks } from '../../../support/upload-fixtures.js';
import {
  type ScriptedTusServer,
  contentOf,
  startScriptedTusServer,
} from './scripted-tus-server.js';

const KiB = 1024;
const TOKEN = 'secret-token-never-shown';

describe('the upload response table', () => {
  let server: ScriptedTusServer;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let job: UploadJob;
  let uploaders: TusUploader[] = [];

  before(async () => {
    server = await startScriptedTusServer();
    tmp = await makeTempDir('keepsake-upload-table-');
    job = await jobFor(await randomFile(join(tmp.dir, 'photo.jpg'), 300 * KiB));
  });
  after(async () => {
    await server?.close();
    await tmp?.cleanup();
  });
  beforeEach(async () => {
    for (const u of uploaders) await u.close();
    uploaders = [];
    server.script = () => undefined;
    server.requests.length = 0;
  });

  const uploader = (extra: Partial<Parameters<typeof createTusUploader>[0]> = {}) => {
    const u = createTusUploader({
      endpoint: server.url,
      token: TOKEN,
      chunkSizeBytes: 100 * KiB,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 50,
      idleTimeoutMs: 500,
      maxNetworkRetries: 5,
      ...extra,
    });
    uploaders.push(u);
    return u;
  };
  const run = (u: TusUploader, j: UploadJob = job, rec = recordingCallbacks()) =>
    u.upload(j, rec, new AbortController().signal);
  const stored = (url: string) => contentOf(server.uploads.get(url.split('/').pop() ?? ''));
  const methods = () => server.requests.map((r) => r.method);
  /** Answers `override` to the n-th request of `method` (1-based), normally otherwise. */
  const onNth = (method: string, n: number, override: ReturnType<ScriptedTusServer['script']>) => {
    let seen = 0;
    server.script = (req) => (req.method === method && ++seen === n ? override : undefined);
  };

  it('persists the upload URL before sending data, sends the bearer token and tus headers', async () => {
    const rec = recordingCallbacks();
    let patchesWhenCreated = -1;
    const onCreated = rec.onCreated.bind(rec);
    rec.onCreated = (url) => {
      patchesWhenCreated = server.requests.filter((r) => r.method === 'PATCH').length;
      onCreated(url);
    };
    const result = await run(uploader(), job, rec);
    assert.equal(patchesWhenCreated, 0, 'onCreated came before any PATCH');
    assert.equal(server.requests[0]?.bodyBytes, 0, 'a multi-chunk file is created empty');
    assert.equal(stored(result.uploadUrl).length, job.size);
    assert.deepEqual(methods(), ['POST', 'PATCH', 'PATCH', 'PATCH']);
    for (const r of server.requests) {
      assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(r.headers['tus-resumable'], '1.0.0');
    }
  });

  it('network reset: retries, HEADs for the server offset, and completes', async () => {
    onNth('PATCH', 2, 'destroy');
    const result = await run(uploader());
    assert.equal(
      stored(result.uploadUrl).toString('hex'),
      (await readAll(job.path)).toString('hex'),
    );
    assert.deepEqual(methods(), ['POST', 'PATCH', 'PATCH', 'HEAD', 'PATCH', 'PATCH']);
  });

  it('idle timeout (a server that never answers): retries after the idle timeout', async () => {
    onNth('PATCH', 1, 'hang');
    const started = performance.now();
    const result = await run(uploader({ idleTimeoutMs: 300 }));
    assert.equal(stored(result.uploadUrl).length, job.size);
    assert.ok(performance.now() - started >= 250);
    assert.ok(methods().includes('HEAD'));
  });

  it('409: HEADs and continues from the server offset', async () => {
    onNth('PATCH', 2, { status: 409 });
    const result = await run(uploader());
    assert.equal(stored(result.uploadUrl).length, job.size);
    assert.deepEqual(methods(), ['POST', 'PATCH', 'PATCH', 'HEAD', 'PATCH', 'PATCH']);
  });

  it('404 on PATCH: starts a new upload and reports its URL', async () => {
    onNth('PATCH', 2, { status: 404 });
    const rec = recordingCallbacks();
    const result = await run(uploader(), job, rec);
    assert.equal(rec.created.length, 2);
    assert.equal(result.uploadUrl, rec.created[1]);
    assert.equal(stored(result.uploadUrl).length, job.size);
  });

  it('410 on the resume HEAD: starts a new upload', async () => {
    const rec = recordingCallbacks();
    server.script = (req) => (req.method === 'HEAD' ? { status: 410 } : undefined);
    const result = await run(
      uploader(),
      { ...job, resume: { uploadUrl: `${server.url}/files/999`, offset: 1000 } },
      rec,
    );
    assert.deepEqual(methods().slice(0, 2), ['HEAD', 'POST']);
    assert.equal(rec.created.length, 1);
    assert.equal(stored(result.uploadUrl).length, job.size);
  });

  it('423: waits and retries', async () => {
    onNth('PATCH', 1, { status: 423 });
    const result = await run(uploader());
    assert.equal(stored(result.uploadUrl).length, job.size);
  });

  it('429 with Retry-After seconds: waits that long before retrying', async () => {
    onNth('PATCH', 1, { status: 429, headers: { 'retry-after': '1' } });
    const result = await run(uploader());
    assert.equal(stored(result.uploadUrl).length, job.size);
    const patches = server.requests.filter((r) => r.method !== 'POST');
    const gap = (patches[1]?.at ?? 0) - (patches[0]?.at ?? 0);
    assert.ok(gap >= 900, `retried after ${gap} ms, Retry-After said 1 s`);
  });

  it('503 with Retry-After as an HTTP date: honoured', async () => {
    const at = new Date(Date.now() + 2000).toUTCString();
    onNth('PATCH', 1, { status: 503, headers: { 'retry-after': at } });
    const result = await run(uploader());
    assert.equal(stored(result.uploadUrl).length, job.size);
    const patches = server.requests.filter((r) => r.method !== 'POST');
    assert.ok((patches[1]?.at ?? 0) - (patches[0]?.at ?? 0) >= 500);
    assert.equal(parseRetryAfter('120', 0), 120_000);
    assert.equal(parseRetryAfter('soon', 0), null);
  });

  it('a 204 whose Upload-Offset is short: the rest is re-sent from the server offset', async () => {
    onNth('PATCH', 1, { status: 204, storeBytes: 10 * KiB });
    const rec = recordingCallbacks();
    const result = await run(uploader(), job, rec);
    assert.equal(stored(result.uploadUrl).equals(await readAll(job.path)), true);
    assert.equal(rec.offsets[0], 10 * KiB);
    assert.equal(server.requests[2]?.headers['upload-offset'], String(10 * KiB));
  });

  it('460: verification_failed, never success', async () => {
    const lying = { ...job, sha256: 'f'.repeat(64) };
    const err = await run(uploader(), lying).catch((e: unknown) => e);
    assert.ok(err instanceof UploadHttpError, String(err));
    assert.equal(err.code, 'verification_failed');
    assert.equal(err.status, 460);
    assert.equal(err.method, 'PATCH');
    assert.match(err.responseBody, /checksum_mismatch/);
  });

  for (const status of [401, 403]) {
    it(`${status}: sign_in_needed, and the token never appears in the error`, async () => {
      server.script = () => ({ status, body: '{"error":"bad token"}' });
      const err = await run(uploader()).catch((e: unknown) => e);
      assert.ok(err instanceof UploadHttpError);
      assert.equal(err.code, 'sign_in_needed');
      assert.ok(!JSON.stringify({ ...err, message: err.message }).includes(TOKEN));
      assert.equal(server.requests.length, 1, 'no retry of a refused token');
    });
  }

  it('401 device_revoked: sign_in_needed with the vault\'s "this device was revoked", no retry', async () => {
    server.script = () => ({
      status: 401,
      body: '{"error":"device_revoked","message":"this device was revoked by the vault\'s administrator"}',
    });
    const err = await run(uploader()).catch((e: unknown) => e);
    assert.ok(err instanceof UploadHttpError);
    assert.equal(err.code, 'sign_in_needed');
    assert.match(err.message, /this device was revoked/);
    assert.ok(isDeviceRevoked(err));
    assert.equal(server.requests.length, 1, 'no retry of a revoked device');
  });

  it('413: too_large, "larger than the vault accepts"', async () => {
    server.script = () => ({ status: 413 });
    const err = await run(uploader()).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'too_large');
    assert.match(err.message, /larger than the vault accepts/);
  });

  it('507: vault_full', async () => {
    server.script = () => ({ status: 507, body: '{"error":"quota_exceeded"}' });
    const err = await run(uploader()).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'vault_full');
  });

  it("another 4xx: upload_rejected with the server's message", async () => {
    server.script = () => ({ status: 400, body: '{"error":"filename has a path separator"}' });
    const err = await run(uploader()).catch((e: unknown) => e);
    assert.ok(err instanceof UploadHttpError);
    assert.equal(err.code, 'upload_rejected');
    assert.match(err.message, /filename has a path separator/);
    assert.equal(err.status, 400);
    assert.equal(server.requests.length, 1);
  });

  it('5xx that persists: gives up after maxNetworkRetries with a retryable network error', async () => {
    server.script = (req) => (req.method === 'PATCH' ? { status: 500 } : undefined);
    const err = await run(uploader({ maxNetworkRetries: 3 })).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'network');
    assert.equal(err.retryable, true);
    assert.equal(server.requests.filter((r) => r.method === 'PATCH').length, 4);
  });

  it('an unreachable vault: network error after the retries, never a hang', async () => {
    const dead = await startScriptedTusServer();
    const url = dead.url;
    await dead.close();
    const u = uploader({ endpoint: url, maxNetworkRetries: 2 });
    const err = await run(u).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'network');
  });

  it('file_changed: a file modified on disk after hashing is refused and its upload terminated', async () => {
    const path = await randomFile(join(tmp.dir, 'changing.jpg'), 300 * KiB);
    const changing = await jobFor(path);
    let grew = false;
    server.script = (req) => {
      if (req.method === 'PATCH' && !grew) {
        grew = true;
        void appendFile(path, 'more');
      }
      return undefined;
    };
    const rec = recordingCallbacks();
    const err = await run(uploader(), changing, rec).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'file_changed');
    assert.ok(methods().includes('DELETE'), 'the stale partial is terminated');
    const id = rec.created[0]?.split('/').pop() ?? '';
    assert.ok(id !== '' && !server.uploads.has(id));
  });

  it('file_changed: same size but a new mtime before the upload starts', async () => {
    const path = await randomFile(join(tmp.dir, 'touched.jpg'), 1000);
    const touched = await jobFor(path);
    await utimes(path, new Date(), new Date(Date.now() + 5000));
    const err = await run(uploader(), touched).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'file_changed');
  });

  it('file_changed: a file truncated after hashing is never sent short', async () => {
    const path = await randomFile(join(tmp.dir, 'shrinking.jpg'), 300 * KiB);
    const shrinking = await jobFor(path);
    await truncate(path, 1000);
    const err = await run(uploader(), shrinking).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'file_changed');
  });

  it('a missing file: file_not_found', async () => {
    const err = await run(uploader(), { ...job, path: join(tmp.dir, 'gone.jpg') }).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'file_not_found');
  });

  it('abort (pause) during a request: AbortError within a second, confirmed offset kept', async () => {
    onNth('PATCH', 2, 'hang');
    const stop = new AbortController();
    const rec = recordingCallbacks();
    const u = uploader({ idleTimeoutMs: 30_000 });
    const pending = u.upload(job, rec, stop.signal);
    await waitFor(() => server.requests.filter((r) => r.method === 'PATCH').length === 2);
    const started = performance.now();
    stop.abort();
    await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
    assert.ok(performance.now() - started < 1000);
    assert.deepEqual(rec.offsets, [100 * KiB]);
  });
});

describe('the same table for the JSON calls (dedup check, metadata, usage)', () => {
  let server: ScriptedTusServer;
  let vault: VaultClient;
  before(async () => {
    server = await startScriptedTusServer();
    vault = createVaultClient({ endpoint: server.url, token: TOKEN, timeoutMs: 2000 });
  });
  after(async () => {
    vault?.close();
    await server?.close();
  });
  beforeEach(() => {
    server.script = () => undefined;
    server.requests.length = 0;
  });

  const calls: [string, () => Promise<unknown>][] = [
    ['check', () => vault.check(['a'.repeat(64)])],
    ['metadata', () => vault.putMetadata('a'.repeat(64), meta(1))],
    [
      'metadata batch',
      () => vault.putMetadataBatch([{ sha256: 'a'.repeat(64), metadata: meta(1) }]),
    ],
    ['usage', () => vault.usage()],
  ];
  const rows: [number, ErrorCode, boolean][] = [
    [401, 'sign_in_needed', false],
    [403, 'sign_in_needed', false],
    [413, 'too_large', false],
    [460, 'verification_failed', true],
    [507, 'vault_full', true],
    [423, 'vault_unreachable', true],
    [429, 'vault_unreachable', true],
    [503, 'vault_unreachable', true],
    [500, 'vault_unreachable', true],
    [409, 'upload_rejected', false],
    [404, 'upload_rejected', false],
    [400, 'upload_rejected', false],
    [302, 'upload_rejected', false],
  ];
  for (const [status, code, retryable] of rows) {
    it(`${status}: ${code}${retryable ? ' (retryable)' : ''} on every call, as during an upload`, async () => {
      server.script = () => ({ status, body: '{"error":"said_the_vault","message":"words"}' });
      for (const [name, call] of calls) {
        const err = await call().catch((e: unknown) => e);
        assert.ok(err instanceof UploadHttpError, `${name}: ${String(err)}`);
        assert.equal(err.code, code, name);
        assert.equal(err.retryable, retryable, name);
        assert.equal(err.status, status, name);
        assert.ok(!JSON.stringify({ ...err, message: err.message }).includes(TOKEN));
        if (code === 'upload_rejected') assert.match(err.message, /words/, name);
      }
      assert.equal(server.requests.length, calls.length, 'one request per call, no retry');
    });
  }

  it('an unreachable vault: vault_unreachable, retryable, on every call', async () => {
    const dead = await startScriptedTusServer();
    const gone = createVaultClient({ endpoint: dead.url, token: TOKEN });
    await dead.close();
    try {
      for (const call of [() => gone.check(['a'.repeat(64)]), () => gone.usage()]) {
        const err = await call().catch((e: unknown) => e);
        assert.ok(err instanceof KeepsakeError, String(err));
        assert.equal(err.code, 'vault_unreachable');
        assert.equal(err.retryable, true);
      }
      assert.equal(await gone.health(), false);
    } finally {
      gone.close();
    }
  });

  it('abort: the AbortError, not a vault error', async () => {
    server.script = () => 'hang';
    const stop = new AbortController();
    const pending = vault.check(['a'.repeat(64)], stop.signal);
    await waitFor(() => server.requests.length === 1);
    stop.abort();
    await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
  });

  it('metadata batch: per-item results with the refused field; a reply that does not line up is retried whole', async () => {
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    server.script = () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        results: [
          { sha256: a, status: 'stored' },
          { sha256: b, status: 'refused', field: 'width', message: 'width must be positive' },
        ],
      }),
    });
    const results = await vault.putMetadataBatch([
      { sha256: a, metadata: meta(1) },
      { sha256: b, metadata: meta(-1) },
    ]);
    assert.deepEqual(results, [
      { sha256: a, status: 'stored' },
      { sha256: b, status: 'refused', field: 'width', message: 'width must be positive' },
    ]);
    const sent = server.requests[0];
    assert.equal(sent?.method, 'POST');
    assert.equal(sent?.path, '/api/v1/metadata');

    server.script = () => ({
      status: 200,
      body: JSON.stringify({ results: [{ sha256: b, status: 'stored' }] }),
    });
    const err = await vault
      .putMetadataBatch([{ sha256: a, metadata: meta(1) }])
      .catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'vault_unreachable');
    assert.equal(err.retryable, true);
  });
});

/** A MediaMetadata with only a width (the vault's validation is not under test here). */
function meta(width: number): MediaMetadata {
  return {
    captureTime: null,
    captureTimeSource: null,
    timeZone: null,
    gps: null,
    camera: null,
    width,
    height: null,
    durationSec: null,
    orientation: null,
    mime: null,
  };
}

async function readAll(path: string): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path);
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
