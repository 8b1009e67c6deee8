// The healer on a real SQLite store against a real vault on loopback: content the vault lost
// is queued for upload again from every safe file holding it, remembered across restarts,
// and announced as "Repaired" once a file of it is safe again; the check of safe files runs
// when due, not at every start.
import assert from 'node:assert/strict';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ActivityEvent } from '../../../../common/contract.js';
import { transitions } from '../../../../main/engine/pipeline/transitions.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { createStore, type Store } from '../../../../main/engine/store/store.js';
import { createHealer, type Healer } from '../../../../main/engine/verify/healer.js';
import { createVaultClient, type VaultClient } from '../../../../main/engine/vault/vault-client.js';
import { makeTempDir } from '../../../support/paths.js';
import { blobPath } from '../../../support/vault-damage.js';
import { startTestVault, uploadBuffer, type TestVault } from '../../../support/vault.js';

const day = 24 * 3600_000;

describe('healer', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let vault: TestVault;
  let client: VaultClient;
  let store: Store;
  let healers: Healer[] = [];
  let events: Omit<ActivityEvent, 'id' | 'at'>[] = [];
  let n = 0;

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('keepsake-healer-'));
    vault = await startTestVault({ scrub: false });
    client = createVaultClient({ endpoint: vault.url, token: vault.token });
  });
  beforeEach(() => {
    for (const h of healers) h.close();
    healers = [];
    events = [];
    store?.close();
    store = createStore(
      openDatabase(join(dir, `h${n++}.db`), { logger: silentLogger, clock: systemClock }).db,
      systemClock,
    );
  });
  after(async () => {
    for (const h of healers) h.close();
    store?.close();
    client.close();
    await vault.close();
    await cleanup();
  });

  function healer(auditIntervalMs = day): Healer {
    const h = createHealer({
      store,
      vault: client,
      clock: systemClock,
      logger: silentLogger,
      activity: (e) => events.push(e),
      kick: () => {},
      auditIntervalMs,
    });
    healers.push(h);
    return h;
  }

  /** Content stored on the vault, and `copies` backed-up files of it in the store. */
  async function backedUp(tag: string, copies = 1) {
    const up = await uploadBuffer(vault, Buffer.from(`photo ${tag} ${n} ${Math.random()}`));
    assert.ok(up.res.ok, up.text);
    const folder = store.getFolderByPath('/photos') ?? store.addFolder('/photos', [], []);
    const files = Array.from({ length: copies }, (_, i) =>
      store.insertFile({
        folderId: folder.id,
        path: `/photos/${tag}-${i}.jpg`,
        relPath: `${tag}-${i}.jpg`,
        size: 10,
        mtimeMs: 1000,
        ino: 100 + i,
        dev: 1,
        state: i === 0 ? 'backed_up' : 'duplicate',
        sha256: up.sha256,
      }),
    );
    return { sha256: up.sha256, ids: files.map((f) => f.id) };
  }

  async function settle(h: Healer) {
    while (!h.idle()) await new Promise((r) => setTimeout(r, 10));
    store.commit();
    await new Promise((r) => setTimeout(r, 0));
  }

  it('queues every safe file of content the vault lost, and says Repaired once one is safe again', async () => {
    const lost = await backedUp('lost', 2);
    const kept = await backedUp('kept');
    await unlink(blobPath(vault.dataDir, lost.sha256));
    const h = healer();
    h.start();
    await settle(h);
    assert.deepEqual(
      lost.ids.map((id) => store.getFile(id)?.state),
      ['discovered', 'discovered'],
    );
    assert.equal(store.getFile(kept.ids[0]!)?.state, 'backed_up');
    assert.deepEqual(
      store.verify.repairs().map((r) => [r.sha256, r.problem, r.foundBy]),
      [[lost.sha256, 'missing', 'check']],
    );
    assert.equal(events.filter((e) => e.code === 'repaired').length, 0);

    // The pipeline's moves of one copy back to safe: the upload replaced the blob.
    const id = lost.ids[0]!;
    for (const t of [
      transitions.hashKnown(lost.sha256),
      transitions.notOnVault(),
      transitions.uploadStarted(),
      transitions.verified(Date.now()),
    ]) {
      assert.ok(store.apply(id, t), t.name);
    }
    store.commit();
    await new Promise((r) => setTimeout(r, 0));
    const repaired = events.filter((e) => e.code === 'repaired');
    assert.equal(repaired.length, 1);
    assert.match(repaired[0]!.message, /^Repaired lost-0\.jpg/);
    assert.deepEqual(store.verify.repairs(), []);
  });

  it('remembers a repair across a restart of the engine', async () => {
    const lost = await backedUp('again');
    await unlink(blobPath(vault.dataDir, lost.sha256));
    const first = healer(0);
    first.start();
    await settle(first);
    first.close();
    const second = healer();
    const id = lost.ids[0]!;
    for (const t of [
      transitions.hashKnown(lost.sha256),
      transitions.notOnVault(),
      transitions.uploadStarted(),
      transitions.verified(Date.now()),
    ]) {
      store.apply(id, t);
    }
    store.commit();
    await new Promise((r) => setTimeout(r, 0));
    assert.ok(second.idle());
    assert.equal(events.filter((e) => e.code === 'repaired').length, 1);
  });

  it('checks the safe files at start only when the last check is a day old', async () => {
    await backedUp('first');
    const h = healer();
    h.start();
    await settle(h);
    h.close();
    const later = await backedUp('later');
    await unlink(blobPath(vault.dataDir, later.sha256));
    const next = healer();
    next.start();
    await settle(next);
    assert.equal(store.getFile(later.ids[0]!)?.state, 'backed_up', 'not due: not checked');
    const every = healer(0);
    every.start();
    await settle(every);
    assert.equal(store.getFile(later.ids[0]!)?.state, 'discovered');
  });
});
