// The upload queue against a real vault, a real tus uploader and a real SQLite file: dedup
// before upload, the promised order, large files unable to starve small ones, bounded retries
// with backoff, a refused token pausing everything, and pause keeping the confirmed offset.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { stat, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { backoffDelay, defaultBackoff } from '../../../../main/engine/pipeline/backoff.js';
import {
  createUploadQueue,
  type UploadQueue,
  type UploadQueueOptions,
} from '../../../../main/engine/pipeline/upload-queue.js';
import { transitions } from '../../../../main/engine/pipeline/transitions.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { createStore, type FileRecord, type Store } from '../../../../main/engine/store/store.js';
import { createTusUploader } from '../../../../main/engine/vault/tus-uploader.js';
import type { Uploader } from '../../../../main/engine/vault/types.js';
import { createVaultClient } from '../../../../main/engine/vault/vault-client.js';
import { makeTempDir } from '../../../support/paths.js';
import { startTestVault, type TestVault } from '../../../support/vault.js';

interface Recorded {
  starts: { fileId: number; size: number; at: number }[];
  inFlight: Set<number>;
  maxLargeInFlight: number;
}

/** The real uploader, with a record of which uploads ran when (no behaviour changed). */
function recording(
  inner: Uploader,
  largeBytes: number,
  sizes: Map<number, number>,
): Uploader & { rec: Recorded } {
  const rec: Recorded = { starts: [], inFlight: new Set(), maxLargeInFlight: 0 };
  const largeNow = () => [...rec.inFlight].filter((id) => (sizes.get(id) ?? 0) > largeBytes).length;
  return {
    rec,
    async upload(job, callbacks, signal) {
      rec.starts.push({ fileId: job.fileId, size: job.size, at: performance.now() });
      rec.inFlight.add(job.fileId);
      rec.maxLargeInFlight = Math.max(rec.maxLargeInFlight, largeNow());
      try {
        return await inner.upload(job, callbacks, signal);
      } finally {
        rec.inFlight.delete(job.fileId);
      }
    },
    abandon: (url, signal) => inner.abandon(url, signal),
    setBandwidthLimit: (b) => inner.setBandwidthLimit(b),
    close: () => inner.close(),
  };
}

