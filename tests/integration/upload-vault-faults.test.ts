// Uploads to a real Keepsake Vault through a fault-injecting proxy: whatever the link does
// (cut, stall, lose an answer, crawl, flip a byte), a file ends on the vault with the right
// SHA-256, or the upload fails with a reason; never a wrong file marked as done.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeepsakeError } from '../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { UploadHttpError } from '../../main/engine/vault/response-table.js';
import { type TusUploader, createTusUploader } from '../../main/engine/vault/tus-uploader.js';
import type { UploadJob } from '../../main/engine/vault/types.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { jobFor, randomFile, recordingCallbacks } from '../support/upload-fixtures.js';
import { type TestVault, startTestVault } from '../support/vault.js';

const MiB = 1024 * 1024;
const CHUNK = 2 * MiB;

/** SHA-256 of what the vault serves for this content (404 -> null). */
async function vaultSha(vault: TestVault, sha256: string): Promise<string | null> {
  const res = await fetch(`${vault.url}/api/v1/assets/${sha256}/content`, {
    headers: { authorization: `Bearer ${vault.token}` },
  });
  if (res.status === 404) return null;
  assert.equal(res.status, 200);
  return createHash('sha256')
    .update(Buffer.from(await res.arrayBuffer()))
    .digest('hex');
}

/**
 * vault.close(), bounded: @tus/server 2.4 never settles the handler of a PATCH whose
 * connection was cut mid-body, and the vault's close waits for every handler.
 */
