// Small files in one request (POST /api/v1/batch): every row of [Note: Batch answers] and
// [Note: A file that changed since it was hashed] (main/engine/vault/batch-upload.ts),
// against a loopback batch server behind the fault proxy, with real corpus files.
import assert from 'node:assert/strict';
import { copyFile, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { splitForLimits } from '../../../../main/engine/vault/batch-upload.js';
import { type TusUploader, createTusUploader } from '../../../../main/engine/vault/tus-uploader.js';
import type { BatchUploadJob } from '../../../../main/engine/vault/types.js';
import { type FaultProxy, startFaultProxy } from '../../../support/fault-proxy.js';
import { corpusFile, makeTempDir } from '../../../support/paths.js';
import { type PlainTusServer, startPlainTusServer } from '../../../support/plain-tus-server.js';
import { jobFor } from '../../../support/upload-fixtures.js';
import { type ScriptedBatchServer, startScriptedBatchServer } from './scripted-batch-server.js';

const TOKEN = 'batch-token';
const CORPUS = [
  'exifr-fixtures/cookiezen.jpg', // 669 KB: the fault tests hit its bytes
  'exifr-fixtures/IMG_20180725_163423-tiny.jpg',
  'exifr-fixtures/issue-exifr-47.jpeg',
  'exifr-fixtures/noexif.jpg',
  'exifr-fixtures/img_1771_no_exif.jpg',
];

describe('small files in batches', () => {
  let server: ScriptedBatchServer;
  let proxy: FaultProxy;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let jobs: BatchUploadJob[];
  let uploaders: TusUploader[] = [];

  before(async () => {
    server = await startScriptedBatchServer();
    proxy = await startFaultProxy({ targetPort: server.port });
    tmp = await makeTempDir('keepsake-batch-');
  });
  after(async () => {
    for (const u of uploaders) await u.close();
    await proxy?.close();
    await server?.close();
    await tmp?.cleanup();
  });
  beforeEach(async () => {
    for (const u of uploaders) await u.close();
    uploaders = [];
    server.script = () => undefined;
    server.batches.length = 0;
    server.blobs.clear();
    proxy.setFault(null);
    jobs = [];
    for (const [i, rel] of CORPUS.entries()) {
      const path = join(tmp.dir, `${i}-${rel.split('/').pop()}`);
      await copyFile(corpusFile(rel), path);
      const { resume: _, ...job } = await jobFor(path, { fileId: i + 1 });
      jobs.push(job);
    }
  });

  const uploader = (extra: Partial<Parameters<typeof createTusUploader>[0]> = {}) => {
    const u = createTusUploader({
      endpoint: proxy.url,
      token: TOKEN,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 50,
      idleTimeoutMs: 500,
      maxNetworkRetries: 4,
      ...extra,
    });
    uploaders.push(u);
    return u;
  };
  const send = (u: TusUploader, j: BatchUploadJob[] = jobs) =>
    u.uploadBatch(j, new AbortController().signal);
  const heldExactly = async (j: BatchUploadJob) =>
    (server.blobs.get(j.sha256) ?? Buffer.alloc(0)).equals(await readFile(j.path));

  it('sends every file in one request; the vault holds each one byte for byte', async () => {
    const outcomes = await send(uploader());
    assert.deepEqual(
      outcomes.map((o) => [o.fileId, o.outcome]),
      jobs.map((j) => [j.fileId, 'stored']),
    );
    assert.equal(server.batches.length, 1);
    const batch = server.batches[0];
    assert.equal(batch?.headers['keepsake-batch-count'], String(jobs.length));
    assert.equal(batch?.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(batch?.headers['content-type'], 'application/vnd.keepsake.batch');
    assert.deepEqual(
      batch?.frames.map((f) => [f.sha256, f.size, f.filename, f.relpath]),
      jobs.map((j) => [j.sha256, j.size, j.filename, j.relPath]),
    );
    for (const j of jobs) assert.ok(await heldExactly(j), j.path);
    const again = await send(uploader());
    assert.ok(again.every((o) => o.outcome === 'duplicate'));
  });

  it("one file's bytes corrupted in flight: only that file is refused, the rest are safe", async () => {
    proxy.setFault({ kind: 'corrupt', atByte: 100_000, once: true });
    const outcomes = await send(uploader());
    const first = outcomes[0];
    assert.equal(first?.outcome, 'refused');
    assert.ok(first.outcome === 'refused' && first.error.code === 'verification_failed');
    assert.equal(first.error.retryable, true);
    assert.equal(server.blobs.has(first.sha256), false);
    for (const [i, o] of outcomes.entries()) {
      if (i === 0) continue;
      assert.equal(o.outcome, 'stored');
      assert.ok(await heldExactly(jobs[i] as BatchUploadJob));
    }
  });

  it('a batch cut mid-request is sent again whole; nothing of the cut request counts', async () => {
    proxy.setFault({ kind: 'cut', afterBytes: 100_000, once: true });
    const outcomes = await send(uploader());
    assert.ok(outcomes.every((o) => o.outcome === 'stored'));
    assert.equal(server.batches.length, 2);
    assert.equal(server.batches[0]?.complete, false);
    for (const j of jobs) assert.ok(await heldExactly(j));
  });

  it('a stalled batch is noticed by the idle timeout and sent again', async () => {
    proxy.setFault({ kind: 'stall', afterBytes: 100_000, once: true });
    const outcomes = await send(uploader());
    assert.ok(outcomes.every((o) => o.outcome === 'stored'));
    for (const j of jobs) assert.ok(await heldExactly(j));
  });

  it('a file rewritten after hashing (same size and mtime) is never reported stored with the old hash', async () => {
    const victim = jobs[1] as BatchUploadJob;
    const bytes = await readFile(victim.path);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await writeFile(victim.path, bytes);
    const at = new Date(victim.mtimeMs);
    await utimes(victim.path, at, at); // the stat check cannot see it: only the hash can
    const outcomes = await send(uploader());
    const o = outcomes[1];
    assert.ok(o?.outcome === 'refused' && o.error.code === 'file_changed', JSON.stringify(o));
    assert.equal(server.blobs.has(victim.sha256), false, 'the old hash names no wrong bytes');
    assert.ok(outcomes.filter((x) => x !== o).every((x) => x.outcome === 'stored'));
  });

  it('a file whose size or mtime moved sends an empty frame and is refused as file_changed', async () => {
    const victim = jobs[2] as BatchUploadJob;
    await writeFile(victim.path, 'a new, shorter content');
    const outcomes = await send(uploader());
    const o = outcomes[2];
    assert.ok(o?.outcome === 'refused' && o.error.code === 'file_changed');
    assert.equal(server.batches[0]?.frames[2]?.size, 0, 'no bytes sent for it');
    assert.equal(server.blobs.has(victim.sha256), false);
    assert.ok(outcomes.filter((x) => x !== o).every((x) => x.outcome === 'stored'));
  });

  it('a file deleted before its turn: file_not_found for it, the rest stored', async () => {
    await rm((jobs[3] as BatchUploadJob).path);
    const outcomes = await send(uploader());
    const o = outcomes[3];
    assert.ok(o?.outcome === 'refused' && o.error.code === 'file_not_found');
    assert.ok(outcomes.filter((x) => x !== o).every((x) => x.outcome === 'stored'));
  });

  it('413 from the vault: the batch is split until it fits; a single file is too_large', async () => {
    server.script = (b) =>
      b.frames.length > 2 || b.frames.some((f) => f.size > 600_000)
        ? { status: 413, body: '{"error":"batch_too_large"}' }
        : undefined;
    const outcomes = await send(uploader());
    assert.deepEqual(
      outcomes.map((o) => (o.outcome === 'refused' ? o.error.code : o.outcome)),
      ['too_large', 'stored', 'stored', 'stored', 'stored'],
    );
  });

  it('a 503 is waited out and the batch sent again', async () => {
    let n = 0;
    server.script = () => (n++ === 0 ? { status: 503 } : undefined);
    const outcomes = await send(uploader());
    assert.ok(outcomes.every((o) => o.outcome === 'stored'));
    assert.equal(server.batches.length, 2);
  });

  it('an answer that does not line up with the frames is not trusted: sent again', async () => {
    let n = 0;
    server.script = () =>
      n++ === 0
        ? { status: 200, body: '{"results":[{"sha256":"x","status":"stored"}]}' }
        : undefined;
    const outcomes = await send(uploader());
    assert.ok(outcomes.every((o) => o.outcome === 'stored'));
    assert.equal(server.batches.length, 2);
  });

  it('404 (a vault from before batches): this and later batches go one file at a time', async () => {
    server.script = () => ({ status: 404 });
    const u = uploader();
    // The batch server has no tus endpoint: the fallback's tus POSTs are refused, per file.
    const outcomes = await send(u);
    assert.ok(outcomes.every((o) => o.outcome === 'refused' && o.error.code === 'upload_rejected'));
    assert.equal(server.batches.length, 1);
    await send(u);
    assert.equal(server.batches.length, 1, 'no second batch after a 404');
  });

  for (const [status, code] of [
    [401, 'sign_in_needed'],
    [507, 'vault_full'],
    [400, 'upload_rejected'],
  ] as const) {
    it(`${status} for the whole batch: thrown as ${code}, as for a single upload`, async () => {
      server.script = () => ({ status });
      const err = await send(uploader()).catch((e: unknown) => e);
      assert.ok(err instanceof KeepsakeError, String(err));
      assert.equal(err.code, code);
      assert.equal(server.batches.length, 1);
    });
  }

  it('a vault that stays unreachable: a retryable network error, never a hang', async () => {
    proxy.setFault({ kind: 'cut', afterBytes: 10 });
    const err = await send(uploader({ maxNetworkRetries: 2 })).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'network');
    assert.equal(err.retryable, true);
    assert.equal(server.blobs.size, 0);
  });

  it('abort (pause) mid-batch: AbortError, nothing stored', async () => {
    proxy.setFault({ kind: 'stall', afterBytes: 50_000 });
    const stop = new AbortController();
    const pending = uploader({ idleTimeoutMs: 30_000 }).uploadBatch(jobs, stop.signal);
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
    assert.equal(server.blobs.size, 0);
  });

  it('batches stay within 500 files and 16 MiB', () => {
    const many = Array.from({ length: 1203 }, (_, i) => ({
      ...(jobs[1] as BatchUploadJob),
      fileId: i,
      size: 10,
    }));
    assert.deepEqual(
      splitForLimits(many).map((g) => g.length),
      [500, 500, 203],
    );
    const big = Array.from({ length: 5 }, () => ({
      ...(jobs[1] as BatchUploadJob),
      size: 6 * 1024 * 1024,
    }));
    assert.deepEqual(
      splitForLimits(big).map((g) => g.length),
      [2, 2, 1],
    );
  });
});

describe('small files without a batch endpoint', () => {
  let plain: PlainTusServer;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    plain = await startPlainTusServer();
    tmp = await makeTempDir('keepsake-batch-plain-');
  });
  after(async () => {
    await plain?.close();
    await tmp?.cleanup();
  });

  for (const token of [null, TOKEN]) {
    it(`${token === null ? 'a plain tus server' : 'a plain tus server given a token (412 to the batch)'}: each file goes through tus, outcomes per file`, async () => {
      const u = createTusUploader({
        endpoint: plain.url,
        token,
        logger: silentLogger,
        clock: systemClock,
      });
      try {
        const paths = [CORPUS[1], CORPUS[3]].map((rel, i) => ({ rel: rel ?? '', i }));
        const jobs: BatchUploadJob[] = [];
        for (const { rel, i } of paths) {
          const path = join(tmp.dir, `${String(token)}-${i}.jpg`);
          await copyFile(corpusFile(rel), path);
          const { resume: _, ...job } = await jobFor(path, { fileId: i });
          jobs.push(job);
        }
        await rm((jobs[1] as BatchUploadJob).path);
        const outcomes = await u.uploadBatch(jobs, new AbortController().signal);
        assert.equal(outcomes[0]?.outcome, 'stored');
        const missing = outcomes[1];
        assert.ok(missing?.outcome === 'refused' && missing.error.code === 'file_not_found');
      } finally {
        await u.close();
      }
    });
  }
});