async function waitUntil(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('upload queue', () => {
  let vault: TestVault;
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: Store | null = null;
  let queue: UploadQueue | null = null;
  let uploader: Uploader | null = null;
  let dbCount = 0;

  before(async () => {
    vault = await startTestVault();
    ({ dir, cleanup } = await makeTempDir('keepsake-queue-'));
  });
  afterEach(async () => {
    await queue?.close();
    await uploader?.close();
    store?.close();
    queue = null;
    uploader = null;
    store = null;
  });
  after(async () => {
    await vault.close();
    await cleanup();
  });

  function newStore(): Store {
    const { db } = openDatabase(join(dir, `q${dbCount++}.db`), {
      logger: silentLogger,
      clock: systemClock,
    });
    store = createStore(db, systemClock);
    store.addFolder(dir, [], []);
    return store;
  }

  /** A real file with unique content, recorded as hashed and waiting for dedup. */
  async function queuedFile(
    s: Store,
    name: string,
    size: number,
    extra: { mtimeMs?: number; priority?: number; content?: Buffer } = {},
  ): Promise<FileRecord> {
    const content = extra.content ?? randomBytes(size);
    const path = join(dir, `${dbCount}-${name}`);
    await writeFile(path, content);
    // The uploader checks the file on disk against the job: give it the mtime the test wants.
    if (extra.mtimeMs !== undefined) await utimes(path, extra.mtimeMs / 1000, extra.mtimeMs / 1000);
    const st = await stat(path);
    const folder = s.listFolders()[0]!;
    const rec = s.insertFile({
      folderId: folder.id,
      path,
      relPath: name,
      size: content.length,
      mtimeMs: Math.round(st.mtimeMs),
      ino: st.ino,
      dev: st.dev,
      state: 'discovered',
      priority: extra.priority ?? 0,
    });
    const sha256 = createHash('sha256').update(content).digest('hex');
    return s.apply(rec.id, transitions.hashKnown(sha256))!;
  }

  function makeQueue(
    s: Store,
    up: Uploader,
    over: Partial<UploadQueueOptions> = {},
    token = vault.token,
  ): { queue: UploadQueue; pauses: string[] } {
    const pauses: string[] = [];
    queue = createUploadQueue({
      store: s,
      vault: createVaultClient({ endpoint: vault.url, token }),
      uploader: up,
      clock: systemClock,
      logger: silentLogger,
      backoff: { baseMs: 20, maxMs: 200, maxAttempts: 3 },
      concurrency: () => 1,
      largeFileBytes: 64 * 1024 * 1024,
      maxVerifyFailures: 3,
      dryRun: false,
      events: {
        activity: () => {},
        pauseRequired: (reason) => pauses.push(reason),
        vaultReachable: () => {},
        progress: () => {},
      },
      ...over,
    });
    return { queue, pauses };
  }

  const tus = (over: Partial<Parameters<typeof createTusUploader>[0]> = {}) =>
    createTusUploader({
      endpoint: vault.url,
      token: vault.token,
      logger: silentLogger,
      clock: systemClock,
      ...over,
    });

  const settled = (s: Store) => () => s.pendingCount() === 0;

  it('asks the vault first: content it already holds becomes duplicate, never uploaded', async () => {
    const s = newStore();
    const content = randomBytes(5000);
    const first = await queuedFile(s, 'a.jpg', 0, { content });
    const sizes = new Map<number, number>();
    const up = recording(tus(), 1e9, sizes);
    uploader = up;
    const { queue: q } = makeQueue(s, up);
    q.kick();
    await waitUntil('first upload', settled(s));
    assert.equal(s.getFile(first.id)?.state, 'backed_up');
    const twin = await queuedFile(s, 'copy-of-a.jpg', 0, { content });
    q.kick();
    await waitUntil('dedup', settled(s));
    assert.equal(s.getFile(twin.id)?.state, 'duplicate');
    assert.deepEqual(
      up.rec.starts.map((r) => r.fileId),
      [first.id],
      'only the first was uploaded',
    );
  });

  it('uploads manual additions first, then the newest files first', async () => {
    const s = newStore();
    const old = await queuedFile(s, 'old.jpg', 1000, { mtimeMs: 1_000 });
    const newest = await queuedFile(s, 'newest.jpg', 1000, { mtimeMs: 3_000 });
    const middle = await queuedFile(s, 'middle.jpg', 1000, { mtimeMs: 2_000 });
    const manual = await queuedFile(s, 'manual.jpg', 1000, { mtimeMs: 500, priority: 1 });
    const up = recording(tus(), 1e9, new Map());
    uploader = up;
    makeQueue(s, up).queue.kick();
    await waitUntil('all uploaded', settled(s));
    assert.deepEqual(
      up.rec.starts.map((r) => r.fileId),
      [manual.id, newest.id, middle.id, old.id],
    );
    for (const f of [old, newest, middle, manual])
      assert.equal(s.getFile(f.id)?.state, 'backed_up');
    const present = await createVaultClient({ endpoint: vault.url, token: vault.token }).check(
      [old, newest, middle, manual].map((f) => f.sha256!),
    );
    assert.equal(present.size, 4, 'the vault holds all four');
  });

  it('large files hold at most concurrency-1 slots, so small photos keep flowing', async () => {
    const s = newStore();
    const large = 256 * 1024;
    const sizes = new Map<number, number>();
    // The large files are the newest, so the order alone would give them every slot.
    for (let i = 0; i < 4; i++) {
      const f = await queuedFile(s, `video${i}.mov`, 1024 * 1024, { mtimeMs: 10_000 + i });
      sizes.set(f.id, f.size);
    }
    for (let i = 0; i < 6; i++) {
      const f = await queuedFile(s, `photo${i}.jpg`, 20_000, { mtimeMs: 1_000 + i });
      sizes.set(f.id, f.size);
    }
    const inner = tus({ chunkSizeBytes: 64 * 1024 });
    inner.setBandwidthLimit(4 * 1024 * 1024); // slow enough that the videos overlap the photos
    const up = recording(inner, large, sizes);
    uploader = up;
    makeQueue(s, up, { concurrency: () => 3, largeFileBytes: large }).queue.kick();
    await waitUntil('all uploaded', settled(s), 60_000);
    assert.ok(
      up.rec.maxLargeInFlight <= 2,
      `at most 2 large uploads at once (saw ${up.rec.maxLargeInFlight})`,
    );
    const firstSmall = up.rec.starts.findIndex((r) => r.size < large);
    const lastLarge = up.rec.starts.map((r) => r.size > large).lastIndexOf(true);
    assert.ok(firstSmall < lastLarge, 'a photo started before the last video did');
    assert.ok(
      up.rec.starts.slice(0, 3).some((r) => r.size < large),
      'a photo got a slot right away',
    );
  });

  it('retries a failing upload with growing delays, then marks it failed and retryable', async () => {
    const s = newStore();
    const f = await queuedFile(s, 'unlucky.jpg', 2000);
    const port = await deadPort();
    const inner = createTusUploader({
      endpoint: `http://127.0.0.1:${port}`,
      token: vault.token,
      logger: silentLogger,
      clock: systemClock,
      maxNetworkRetries: 0,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 2,
    });
    const up = recording(inner, 1e9, new Map());
    uploader = up;
    makeQueue(s, up, { backoff: { baseMs: 40, maxMs: 1000, maxAttempts: 3 } }).queue.kick();
    await waitUntil('failed', () => s.getFile(f.id)?.state === 'failed');
    const row = s.getFile(f.id)!;
    assert.equal(up.rec.starts.length, 3, 'three attempts, then it stopped');
    assert.equal(row.attempts, 3);
    assert.equal(row.error?.retryable, true);
    const gaps = up.rec.starts.slice(1).map((r, i) => r.at - up.rec.starts[i]!.at);
    assert.ok(gaps[0]! >= 20 - 5, `first retry waited (${gaps[0]} ms)`);
    assert.ok(gaps[1]! >= 40 - 5, `second retry waited longer (${gaps[1]} ms)`);
  });

  it('a refused token pauses the queue with sign_in_needed and uploads nothing', async () => {
    const s = newStore();
    const f = await queuedFile(s, 'private.jpg', 2000);
    const up = recording(tus(), 1e9, new Map());
    uploader = up;
    const { queue: q, pauses } = makeQueue(s, up, {}, 'wrong-token');
    q.kick();
    await waitUntil('pause', () => pauses.length > 0);
    assert.deepEqual(pauses, ['sign_in_needed']);
    assert.equal(s.getFile(f.id)?.state, 'queued', 'still waiting, not failed');
    assert.equal(up.rec.starts.length, 0);
  });

  it('small files go in batches, and each file of a batch ends in its own state', async () => {
    const s = newStore();
    const files: FileRecord[] = [];
    for (let i = 0; i < 40; i++) files.push(await queuedFile(s, `small-${i}.jpg`, 3000 + i));
    // One of them changes on disk after it was hashed: only that one is refused.
    const changed = files[7]!;
    await writeFile(changed.path, randomBytes(4000));
    const inner = tus();
    const groups: number[] = [];
    const batching: Uploader = {
      upload: (job, callbacks, signal) => inner.upload(job, callbacks, signal),
      // The real uploader; against a vault without the batch endpoint it sends the files of
      // a batch one by one and answers per file just the same.
      uploadBatch: (jobs, signal) => {
        groups.push(jobs.length);
        return inner.uploadBatch(jobs, signal);
      },
      batchesSupported: () => true,
      abandon: (url, signal) => inner.abandon(url, signal),
      setBandwidthLimit: (b) => inner.setBandwidthLimit(b),
      close: () => inner.close(),
    };
    uploader = batching;
    const { queue: q } = makeQueue(s, batching, { concurrency: () => 2, batchMaxFiles: 8 });
    q.kick();
    await waitUntil('every file settled', () =>
      files.every(
        (f) => s.getFile(f.id)?.state !== 'queued' && s.getFile(f.id)?.state !== 'uploading',
      ),
    );
    assert.ok(
      groups.length >= 2 && groups.every((n) => n > 1 && n <= 8),
      `groups: ${groups.join(',')}`,
    );
    assert.equal(s.getFile(changed.id)?.state, 'discovered', 'the changed file is hashed again');
    for (const f of files) {
      if (f.id !== changed.id) assert.equal(s.getFile(f.id)?.state, 'backed_up', f.relPath);
    }
  });

  it('pause stops an upload within a second keeping its confirmed offset; resume finishes it', async () => {
    const s = newStore();
    const f = await queuedFile(s, 'big.mov', 6 * 1024 * 1024);
    const inner = tus({ chunkSizeBytes: 128 * 1024 });
    inner.setBandwidthLimit(1024 * 1024);
    uploader = inner;
    // (sent through tus, not in a batch: batches hold files of at most one chunk)
    const { queue: q } = makeQueue(s, inner, { batchFileMaxBytes: 128 * 1024 });
    q.kick();
    await waitUntil('some bytes confirmed', () => (s.getFile(f.id)?.uploadOffset ?? 0) > 0);
    const t0 = performance.now();
    q.setPaused(true);
    await waitUntil('the upload stopped', () => q.current().length === 0, 5000);
    assert.ok(performance.now() - t0 < 1000, `stopped in ${Math.round(performance.now() - t0)} ms`);
    const paused = s.getFile(f.id)!;
    assert.equal(paused.state, 'queued');
    assert.ok(paused.uploadUrl, 'upload URL kept');
    assert.ok((paused.uploadOffset ?? 0) > 0, 'confirmed offset kept');
    inner.setBandwidthLimit(null);
    q.setPaused(false);
    await waitUntil('finished', settled(s), 60_000);
    assert.equal(s.getFile(f.id)?.state, 'backed_up');
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter inside [ceiling/2, ceiling], capped', () => {
    const policy = { ...defaultBackoff, baseMs: 1000, maxMs: 10_000 };
    for (const [attempt, ceiling] of [
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [5, 10_000],
      [9, 10_000],
    ] as const) {
      assert.equal(
        backoffDelay(policy, attempt, () => 0),
        ceiling / 2,
      );
      assert.equal(
        backoffDelay(policy, attempt, () => 0.999999),
        Math.round(ceiling / 2 + (0.999999 * ceiling) / 2),
      );
    }
  });
});
