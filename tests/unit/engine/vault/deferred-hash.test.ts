// [Note: Hash while sending] (main/engine/vault/tus-uploader.ts): a large file that comes
// unhashed is read once, hashed on the way, and its digest declared on the final PATCH; the
// hash survives short PATCHes, cuts and a restart from a persisted offset.
import assert from 'node:assert/strict';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { type TusUploader, createTusUploader } from '../../../../main/engine/vault/tus-uploader.js';
import type { UploadJob } from '../../../../main/engine/vault/types.js';
import { makeTempDir } from '../../../support/paths.js';
import { jobFor, randomFile, recordingCallbacks } from '../../../support/upload-fixtures.js';
import {
  type ScriptedTusServer,
  contentOf,
  startScriptedTusServer,
} from './scripted-tus-server.js';

const KiB = 1024;
const TOKEN = 'deferred-token';

describe('large files hashed while sending', () => {
  let server: ScriptedTusServer;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let hashed: UploadJob & { sha256: string };
  let unhashed: UploadJob;
  let uploaders: TusUploader[] = [];

  before(async () => {
    server = await startScriptedTusServer();
    tmp = await makeTempDir('keepsake-deferred-');
  });
  after(async () => {
    for (const u of uploaders) await u.close();
    await server?.close();
    await tmp?.cleanup();
  });
  beforeEach(async () => {
    for (const u of uploaders) await u.close();
    uploaders = [];
    server.script = () => undefined;
    server.requests.length = 0;
    hashed = await jobFor(await randomFile(join(tmp.dir, 'video.mp4'), 350 * KiB + 7));
    unhashed = { ...hashed, sha256: null };
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
  const run = (u: TusUploader, j: UploadJob, rec = recordingCallbacks()) =>
    u.upload(j, rec, new AbortController().signal);
  const stored = (url: string) => contentOf(server.uploads.get(url.split('/').pop() ?? ''));
  const patches = () => server.requests.filter((r) => r.method === 'PATCH');

  it('declares the hash on the final PATCH only, and returns the hash the vault verified', async () => {
    const result = await run(uploader(), unhashed);
    assert.equal(result.sha256, hashed.sha256);
    assert.ok(stored(result.uploadUrl).equals(await readFile(hashed.path)));
    const post = server.requests.find((r) => r.method === 'POST');
    assert.equal(post?.headers['keepsake-deferred-hash'], '1');
    assert.doesNotMatch(String(post?.headers['upload-metadata']), /sha256/);
    const declared = patches().map((p) => p.headers['keepsake-sha256']);
    assert.deepEqual(declared, [undefined, undefined, undefined, hashed.sha256]);
    assert.equal(
      patches().reduce((n, p) => n + p.bodyBytes, 0),
      hashed.size,
      'every byte sent once',
    );
  });

  it('a PATCH the vault stored only part of: the hash still names exactly the file', async () => {
    let seen = 0;
    server.script = (req) =>
      req.method === 'PATCH' && ++seen === 2 ? { status: 204, storeBytes: 10 * KiB } : undefined;
    const result = await run(uploader(), unhashed);
    assert.equal(result.sha256, hashed.sha256);
    assert.ok(stored(result.uploadUrl).equals(await readFile(hashed.path)));
  });

  it('a connection cut mid-PATCH: resumed from the server offset, the hash still right', async () => {
    let seen = 0;
    server.script = (req) => (req.method === 'PATCH' && ++seen === 3 ? 'destroy' : undefined);
    const result = await run(uploader(), unhashed);
    assert.equal(result.sha256, hashed.sha256);
    assert.equal(patches().at(-1)?.headers['keepsake-sha256'], hashed.sha256);
  });

  it('after a restart from the persisted offset: nothing confirmed is sent again', async () => {
    const stop = new AbortController();
    const rec = recordingCallbacks();
    const first = uploader();
    let seen = 0;
    server.script = (req) => (req.method === 'PATCH' && ++seen === 3 ? 'hang' : undefined);
    const pending = first.upload(unhashed, rec, stop.signal);
    while (patches().length < 3) await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
    const url = rec.created[0] ?? '';
    const offset = rec.offsets.at(-1) ?? 0;
    assert.equal(offset, 200 * KiB);
    server.script = () => undefined;
    server.requests.length = 0;
    const result = await run(uploader(), { ...unhashed, resume: { uploadUrl: url, offset } });
    assert.equal(result.sha256, hashed.sha256);
    assert.equal(result.uploadUrl, url);
    assert.equal(
      patches().reduce((n, p) => n + p.bodyBytes, 0),
      hashed.size - offset,
      'only the unconfirmed rest was sent',
    );
  });

  it('a file rewritten between chunks is refused as file_changed, never stored as done', async () => {
    let seen = 0;
    let rewritten: Promise<void> = Promise.resolve();
    server.script = (req) => {
      if (req.method === 'PATCH' && ++seen === 2) {
        const later = new Date(hashed.mtimeMs + 5000);
        rewritten = writeFile(hashed.path, Buffer.alloc(hashed.size, 7)).then(() =>
          utimes(hashed.path, later, later),
        );
      }
      return undefined;
    };
    const rec = recordingCallbacks();
    const err = await run(uploader(), unhashed, rec).catch((e: unknown) => e);
    await rewritten;
    assert.ok(err instanceof KeepsakeError, String(err));
    assert.equal(err.code, 'file_changed');
    assert.ok(!patches().some((p) => p.headers['keepsake-sha256'] !== undefined));
  });

  it('a file of one chunk or less is hashed first and sent the old way (sha256 in Upload-Metadata)', async () => {
    const small = await jobFor(await randomFile(join(tmp.dir, 'photo.jpg'), 50 * KiB));
    const result = await run(uploader(), { ...small, sha256: null });
    assert.equal(result.sha256, small.sha256);
    const post = server.requests.find((r) => r.method === 'POST');
    assert.equal(post?.headers['keepsake-deferred-hash'], undefined);
    const meta = String(post?.headers['upload-metadata']);
    assert.match(meta, new RegExp(`sha256 ${Buffer.from(small.sha256).toString('base64')}`));
  });

  it('a hashed job keeps the old way and also declares its hash on the final PATCH', async () => {
    const result = await run(uploader(), hashed);
    assert.equal(result.sha256, hashed.sha256);
    const post = server.requests.find((r) => r.method === 'POST');
    assert.equal(post?.headers['keepsake-deferred-hash'], undefined);
    assert.equal(patches().at(-1)?.headers['keepsake-sha256'], hashed.sha256);
  });

  it('a plain tus server (no token) gets no Keepsake headers; the hash comes back all the same', async () => {
    const result = await run(uploader({ token: null }), unhashed);
    assert.equal(result.sha256, hashed.sha256);
    for (const r of server.requests) {
      assert.equal(r.headers['keepsake-deferred-hash'], undefined);
      assert.equal(r.headers['keepsake-sha256'], undefined);
    }
  });
});
