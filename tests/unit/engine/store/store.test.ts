// The store's state machine and hot queries on a real SQLite file: illegal moves are refused
// and change nothing, a stale worker cannot overwrite a newer state, the next-to-upload query
// is served by its index in the promised order, and settings keep their source.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileStates, type FileState } from '../../../../common/contract.js';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { decodeRawName } from '../../../../main/engine/raw-path.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { resolveSettings, applySettingUpdate } from '../../../../main/engine/store/settings.js';
import { createStore, type Store } from '../../../../main/engine/store/store.js';
import {
  canTransition,
  transitions,
  type Transition,
} from '../../../../main/engine/pipeline/transitions.js';
import Database from 'better-sqlite3';
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

  /** One instance of every named transition (arguments do not change its from/to). */
  const everyTransition = (): Transition[] => {
    const identity = { size: 1, mtimeMs: 1, ino: 1, dev: 1 };
    const c = { mime: 'image/jpeg', mediaKind: 'media' as const };
    const error = { code: 'internal', message: 'x', retryable: true };
    return Object.values({
      changedOnDisk: transitions.changedOnDisk('a.jpg', identity, c, 1),
      reappeared: transitions.reappeared('a.jpg', c),
      excluded: transitions.excluded('*.jpg'),
      gone: transitions.gone(),
      unreadable: transitions.unreadable(error),
      notMedia: transitions.notMedia('not a photo or video', {
        relPath: 'a',
        identity,
        changed: true,
        now: 1,
      }),
      hashingStarted: transitions.hashingStarted(),
      hashKnown: transitions.hashKnown('c'.repeat(64)),
      hashDeferred: transitions.hashDeferred(),
      hashed: transitions.hashed({ ...identity, sha256: 'c'.repeat(64) }),
      stillChanging: transitions.stillChanging(identity, 1),
      hashInterrupted: transitions.hashInterrupted(),
      hashFailed: transitions.hashFailed(error),
      foundOnVault: transitions.foundOnVault(),
      notOnVault: transitions.notOnVault(),
      uploadStarted: transitions.uploadStarted(),
      verified: transitions.verified(1),
      uploadInterrupted: transitions.uploadInterrupted(),
      uploadPaused: transitions.uploadPaused(),
      uploadRestarted: transitions.uploadRestarted(),
      changedDuringUpload: transitions.changedDuringUpload(1),
      verifyFailed: transitions.verifyFailed(1, 1),
      uploadFailed: transitions.uploadFailed(error),
      retryLater: transitions.retryLater(1, 1, error),
      vaultChanged: transitions.vaultChanged(),
      manualRetry: transitions.manualRetry(error),
      lostOnVault: transitions.lostOnVault(),
      freedUp: transitions.freedUp(),
    } satisfies Record<Transition['name'], Transition>);
  };

  it('every named transition starts only from states the table allows', () => {
    for (const t of everyTransition()) {
      assert.ok(t.from.length > 0, t.name);
      for (const from of t.from)
        assert.ok(canTransition(from, t.to), `${t.name}: ${from} -> ${t.to}`);
    }
  });

  it('the moves the engine relies on are legal, unsafe ones are not, and any state but a freed-up one can go missing', () => {
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
    for (const s of fileStates) {
      if (s === 'vault_only') continue;
      assert.ok(canTransition(s, 'missing'), `${s} -> missing`);
    }
    // Freed up at the person's request: on the vault only, never missing; only a safe file.
    assert.ok(!canTransition('vault_only', 'missing'));
    assert.ok(canTransition('backed_up', 'vault_only'));
    assert.ok(!canTransition('queued', 'vault_only'));
    assert.ok(!canTransition('failed', 'vault_only'));
  });

  it('a transition applied to a file outside its from-states changes nothing', () => {
    const f = addFile('backed_up');
    assert.equal(store.apply(f.id, transitions.uploadStarted()), null);
    assert.equal(store.apply(f.id, transitions.hashingStarted()), null);
    assert.equal(store.getFile(f.id)?.state, 'backed_up');
  });

  it('a path recorded meanwhile by someone else is not recorded twice, and its row is kept', () => {
    const first = addFile('backed_up', { path: '/photos/a.jpg' });
    const again = store.insertFileIfNew({
      folderId: first.folderId,
      path: '/photos/a.jpg',
      relPath: 'a.jpg',
      size: 5,
      mtimeMs: 5,
      ino: 5,
      dev: 1,
      state: 'discovered',
    });
    assert.equal(again, null);
    const row = store.getFileByPath('/photos/a.jpg');
    assert.equal(row?.id, first.id);
    assert.equal(row?.state, 'backed_up');
    assert.equal(row?.size, 100);
  });

  it('two names that are not UTF-8 but show alike are two files, each read back with its exact bytes', () => {
    const folder = store.addFolder('/photos', [], []);
    const latin1 = (byte: number) =>
      decodeRawName(Buffer.from([0x63, 0x61, 0x66, byte, 0x2e, 0x6a]));
    const names = [latin1(0xe9), latin1(0xe8), 'caf\uFFFD.j']; // the last really holds U+FFFD
    const ids = names.map(
      (relPath, i) =>
        store.insertFile({
          folderId: folder.id,
          path: `/photos/${relPath}`,
          relPath,
          size: 10 + i,
          mtimeMs: 1000,
          ino: 100 + i,
          dev: 1,
          state: 'discovered',
        }).id,
    );
    assert.equal(new Set(ids).size, 3);
    names.forEach((relPath, i) => {
      const row = store.getFileByPath(`/photos/${relPath}`);
      assert.equal(row?.id, ids[i]);
      assert.equal(row?.relPath, relPath);
      assert.equal(row?.path, `/photos/${relPath}`);
    });
    assert.deepEqual(
      [...store.scanRowsOfFolder(folder.id)].map((r) => r.relPath),
      names,
    );
    // the same name again is the same file
    assert.equal(
      store.insertFileIfNew({
        folderId: folder.id,
        path: `/photos/${names[1]}`,
        relPath: names[1] as string,
        size: 1,
        mtimeMs: 1,
        ino: 1,
        dev: 1,
        state: 'discovered',
      }),
      null,
    );
    // a transition that rewrites the relPath keeps it exact
    const seen = {
      relPath: names[0] as string,
      identity: { size: 7, mtimeMs: 2000, ino: 100, dev: 1 },
      changed: true,
      now: 3,
    };
    const moved = store.apply(ids[0] as number, transitions.excluded('*.j', seen));
    assert.equal(moved?.relPath, names[0]);
    assert.equal(store.getFile(ids[0] as number)?.path, `/photos/${names[0]}`);
    // what a person reads shows U+FFFD, once per byte
    const told = store.addActivity({
      level: 'info',
      message: `Backed up ${names[0]}`,
      path: `/photos/${names[0]}`,
      code: null,
    });
    assert.equal(told.path, `/photos/${names[0]}`);
    store.commit();
    assert.equal(store.listActivity(1)[0]?.message, 'Backed up caf\uFFFD.j');
    assert.equal(store.listActivity(1)[0]?.path, '/photos/caf\uFFFD.j');
  });

  it('an unreadable folder whose name is not UTF-8 is told once, and shown with U+FFFD', () => {
    const folder = store.addFolder('/photos', [], []);
    const relPath = decodeRawName(Buffer.from([0x46, 0xe9, 0x74, 0xe9])); // "F\xe9t\xe9"
    const problem = {
      path: `/photos/${relPath}`,
      relPath,
      code: 'permission_denied',
      message: `not allowed: /photos/${relPath}`,
    };
    const first = store.setFolderProblems(folder.id, [problem]);
    assert.equal(first.length, 1);
    assert.equal(first[0]?.path, '/photos/F\uFFFDt\uFFFD');
    assert.deepEqual(store.setFolderProblems(folder.id, [problem]), []);
    assert.equal(
      store.folderProblems(folder.id)[0]?.message,
      'not allowed: /photos/F\uFFFDt\uFFFD',
    );
  });

  it('a stale worker cannot overwrite a newer decision about the file', () => {
    const f = addFile('discovered');
    assert.ok(store.apply(f.id, transitions.hashingStarted()));
    // The hasher saw it vanish while the scan had already marked it missing...
    store.apply(f.id, transitions.gone(['hashing']));
    // ...so the hash worker's late result must not resurrect it.
    const late = transitions.hashed({
      size: 1,
      mtimeMs: 1,
      ino: 1,
      dev: 1,
      sha256: 'c'.repeat(64),
    });
    assert.equal(store.apply(f.id, late), null);
    assert.equal(store.getFile(f.id)?.state, 'missing');
  });

  it('writes the new state and its columns together, keeping the error readable', () => {
    const f = addFile('queued');
    store.apply(f.id, transitions.uploadStarted());
    const failed = store.apply(
      f.id,
      transitions.uploadFailed({
        code: 'too_large',
        message: 'Larger than the vault accepts',
        retryable: false,
      }),
    );
    assert.equal(failed?.state, 'failed');
    assert.deepEqual(failed?.error, {
      code: 'too_large',
      message: 'Larger than the vault accepts',
      retryable: false,
    });
  });

  it('a change is announced, and visible to another process, only once it is committed', async () => {
    const file = join(dir, 'group.db');
    const { db } = openDatabase(file, { logger: silentLogger, clock: systemClock });
    const grouped = createStore(db, systemClock, { commitEveryMs: 60_000, commitEveryChanges: 3 });
    const other = new Database(file, { readonly: true });
    try {
      const heard: string[] = [];
      grouped.onCommitted((changes) => {
        for (const c of changes) heard.push(`${c.cause}:${c.file.state}`);
      });
      const folder = grouped.addFolder('/photos', [], []);
      grouped.commit();
      const base = { folderId: folder.id, size: 1, mtimeMs: 1, ino: 1, dev: 1 };
      const a = grouped.insertFile({
        ...base,
        path: '/photos/a.jpg',
        relPath: 'a.jpg',
        state: 'discovered',
      });
      grouped.apply(a.id, transitions.hashKnown('c'.repeat(64)));
      // Seen at once on this connection (the stages decide on the newest state)...
      assert.equal(grouped.getFile(a.id)?.state, 'queued');
      await new Promise((r) => setImmediate(r));
      // ...but neither announced nor visible elsewhere: the group (3 changes) is still open.
      assert.deepEqual(heard, []);
      const count = () =>
        (other.prepare('SELECT count(*) AS n FROM files').get() as { n: number }).n;
      assert.equal(count(), 0);
      grouped.apply(a.id, transitions.notOnVault());
      assert.equal(count(), 1, 'the third change committed the group');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(heard, ['inserted:discovered', 'hashKnown:queued', 'notOnVault:queued']);
    } finally {
      other.close();
      grouped.close();
    }
  });

  it('a crash loses at most the open group, and what was committed is a state to continue from', () => {
    const file = join(dir, 'crash.db');
    const { db } = openDatabase(file, { logger: silentLogger, clock: systemClock });
    const grouped = createStore(db, systemClock, { commitEveryMs: 60_000, commitEveryChanges: 2 });
    const folder = grouped.addFolder('/photos', [], []);
    grouped.commit();
    const base = { folderId: folder.id, size: 1, mtimeMs: 1, ino: 1, dev: 1 };
    const a = grouped.insertFile({
      ...base,
      path: '/photos/a.jpg',
      relPath: 'a.jpg',
      state: 'discovered',
    });
    grouped.apply(a.id, transitions.hashKnown('c'.repeat(64)));
    grouped.apply(a.id, transitions.notOnVault());
    grouped.apply(a.id, transitions.uploadStarted()); // the group of 2 changes commits
    grouped.apply(a.id, transitions.verified(1)); // open: the crash takes it
    // A crash: the connection goes away without COMMIT.
    db.close();
    const { db: again } = openDatabase(file, { logger: silentLogger, clock: systemClock });
    const reopened = createStore(again, systemClock);
    try {
      assert.equal(reopened.getFile(a.id)?.state, 'uploading');
      assert.deepEqual(
        reopened.interruptedFiles().map((f) => f.id),
        [a.id],
        'start() finds it and asks the vault again',
      );
    } finally {
      reopened.close();
    }
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

  it('lists safe empty files (and the size an emptied one had) through the files_empty index', () => {
    const empty = addFile('backed_up', { size: 0 });
    const emptied = addFile('duplicate', { size: 0 });
    store.update(emptied.id, { emptiedFrom: 4096 });
    addFile('queued', { size: 0 }); // not settled yet: not shown
    addFile('backed_up', { size: 10 });
    assert.deepEqual(
      store.emptyFiles(10).map((f) => [f.id, f.emptiedFrom]),
      [
        [empty.id, null],
        [emptied.id, 4096],
      ],
    );
    assert.equal(store.emptyFileCount(), 2);
    const plan = store.explain('emptyFileCount').join('\n');
    assert.match(plan, /files_empty/, plan);
  });

  it('removing a folder leaves a tombstone for each file whose place the vault knows, with its exact name', () => {
    const told = addFile('backed_up', { path: '/photos/told.jpg' });
    store.update(told.id, { locationSha256: 'b'.repeat(64) });
    addFile('backed_up', { path: '/photos/untold.jpg' });
    const folder = store.getFolderByPath('/photos')!;
    store.removeFolder(folder.id, 'photos');
    assert.equal(store.getFile(told.id), null, 'the files are forgotten');
    const tombstones = store.locationTombstones(10);
    assert.deepEqual(
      tombstones.map((t) => [t.folder, t.path.toString('utf8'), t.sha256]),
      [['photos', 'told.jpg', 'b'.repeat(64)]],
    );
    store.dropLocationTombstones(tombstones.map((t) => t.id));
    assert.deepEqual(store.locationTombstones(10), []);
  });

  it('orders uploads manual additions first, then newest first, skipping pending retries', () => {
    const old = addFile('queued', { mtimeMs: 1000 });
    const newer = addFile('queued', { mtimeMs: 5000 });
    const manual = addFile('queued', { mtimeMs: 10, priority: 1 });
    const retrying = addFile('queued', { mtimeMs: 9000 });
    for (const f of [old, newer, manual, retrying]) store.apply(f.id, transitions.notOnVault());
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
