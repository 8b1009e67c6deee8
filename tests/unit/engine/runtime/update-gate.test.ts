// "An update never interrupts an upload mid-file" (issue 13 section 4), on the real engine and
// a real vault: asked for a safe point while a video is uploading, the engine lets that upload
// finish, starts no other file meanwhile (and says why in Activity), and only then says the
// app may restart; released, it backs up the rest. The desktop's updater (main/app/updater.ts)
// calls exactly engine.updateGate.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { KeepsakeEngine } from '../../../../main/engine/api.js';
import { createEngine } from '../../../../main/engine/engine.js';
import { silentLogger } from '../../../../main/engine/ports.js';
import { makeTempDir } from '../../../support/paths.js';
import { startTestVault, type TestVault } from '../../../support/vault.js';

const MiB = 1024 * 1024;

async function waitFor<T>(what: string, probe: () => Promise<T | null | false>, ms = 60_000) {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('engine: the update gate', () => {
  let vault: TestVault;
  let engine: KeepsakeEngine | null = null;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    vault = await startTestVault({ previews: false, scrub: false });
  });
  afterEach(async () => {
    await engine?.close();
    engine = null;
  });
  after(async () => {
    await vault.close();
    for (const c of cleanups) await c();
  });

  async function open(files: number): Promise<KeepsakeEngine> {
    const src = await makeTempDir('keepsake-gate-src-');
    const data = await makeTempDir('keepsake-gate-data-');
    cleanups.push(src.cleanup, data.cleanup);
    for (let i = 0; i < files; i++) {
      await writeFile(join(src.dir, `clip-${i}.mp4`), randomBytes(3 * MiB));
    }
    const e = await createEngine({
      dataDir: data.dir,
      vault: { url: vault.url, token: vault.token },
      logger: silentLogger,
      metadataReader: null,
      createWatcher: null,
      settleMs: 0,
      // One upload at a time, slow enough to ask in the middle of it.
      overrides: { bandwidthLimit: '1M', chunkSizeBytes: 256 * 1024, concurrency: 1 },
    });
    await e.api['folders.add']({ path: src.dir });
    return e;
  }

  it('waits for the upload in flight to finish, starts no other file meanwhile, then lets the app restart', async () => {
    const e = (engine = await open(2));
    await e.start();
    const first = await waitFor('an upload under way with the other file queued', async () => {
      const s = await e.api['status.get']({});
      const under = s.current.find((c) => c.bytesSent > 256 * 1024);
      return under && s.counts.queued === 1 ? under : null;
    });

    const safe = e.updateGate.safePoint();
    assert.equal(e.updateGate.holding(), true);
    const during = await e.api['status.get']({});
    assert.equal(during.current.length, 1, 'the upload in flight goes on');
    await safe;

    const atSafePoint = await e.api['status.get']({});
    assert.equal(atSafePoint.current.length, 0, 'no upload in flight at the safe point');
    assert.equal(atSafePoint.counts.uploading, 0);
    assert.equal(atSafePoint.counts.backed_up, 1, 'the file in flight finished, whole');
    assert.equal(atSafePoint.counts.queued, 1, 'the other file never started');
    const [done] = (await e.api['files.list']({ state: 'backed_up', limit: 1 })).files;
    assert.equal(done?.path.endsWith(first.path.split('/').at(-1) ?? '?'), true);
    const sent = e.bytesUploaded();
    assert.ok(sent <= 3 * MiB + 256 * 1024, `only the file in flight was sent (${sent} bytes)`);
    const activity = await e.api['activity.list']({ limit: 20 });
    assert.ok(
      activity.some((a) => /no new upload starts until the one in flight finishes/.test(a.message)),
      'Activity says why nothing new starts',
    );

    // Held until released: still nothing starts.
    e.updateGate.release();
    assert.equal(e.updateGate.holding(), false);
    await e.whenSettled(AbortSignal.timeout(60_000));
    assert.equal((await e.api['status.get']({})).counts.backed_up, 2, 'released, the rest goes');
  });

  it('with nothing in flight the safe point is now; an aborted wait lets uploads go on', async () => {
    const e = (engine = await open(1));
    await e.updateGate.safePoint(); // not started: nothing in flight
    assert.equal(e.updateGate.holding(), true);
    e.updateGate.release();

    await e.start();
    await waitFor('an upload under way', async () => {
      const s = await e.api['status.get']({});
      return s.current.some((c) => c.bytesSent > 0);
    });
    const abort = new AbortController();
    const wait = e.updateGate.safePoint(abort.signal);
    abort.abort(new Error('the person chose "Later"'));
    await assert.rejects(wait, /Later/);
    assert.equal(e.updateGate.holding(), false);
    await e.whenSettled(AbortSignal.timeout(60_000));
    assert.equal((await e.api['status.get']({})).counts.backed_up, 1);
  });
});
