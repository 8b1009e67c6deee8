// Pausing through the engine's API (what the UI's pause button calls) and the pauses the
// vault forces: a pause stops the upload in flight within a second and keeps its confirmed
// offset, resume finishes it; a refused token pauses everything as "sign-in needed".
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { KeepsakeEngine } from '../../../main/engine/api.js';
import { createEngine } from '../../../main/engine/engine.js';
import { KeepsakeError } from '../../../main/engine/errors.js';
import { silentLogger } from '../../../main/engine/ports.js';
import { makeTempDir } from '../../support/paths.js';
import { startTestVault, type TestVault } from '../../support/vault.js';

async function waitFor<T>(what: string, probe: () => Promise<T | null | false>, ms = 30_000) {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('engine: pause and resume', () => {
  let vault: TestVault;
  let engine: KeepsakeEngine | null = null;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    vault = await startTestVault();
  });
  afterEach(async () => {
    await engine?.close();
    engine = null;
  });
  after(async () => {
    await vault.close();
    for (const c of cleanups) await c();
  });

  async function folderWithVideo(): Promise<string> {
    const src = await makeTempDir('keepsake-pause-src-');
    cleanups.push(src.cleanup);
    await writeFile(join(src.dir, 'clip.mp4'), randomBytes(6 * 1024 * 1024));
    return src.dir;
  }

  async function open(token: string): Promise<KeepsakeEngine> {
    const data = await makeTempDir('keepsake-pause-data-');
    cleanups.push(data.cleanup);
    return createEngine({
      dataDir: data.dir,
      vault: { url: vault.url, token },
      logger: silentLogger,
      metadataReader: null,
      createWatcher: null,
      settleMs: 0,
      // Slow enough to pause in the middle; chunks small enough to confirm offsets often.
      overrides: { bandwidthLimit: '1M', chunkSizeBytes: 256 * 1024 },
    });
  }

  it('pause stops the upload within a second keeping its offset; resume finishes it', async () => {
    const src = await folderWithVideo();
    const e = (engine = await open(vault.token));
    await e.api['folders.add']({ path: src });
    await e.start();
    await waitFor('upload under way', async () => {
      const s = await e.api['status.get']({});
      return s.current.some((c) => c.bytesSent > 256 * 1024);
    });
    const t0 = performance.now();
    await e.api['uploads.pause']({});
    await waitFor('nothing in flight', async () => {
      const s = await e.api['status.get']({});
      return s.current.length === 0 && s.counts.uploading === 0;
    });
    assert.ok(performance.now() - t0 < 1000, `stopped in ${Math.round(performance.now() - t0)} ms`);
    const paused = await e.api['status.get']({});
    assert.equal(paused.status, 'paused');
    assert.equal(paused.pauseReason, 'user');
    assert.equal(paused.counts.queued, 1);
    const [row] = (await e.api['files.list']({ state: 'queued', limit: 1 })).files;
    assert.ok(row, 'the paused file waits in the queue');
    await e.api['settings.set']({ key: 'bandwidthLimit', value: null });
    await e.api['uploads.resume']({});
    await e.whenSettled(AbortSignal.timeout(60_000));
    const done = await e.api['status.get']({});
    assert.equal(done.counts.backed_up, 1);
    assert.equal(done.status, 'up_to_date');
    // Bytes sent: the whole file once, plus at most the chunk cut off by the pause.
    const sent = e.bytesUploaded();
    assert.ok(
      sent >= 6 * 1024 * 1024 - 256 * 1024 && sent <= 6 * 1024 * 1024 + 256 * 1024,
      `the file counts once as uploaded (${sent} bytes sent)`,
    );
  });

  it('a refused token pauses the engine as "sign-in needed" and backup waits no longer', async () => {
    const src = await folderWithVideo();
    const e = (engine = await open('not-the-token'));
    await e.api['folders.add']({ path: src });
    await e.start();
    await assert.rejects(
      e.whenSettled(AbortSignal.timeout(30_000)),
      (err: unknown) => err instanceof KeepsakeError && err.code === 'sign_in_needed',
    );
    const s = await e.api['status.get']({});
    assert.equal(s.paused, true);
    assert.equal(s.pauseReason, 'sign_in_needed');
    assert.equal(s.status, 'needs_attention');
    assert.ok(
      s.lastErrors.some((a) => a.code === 'sign_in_needed'),
      'said so in the activity',
    );
    assert.equal(s.counts.failed, 0, 'nothing is failed: it waits for a new token');
  });
});
