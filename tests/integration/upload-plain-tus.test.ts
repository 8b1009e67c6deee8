// The uploader against a stock @tus/server (no Keepsake extras): it must be a correct,
// resumable tus 1.0 client for any standard server, not only for the vault.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTusUploader } from '../../main/engine/vault/tus-uploader.js';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { type PlainTusServer, startPlainTusServer } from '../support/plain-tus-server.js';
import { jobFor, randomFile, recordingCallbacks } from '../support/upload-fixtures.js';

const MiB = 1024 * 1024;

describe('uploads to a plain tus server', () => {
  let server: PlainTusServer;
  let proxy: FaultProxy;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    server = await startPlainTusServer();
    proxy = await startFaultProxy({ targetPort: server.port });
    tmp = await makeTempDir('keepsake-upload-plain-');
  });
  after(async () => {
    await proxy?.close();
    await server?.close();
    await tmp?.cleanup();
  });

  const uploader = (chunk = 1 * MiB) =>
    createTusUploader({
      endpoint: proxy.url,
      token: null,
      chunkSizeBytes: chunk,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 20,
      idleTimeoutMs: 2000,
    });

  it('a photo smaller than a chunk goes up in one request with its metadata', async () => {
    const up = uploader();
    try {
      const path = corpusFile('exifr-fixtures/IMG_20180725_163423-tiny.jpg');
      const job = await jobFor(path, { relPath: 'Camera/2018/IMG é.jpg', mime: 'image/jpeg' });
      const rec = recordingCallbacks();
      const before = proxy.bytesForwarded;
      const result = await up.upload(job, rec, new AbortController().signal);
      assert.equal(result.sha256, job.sha256);
      assert.equal(await server.sha256Of(result.uploadUrl), job.sha256);
      assert.deepEqual(rec.events, ['created', `offset:${job.size}`]);
      const meta = await server.metadataOf(result.uploadUrl);
      assert.equal(meta.filename, job.filename);
      assert.equal(meta.sha256, job.sha256);
      assert.equal(meta.relpath, 'Camera/2018/IMG é.jpg');
      assert.equal(meta.mime, 'image/jpeg');
      assert.equal(meta.mtime, String(job.mtimeMs));
      // one request: headers plus the bytes once
      assert.ok(proxy.bytesForwarded - before < job.size + 2000);
    } finally {
      await up.close();
    }
  });

  it('a multi-chunk file arrives intact and each confirmed offset is persisted in order', async () => {
    const up = uploader(1 * MiB);
    try {
      const path = await randomFile(join(tmp.dir, 'multi.bin'), 3 * MiB + 12345);
      const job = await jobFor(path);
      const rec = recordingCallbacks();
      const result = await up.upload(job, rec, new AbortController().signal);
      assert.equal(await server.sha256Of(result.uploadUrl), job.sha256);
      assert.equal(rec.events[0], 'created');
      assert.deepEqual(rec.offsets, [1 * MiB, 2 * MiB, 3 * MiB, job.size]);
      assert.equal(rec.progress.at(-1)?.bytesSent, job.size);
    } finally {
      await up.close();
    }
  });

  it('an empty file completes at creation', async () => {
    const up = uploader();
    try {
      const path = join(tmp.dir, 'empty.jpg');
      await randomFile(path, 0);
      const job = await jobFor(path);
      const result = await up.upload(job, recordingCallbacks(), new AbortController().signal);
      assert.equal(await server.sha256Of(result.uploadUrl), job.sha256);
    } finally {
      await up.close();
    }
  });

  it('a paused upload resumes from the server offset without re-sending confirmed bytes', async () => {
    const path = await randomFile(join(tmp.dir, 'resume.bin'), 4 * MiB);
    const job = await jobFor(path);
    const first = uploader(1 * MiB);
    const pause = new AbortController();
    const rec = recordingCallbacks({
      onOffset: (o) => {
        if (o >= 2 * MiB) pause.abort();
      },
    });
    await assert.rejects(first.upload(job, rec, pause.signal), { name: 'AbortError' });
    await first.close();
    const url = rec.created[0];
    const offset = rec.offsets.at(-1);
    assert.ok(url !== undefined && offset !== undefined && offset >= 2 * MiB);

    const second = uploader(1 * MiB);
    try {
      const before = proxy.bytesForwarded;
      const rec2 = recordingCallbacks();
      const result = await second.upload(
        { ...job, resume: { uploadUrl: url, offset } },
        rec2,
        new AbortController().signal,
      );
      assert.equal(result.uploadUrl, url);
      assert.equal(rec2.created.length, 0);
      assert.equal(await server.sha256Of(url), job.sha256);
      const sent = proxy.bytesForwarded - before;
      assert.ok(sent < job.size - offset + 10_000, `re-sent ${sent} bytes`);
    } finally {
      await second.close();
    }
  });

  it('abandon terminates the upload on the server', async () => {
    const path = await randomFile(join(tmp.dir, 'abandon.bin'), 3 * MiB);
    const job = await jobFor(path);
    const up = uploader(1 * MiB);
    try {
      const stop = new AbortController();
      const rec = recordingCallbacks({ onOffset: (o) => o > 0 && stop.abort() });
      await assert.rejects(up.upload(job, rec, stop.signal), { name: 'AbortError' });
      const url = rec.created[0] ?? '';
      await up.abandon(url);
      const res = await fetch(url, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } });
      assert.ok(res.status === 404 || res.status === 410, `HEAD after DELETE: ${res.status}`);
      // abandoning twice is harmless
      await up.abandon(url);
    } finally {
      await up.close();
    }
  });

  it('reuses connections across many small uploads', async () => {
    const up = uploader();
    try {
      const before = proxy.connections;
      for (let i = 0; i < 10; i++) {
        const path = await randomFile(join(tmp.dir, `small-${i}.jpg`), 50_000 + i);
        await up.upload(await jobFor(path), recordingCallbacks(), new AbortController().signal);
      }
      assert.ok(proxy.connections - before <= 2, `${proxy.connections - before} connections`);
    } finally {
      await up.close();
    }
  });
});