async function closeVault(vault: TestVault | undefined): Promise<void> {
  if (!vault) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([vault.close(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
}

describe('uploads to the vault through a faulty link', () => {
  let vault: TestVault;
  let proxy: FaultProxy;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const uploaders: TusUploader[] = [];
  before(async () => {
    vault = await startTestVault();
    proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
    tmp = await makeTempDir('keepsake-upload-faults-');
  });
  after(async () => {
    for (const u of uploaders) await u.close();
    await proxy?.close();
    await closeVault(vault);
    await tmp?.cleanup();
  });

  const uploader = (extra: Partial<Parameters<typeof createTusUploader>[0]> = {}) => {
    const u = createTusUploader({
      endpoint: proxy.url,
      token: vault.token,
      chunkSizeBytes: CHUNK,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 20,
      retryMaxDelayMs: 200,
      idleTimeoutMs: 1000,
      ...extra,
    });
    uploaders.push(u);
    return u;
  };
  let n = 0;
  const freshJob = async (size: number): Promise<UploadJob & { sha256: string }> =>
    jobFor(await randomFile(join(tmp.dir, `file-${++n}.mp4`), size), { mime: 'video/mp4' });

  it('real photos from the corpus arrive byte for byte', async () => {
    proxy.setFault(null);
    const u = uploader();
    for (const rel of [
      'exifr-fixtures/IMG_20180725_163423-tiny.jpg',
      'exifr-fixtures/BonTonARTSTORplusIPTC.jpg',
    ]) {
      const job = await jobFor(corpusFile(rel), { mime: 'image/jpeg' });
      const result = await u.upload(job, recordingCallbacks(), new AbortController().signal);
      assert.equal(result.sha256, job.sha256);
      assert.equal(await vaultSha(vault, job.sha256), job.sha256);
    }
  });

  it('a connection cut mid-chunk: resumes from the vault offset and completes', async () => {
    const job = await freshJob(5 * MiB + 3);
    proxy.setFault({ kind: 'cut', afterBytes: 3 * MiB, once: true });
    const rec = recordingCallbacks();
    await uploader().upload(job, rec, new AbortController().signal);
    assert.equal(proxy.firedCount, 1);
    assert.equal(rec.created.length, 1, 'resumed, not restarted');
    assert.equal(await vaultSha(vault, job.sha256), job.sha256);
  });

  it('a stalled link: the idle timeout notices and the upload completes on a new connection', async () => {
    const job = await freshJob(5 * MiB);
    proxy.setFault({ kind: 'stall', afterBytes: 1 * MiB, once: true });
    await uploader().upload(job, recordingCallbacks(), new AbortController().signal);
    assert.equal(proxy.firedCount, 1);
    assert.equal(await vaultSha(vault, job.sha256), job.sha256);
  });

  it('the answer to the final PATCH is lost: done without uploading the file again', async () => {
    const job = await freshJob(5 * MiB);
    const rec = recordingCallbacks({
      onOffset: (o) => {
        if (o === 4 * MiB) proxy.setFault({ kind: 'dropResponse', once: true });
      },
    });
    proxy.setFault(null);
    const before = proxy.bytesForwarded;
    const result = await uploader().upload(job, rec, new AbortController().signal);
    assert.equal(proxy.firedCount, 1);
    assert.equal(result.sha256, job.sha256);
    assert.equal(await vaultSha(vault, job.sha256), job.sha256);
    const sent = proxy.bytesForwarded - before;
    assert.ok(sent < job.size + 64 * 1024, `sent ${sent} bytes for a ${job.size} byte file`);
  });

  it('the answer to a small file’s only request is lost: the retry is deduplicated', async () => {
    const job = await freshJob(300_000);
    proxy.setFault({ kind: 'dropResponse', once: true });
    const result = await uploader().upload(job, recordingCallbacks(), new AbortController().signal);
    assert.equal(result.sha256, job.sha256);
    assert.equal(await vaultSha(vault, job.sha256), job.sha256);
  });

  it('a slow link: completes, with progress samples at most a few a second', async () => {
    const job = await freshJob(3 * MiB);
    proxy.setFault({ kind: 'throttle', bytesPerSecond: 2 * MiB });
    const rec = recordingCallbacks();
    const started = performance.now();
    await uploader().upload(job, rec, new AbortController().signal);
    const seconds = (performance.now() - started) / 1000;
    proxy.setFault(null);
    assert.equal(await vaultSha(vault, job.sha256), job.sha256);
    assert.ok(rec.progress.length >= 3, `${rec.progress.length} samples`);
    assert.ok(
      rec.progress.length <= seconds * 5 + 6,
      `${rec.progress.length} samples in ${seconds}s`,
    );
    const mid = rec.progress.find((p) => p.bytesSent > MiB && p.bytesSent < job.size);
    assert.ok(mid && mid.bytesPerSecond > 0 && mid.etaSeconds !== null, JSON.stringify(mid));
  });

  it('a byte corrupted in flight: verification_failed, never success; a clean retry succeeds', async () => {
    const job = await freshJob(3 * MiB);
    proxy.setFault({ kind: 'corrupt', atByte: 2 * MiB + 12345, once: true });
    const err = await uploader()
      .upload(job, recordingCallbacks(), new AbortController().signal)
      .catch((e: unknown) => e);
    assert.ok(err instanceof UploadHttpError, String(err));
    assert.equal(err.code, 'verification_failed');
    assert.match(err.message, /content changed or was corrupted in transit/);
    assert.equal(await vaultSha(vault, job.sha256), null, 'nothing stored under that sha256');
    // What the queue does next: re-hash (unchanged) and upload again from scratch.
    const result = await uploader().upload(job, recordingCallbacks(), new AbortController().signal);
    assert.equal(result.sha256, job.sha256);
    assert.equal(await vaultSha(vault, job.sha256), job.sha256);
  });

  it('a small file (one creation-with-upload request) corrupted in flight: verification_failed', async () => {
    const job = await freshJob(400_000);
    proxy.setFault({ kind: 'corrupt', atByte: 1500, once: true });
    const err = await uploader()
      .upload(job, recordingCallbacks(), new AbortController().signal)
      .catch((e: unknown) => e);
    proxy.setFault(null);
    assert.ok(err instanceof UploadHttpError, String(err));
    assert.equal(err.code, 'verification_failed');
    assert.equal(err.method, 'POST');
    assert.equal(await vaultSha(vault, job.sha256), null);
  });
});

describe('the vault refuses', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir('keepsake-upload-refusals-');
  });
  after(async () => tmp?.cleanup());

  const tryUpload = async (vault: TestVault, token: string, size: number) => {
    const u = createTusUploader({
      endpoint: vault.url,
      token,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 10,
    });
    try {
      const job = await jobFor(await randomFile(join(tmp.dir, `r-${size}.jpg`), size));
      return await u
        .upload(job, recordingCallbacks(), new AbortController().signal)
        .catch((e: unknown) => e);
    } finally {
      await u.close();
    }
  };
  const codeOf = (e: unknown) => (e instanceof KeepsakeError ? e.code : String(e));

  it('a wrong token: sign_in_needed', async () => {
    const vault = await startTestVault();
    try {
      assert.equal(codeOf(await tryUpload(vault, 'wrong', 1000)), 'sign_in_needed');
    } finally {
      await vault.close();
    }
  });

  it('over the max size: too_large; over the quota: vault_full', async () => {
    const vault = await startTestVault({ quotaBytes: 100_000, maxSizeBytes: 80_000 });
    try {
      assert.equal(codeOf(await tryUpload(vault, vault.token, 90_000)), 'too_large');
      const first = await tryUpload(vault, vault.token, 70_000);
      assert.ok(!(first instanceof Error), String(first));
      assert.equal(codeOf(await tryUpload(vault, vault.token, 70_001)), 'vault_full');
    } finally {
      await vault.close();
    }
  });
});
