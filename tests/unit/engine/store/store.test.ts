// The store's state machine and hot queries on a real SQLite file: illegal moves are refused
// and change nothing, a stale worker cannot overwrite a newer state, the next-to-upload query
// is served by its index in the promised order, and settings keep their source.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileStates, type FileState } from '../../../../common/contract.js';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { resolveSettings, applySettingUpdate } from '../../../../main/engine/store/settings.js';
import { createStore, type Store } from '../../../../main/engine/store/store.js';
import {
  canTransition,
  IllegalTransitionError,
} from '../../../../main/engine/store/transitions.js';
import { makeTempDir } from '../../../support/paths.js';

describe('store', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  let n = 0;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('keepsake-store-'));
  });
  beforeEach(() => {
    store?.close();
    const { db } = openDatabase(join(dir, `s${n++}.db`), {
      logger: silentLogger,
      clock: systemClock,
    });
    store = createStore(db, systemClock);
  });
  after(async () => {
    store?.close();
    await cleanup();
  });

  function addFile(
    state: FileState,
    extra: Partial<{ size: number; mtimeMs: number; priority: number; path: string }> = {},
  ) {
    const folder = store.getFolderByPath('/photos') ?? store.addFolder('/photos', [], []);
    const path = extra.path ?? `/photos/f${Math.random().toString(36).slice(2)}.jpg`;
    return store.insertFile({
      folderId: folder.id,
      path,
      relPath: path.slice('/photos/'.length),
      size: extra.size ?? 100,
      mtimeMs: extra.mtimeMs ?? 1000,
      ino: Math.floor(Math.random() * 1e9),
      dev: 1,
      state,
      priority: extra.priority ?? 0,
      sha256: 'b'.repeat(64),
    });
  }

  it('refuses an illegal state move and leaves the row as it was', () => {
    const f = addFile('backed_up');
    assert.throws(() => store.transition(f.id, 'uploading'), IllegalTransitionError);
    assert.throws(() => store.transition(f.id, 'hashing'), IllegalTransitionError);
    assert.equal(store.getFile(f.id)?.state, 'backed_up');
  });

  it('the moves the engine relies on are legal, unsafe ones are not, and any state can go missing', () => {
    // The table is the single source: spot-check the moves the engine relies on.
    assert.ok(canTransition('discovered', 'hashing'));
    assert.ok(canTransition('hashing', 'queued'));
    assert.ok(canTransition('queued', 'duplicate'));
    assert.ok(canTransition('uploading', 'backed_up'));
    assert.ok(canTransition('uploading', 'queued'), 'pause keeps the file queued with its offset');
    assert.ok(!canTransition('missing', 'uploading'));
    assert.ok(
      !canTransition('backed_up', 'queued'),
      'a safe file is re-discovered, never re-queued',
    );
    for (const s of fileStates) assert.ok(canTransition(s, 'missing'), `${s} -> missing`);
  });

  it('a transition guarded by "from" does nothing when the file moved on meanwhile', () => {
    const f = addFile('discovered');
    assert.ok(store.transition(f.id, 'hashing', {}, ['discovered']));
    // The scan decided it is missing while it was being hashed...
    store.transition(f.id, 'missing');
    // ...so the hash worker's late result must not resurrect it.
    assert.equal(store.transition(f.id, 'queued', { sha256: 'c'.repeat(64) }, ['hashing']), null);
    assert.equal(store.getFile(f.id)?.state, 'missing');
  });

  it('writes the new state and its columns in one transaction, keeping the error readable', () => {
    const f = addFile('queued');
    store.transition(f.id, 'uploading');
    const failed = store.transition(f.id, 'failed', {
      error: { code: 'too_large', message: 'Larger than the vault accepts', retryable: false },
    });
    assert.equal(failed?.state, 'failed');
    assert.deepEqual(failed?.error, {
      code: 'too_large',
      message: 'Larger than the vault accepts',
      retryable: false,
    });
  });

  it('the next-files-to-upload query is served by the files_upload_order index, no sort', () => {
    const plan = store.explain('nextToUpload').join('\n');
    assert.match(plan, /USING INDEX files_upload_order/, plan);
    assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
    assert.doesNotMatch(plan, /SCAN files(?! USING)/, plan);
  });

  it('the queue and metadata lookups run once per file, so none of them scans the table', () => {
    for (const name of [
      'nextToHash',
      'dedupPending',
      'metadataPending',
      'nextLargeToUpload',
    ] as const) {
      const plan = store.explain(name).join('\n');
      assert.match(plan, /SEARCH files USING (COVERING )?INDEX/, `${name}: ${plan}`);
      if (name !== 'nextLargeToUpload')
        assert.doesNotMatch(plan, /TEMP B-TREE/, `${name}: ${plan}`);
    }
  });

  it('orders uploads manual additions first, then newest first, skipping pending retries', () => {
    const old = addFile('queued', { mtimeMs: 1000 });
    const newer = addFile('queued', { mtimeMs: 5000 });
    const manual = addFile('queued', { mtimeMs: 10, priority: 1 });
    const retrying = addFile('queued', { mtimeMs: 9000 });
    for (const f of [old, newer, manual, retrying]) store.update(f.id, { dedupChecked: true });
    store.update(retrying.id, { nextAttemptAt: 50_000 });
    const order = store.nextToUpload(10_000, 10).map((f) => f.id);
    assert.deepEqual(order, [manual.id, newer.id, old.id]);
    assert.equal(store.nextRetryAt(10_000), 50_000);
    const later = store.nextToUpload(60_000, 10).map((f) => f.id);
    assert.deepEqual(later, [manual.id, retrying.id, newer.id, old.id]);
  });

  it('settings report their source, and a policy-locked key refuses a change', () => {
    const source = { policy: { concurrency: 2 }, overrides: {}, facts: {} };
    let s = resolveSettings(store, source);
    assert.deepEqual(s.concurrency, { value: 2, source: 'policy', locked: true });
    assert.deepEqual(s.pauseOnBattery, { value: false, source: 'default', locked: false });
    applySettingUpdate(store, source, { key: 'pauseOnBattery', value: true });
    s = resolveSettings(store, source);
    assert.deepEqual(s.pauseOnBattery, { value: true, source: 'user', locked: false });
    assert.throws(
      () => applySettingUpdate(store, source, { key: 'concurrency', value: 5 }),
      (err: unknown) => err instanceof KeepsakeError && err.code === 'setting_locked',
    );
  });
});
