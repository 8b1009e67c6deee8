// The engine's vault client against a real Keepsake Vault on loopback, behind the fault
// proxy: small files in batches (cut, stall, one file corrupted in flight, a file changed
// since it was hashed, the vault killed mid-batch), metadata in batches, and a large file
// hashed while sending. Corpus files, copied so a test may change them.
import assert from 'node:assert/strict';
import { chmod, copyFile, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { KeepsakeError } from '../../main/engine/errors.js';
import type { MediaMetadata } from '../../main/engine/metadata/types.js';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { type TusUploader, createTusUploader } from '../../main/engine/vault/tus-uploader.js';
import type { BatchUploadJob } from '../../main/engine/vault/types.js';
import { createVaultClient } from '../../main/engine/vault/vault-client.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { jobFor, randomFile, recordingCallbacks } from '../support/upload-fixtures.js';
import {
  type TestVault,
  type VaultEndpoint,
  sha256Hex,
  spawnVaultProcess,
  startTestVault,
  vaultFetch,
} from '../support/vault.js';

const CORPUS = [
  'exifr-fixtures/cookiezen.jpg', // 669 KB: the in-flight faults land in its bytes
  'exifr-fixtures/IMG_20180725_163423-tiny.jpg',
  'exifr-fixtures/issue-exifr-47.jpeg',
  'ianare-exif-samples/jpg/Canon_40D.jpg',
  'exifr-fixtures/noexif.jpg',
];

async function copyCorpus(dir: string, tag: string): Promise<BatchUploadJob[]> {
  const jobs: BatchUploadJob[] = [];
  for (const [i, rel] of CORPUS.entries()) {
    const path = join(dir, `${tag}-${i}-${rel.split('/').pop()}`);
    await copyFile(corpusFile(rel), path);
    await chmod(path, 0o644); // the corpus is read-only; tests rewrite their copies
    const { resume: _, ...job } = await jobFor(path, { fileId: i + 1, mime: 'image/jpeg' });
    jobs.push(job);
  }
  return jobs;
}

/** The bytes the vault serves for this content, or null when it holds none. */
async function held(vault: VaultEndpoint, sha256: string): Promise<Buffer | null> {
  const res = await vaultFetch(vault, `/api/v1/assets/${sha256}/content`);
  if (res.status === 404) return null;
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

async function holdsExactly(vault: VaultEndpoint, job: BatchUploadJob): Promise<boolean> {
  const bytes = await held(vault, job.sha256);
  return bytes !== null && bytes.equals(await readFile(job.path));
}

function photoMetadata(width: number): MediaMetadata {
  return {
    captureTime: '2018-07-25T16:34:23+02:00',
    captureTimeSource: 'exif_original',
    timeZone: null,
    gps: null,
    camera: { make: 'Canon', model: 'EOS 40D' },
    width,
    height: 480,
    durationSec: null,
    orientation: 1,
    mime: 'image/jpeg',
  };
}

describe('small files in batches, to a real vault behind the fault proxy', () => {
  let vault: TestVault;
  let proxy: FaultProxy;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let jobs: BatchUploadJob[];
  let uploaders: TusUploader[] = [];
  let n = 0;

  before(async () => {
    vault = await startTestVault();
    proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
    tmp = await makeTempDir('keepsake-upload-batch-');
  });
  after(async () => {
    for (const u of uploaders) await u.close();
    await proxy?.close();
    await vault?.close();
    await tmp?.cleanup();
  });
  beforeEach(async () => {
    for (const u of uploaders) await u.close();
    uploaders = [];
    proxy.setFault(null);
    // Unique bytes per test: the vault keeps what earlier tests stored.
    jobs = await copyCorpus(tmp.dir, `t${++n}`);
    for (const j of jobs) {
      const bytes = await readFile(j.path);
      await writeFile(j.path, Buffer.concat([bytes, Buffer.from(`#${n}`)]));
      const { resume: _, ...fresh } = await jobFor(j.path, {
        fileId: j.fileId,
        mime: 'image/jpeg',
      });
      Object.assign(j, fresh);
    }
  });

  const uploader = () => {
    const u = createTusUploader({
      endpoint: proxy.url,
      token: vault.token,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 100,
      idleTimeoutMs: 1000,
      maxNetworkRetries: 5,
    });
    uploaders.push(u);
    return u;
  };
  const send = () => uploader().uploadBatch(jobs, new AbortController().signal);

  it('every file is stored in one request and the vault serves it byte for byte', async () => {
    const connections = proxy.connections;
    const outcomes = await send();
    assert.deepEqual(
      outcomes.map((o) => o.outcome),
      jobs.map(() => 'stored'),
    );
    assert.equal(proxy.connections - connections, 1);
    for (const j of jobs) assert.ok(await holdsExactly(vault, j), j.path);
    const again = await send();
    assert.ok(again.every((o) => o.outcome === 'duplicate'));
  });

  it("one file's bytes corrupted in flight: only that file is refused, the rest are safe", async () => {
    proxy.setFault({ kind: 'corrupt', atByte: 200_000, once: true });
    const outcomes = await send();
    const [first, ...rest] = outcomes;
    assert.ok(first?.outcome === 'refused', JSON.stringify(first));
    assert.equal(first.error.code, 'verification_failed');
    assert.equal(first.error.retryable, true);
    assert.equal(await held(vault, first.sha256), null);
    for (const [i, o] of rest.entries()) {
      assert.equal(o.outcome, 'stored');
      assert.ok(await holdsExactly(vault, jobs[i + 1] as BatchUploadJob));
    }
  });

  it('a batch cut mid-request leaves nothing behind and is sent again whole', async () => {
    proxy.setFault({ kind: 'cut', afterBytes: 200_000, once: true });
    const outcomes = await send();
    assert.ok(outcomes.every((o) => o.outcome === 'stored'));
    for (const j of jobs) assert.ok(await holdsExactly(vault, j));
  });

  it('a stalled batch is noticed and sent again', async () => {
    proxy.setFault({ kind: 'stall', afterBytes: 200_000, once: true });
    const outcomes = await send();
    assert.ok(outcomes.every((o) => o.outcome === 'stored'));
    for (const j of jobs) assert.ok(await holdsExactly(vault, j));
  });

  it('a file changed between hash and send is never reported stored with the old hash', async () => {
    const victim = jobs[2] as BatchUploadJob;
    const bytes = await readFile(victim.path);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(victim.path, bytes);
    const at = new Date(victim.mtimeMs);
    await utimes(victim.path, at, at);
    const outcomes = await send();
    const o = outcomes[2];
    assert.ok(o?.outcome === 'refused' && o.error.code === 'file_changed', JSON.stringify(o));
    assert.equal(await held(vault, victim.sha256), null, 'the old hash names no bytes');
    assert.ok(outcomes.filter((x) => x !== o).every((x) => x.outcome === 'stored'));
  });

  it('metadata in one request: per-item results, an invalid field refused by name', async () => {
    await send();
    const client = createVaultClient({ endpoint: proxy.url, token: vault.token });
    try {
      const results = await client.putMetadataBatch([
        { sha256: (jobs[0] as BatchUploadJob).sha256, metadata: photoMetadata(640) },
        { sha256: (jobs[1] as BatchUploadJob).sha256, metadata: photoMetadata(-1) },
        { sha256: 'e'.repeat(64), metadata: photoMetadata(640) },
      ]);
      assert.deepEqual(
        results.map((r) => [r.status, r.field]),
        [
          ['stored', undefined],
          ['refused', 'width'],
          ['unknown_asset', undefined],
        ],
      );
      const asset = (await (
        await vaultFetch(vault, `/api/v1/assets/${(jobs[0] as BatchUploadJob).sha256}`)
      ).json()) as { metadata: { width?: number } | null };
      assert.equal(asset.metadata?.width, 640);
    } finally {
      client.close();
    }
  });

  it('a large file hashed while sending is verified by the vault and read once', async () => {
    const path = await randomFile(join(tmp.dir, 'video.mp4'), 5 * 1024 * 1024 + 3);
    const job = await jobFor(path, { mime: 'video/mp4' });
    const u = createTusUploader({
      endpoint: proxy.url,
      token: vault.token,
      chunkSizeBytes: 1024 * 1024,
      logger: silentLogger,
      clock: systemClock,
    });
    uploaders.push(u);
    const result = await u.upload(
      { ...job, sha256: null },
      recordingCallbacks(),
      new AbortController().signal,
    );
    assert.equal(result.sha256, job.sha256);
    assert.equal(sha256Hex((await held(vault, job.sha256)) ?? ''), job.sha256);
  });
});

describe('the vault killed mid-batch', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir('keepsake-upload-batch-kill-');
  });
  after(async () => {
    await tmp?.cleanup();
  });

  it('nothing of the batch becomes visible, nothing is lost: the next send stores every file', async () => {
    const dataDir = join(tmp.dir, 'vault');
    const token = 'batch-kill-token';
    const first = await spawnVaultProcess({ dataDir, token });
    const port = Number(new URL(first.url).port);
    const proxy = await startFaultProxy({ targetPort: port });
    const jobs = await copyCorpus(tmp.dir, 'kill');
    const u = createTusUploader({
      endpoint: proxy.url,
      token,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 20,
      maxNetworkRetries: 1,
      idleTimeoutMs: 2000,
    });
    try {
      // The request stalls after most of it went through; then the vault dies.
      proxy.setFault({ kind: 'stall', afterBytes: 400_000, once: true });
      const pending = u.uploadBatch(jobs, new AbortController().signal);
      while (proxy.firedCount === 0) await new Promise((r) => setTimeout(r, 10));
      await first.kill9();
      const err = await pending.catch((e: unknown) => e);
      assert.ok(err instanceof KeepsakeError, String(err));
      assert.equal(err.retryable, true);

      const second = await spawnVaultProcess({ dataDir, token, port });
      try {
        const endpoint = { url: second.url, token };
        for (const j of jobs) assert.equal(await held(endpoint, j.sha256), null, j.path);
        proxy.setFault(null);
        const outcomes = await u.uploadBatch(jobs, new AbortController().signal);
        assert.ok(outcomes.every((o) => o.outcome === 'stored'));
        for (const j of jobs) assert.ok(await holdsExactly(endpoint, j), j.path);
      } finally {
        await second.stop();
      }
    } finally {
      await u.close();
      await proxy.close();
      await first.kill9();
    }
  });
});
