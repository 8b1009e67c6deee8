// Reconcile: the real scanFolder on a real folder against a real SQLite store. The scan is
// the truth: an unchanged file keeps its stored hash, a changed one is re-discovered, a gone
// one is missing, a folder whose root vanished changes nothing, and a FIFO with a photo's
// name is a visible failure; a symbolic link is shown as excluded by its rule.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFile,
  copyFile,
  mkdir,
  rename,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import {
  reconcileFolder,
  symlinkRule,
  type ReconcileContext,
} from '../../../../main/engine/pipeline/reconcile.js';
import { transitions } from '../../../../main/engine/pipeline/transitions.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { createStore, type FileRecord, type Store } from '../../../../main/engine/store/store.js';
import { classifyPath } from '../../../../main/engine/watch/media-types.js';
import { scanFolder } from '../../../../main/engine/watch/scan.js';
import { corpusFile, makeTempDir } from '../../../support/paths.js';

describe('reconcile', () => {
  let dir: string;
  let root: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  const abandoned: string[] = [];

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('keepsake-reconcile-'));
    root = join(dir, 'photos');
    await mkdir(join(root, 'a'), { recursive: true });
    await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(root, 'a', 'one.jpg'));
    await copyFile(corpusFile('exifr-fixtures/img_1771_no_exif.jpg'), join(root, 'a', 'two.jpg'));
    await copyFile(corpusFile('exifr-fixtures/BonTonARTSTORplusIPTC.jpg'), join(root, 'three.jpg'));
    const { db } = openDatabase(join(dir, 'k.db'), { logger: silentLogger, clock: systemClock });
    store = createStore(db, systemClock);
    store.addFolder(root, [], []);
  });
  after(async () => {
    store.close();
    await cleanup();
  });

  const ctx = (): ReconcileContext => ({
    store,
    now: () => systemClock.now(),
    classify: classifyPath,
    abandon: (url) => abandoned.push(url),
  });

  async function reconcile() {
    const folder = store.listFolders()[0]!;
    const scan = await scanFolder(root, { include: [], exclude: [] });
    return reconcileFolder(ctx(), folder, scan, 0);
  }

  const row = (rel: string): FileRecord | null => store.getFileByPath(join(root, rel));

  /** What the hasher and uploader would have done: hashed and backed up. */
  function markBackedUp(rel: string, sha: string): void {
    const f = row(rel)!;
    for (const t of [
      transitions.hashKnown(sha),
      transitions.notOnVault(),
      transitions.uploadStarted(),
      transitions.verified(systemClock.now()),
    ]) {
      assert.ok(store.apply(f.id, t), t.name);
    }
  }

  it('records every media file under the folder as discovered', async () => {
    const counts = await reconcile();
    assert.equal(counts.added, 3);
    for (const rel of ['a/one.jpg', 'a/two.jpg', 'three.jpg']) {
      assert.equal(row(rel)?.state, 'discovered', rel);
    }
    markBackedUp('a/one.jpg', '1'.repeat(64));
    markBackedUp('a/two.jpg', '2'.repeat(64));
    markBackedUp('three.jpg', '3'.repeat(64));
  });

  it('a rescan of an unchanged folder changes nothing: stored hashes stand', async () => {
    const before = ['a/one.jpg', 'a/two.jpg', 'three.jpg'].map((r) => row(r));
    const counts = await reconcile();
    assert.deepEqual(counts, { added: 0, changed: 0, missing: 0, failed: 0 });
    for (const b of before) {
      const now = store.getFile(b!.id)!;
      assert.equal(now.state, 'backed_up');
      assert.equal(now.sha256, b!.sha256);
      assert.equal(now.updatedAt, b!.updatedAt, 'the row was not even rewritten');
    }
  });

  it('a changed file is re-discovered with its hash cleared; a touched mtime counts too', async () => {
    await appendFile(join(root, 'a', 'one.jpg'), Buffer.from('more bytes'));
    await utimes(join(root, 'three.jpg'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const counts = await reconcile();
    assert.equal(counts.changed, 2);
    for (const rel of ['a/one.jpg', 'three.jpg']) {
      assert.equal(row(rel)?.state, 'discovered', rel);
      assert.equal(row(rel)?.sha256, null, rel);
    }
    assert.equal(row('a/two.jpg')?.state, 'backed_up');
  });

  it('a deleted file is missing (never removed), a new name is discovered', async () => {
    await rename(join(root, 'a', 'two.jpg'), join(root, 'renamed.jpg'));
    const counts = await reconcile();
    assert.equal(counts.missing, 1);
    assert.equal(counts.added, 1);
    assert.equal(row('a/two.jpg')?.state, 'missing');
    assert.equal(row('a/two.jpg')?.sha256, '2'.repeat(64), 'what was backed up is remembered');
    const renamed = row('renamed.jpg')!;
    assert.equal(renamed.state, 'discovered');
    // Same inode, size and mtime: the hash pump will take the known hash instead of reading.
    assert.equal(store.findSameContent(renamed)?.sha256, '2'.repeat(64));
  });

  it('a folder whose root is gone (unplugged drive) marks nothing missing', async () => {
    const aside = join(dir, 'unplugged');
    await rename(root, aside);
    try {
      const beforeStates = store.filesOfFolder(store.listFolders()[0]!.id).map((f) => f.state);
      const counts = await reconcile();
      assert.deepEqual(counts, { added: 0, changed: 0, missing: 0, failed: 0 });
      const afterStates = store.filesOfFolder(store.listFolders()[0]!.id).map((f) => f.state);
      assert.deepEqual(afterStates, beforeStates);
    } finally {
      await rename(aside, root);
    }
  });

  it('a FIFO with a photo name is a failed file with a reason, and never opened', async (t) => {
    if (process.platform === 'win32') return t.skip('no FIFOs on Windows');
    execFileSync('mkfifo', [join(root, 'pipe.jpg')]);
    try {
      const counts = await reconcile();
      assert.equal(counts.failed, 1);
      const f = row('pipe.jpg')!;
      assert.equal(f.state, 'failed');
      assert.equal(f.error?.code, 'not_a_regular_file');
      assert.match(f.error?.message ?? '', /pipe|FIFO/i);
      // A second scan does not rewrite the same failure.
      assert.equal((await reconcile()).failed, 0);
    } finally {
      await rm(join(root, 'pipe.jpg'));
    }
  });
  it('a symbolic link to a photo is excluded by a rule the person can read, not failed', async () => {
    await symlink(join(root, 'three.jpg'), join(root, 'link.jpg'));
    try {
      const counts = await reconcile();
      assert.equal(counts.failed, 0, 'a link is not a failure: no retry could change it');
      const f = row('link.jpg')!;
      assert.equal(f.state, 'excluded');
      assert.equal(f.excludedBy, symlinkRule);
      assert.equal(f.error, null);
      // the file it points to is backed up under its own name, once
      assert.notEqual(row('three.jpg')?.state, 'excluded');
      // a second scan leaves it as it is
      const again = await reconcile();
      assert.equal(again.changed + again.added + again.failed, 0);
    } finally {
      await rm(join(root, 'link.jpg'));
    }
  });
  it('a backed-up photo now 0 bytes keeps the size it had (possible damage, told once); content back clears it', async () => {
    const emptied: [string, number][] = [];
    const withWarning = (): ReconcileContext => ({
      ...ctx(),
      emptied: (path, bytes) => emptied.push([path, bytes]),
    });
    const reconcileWarned = async () => {
      const folder = store.listFolders()[0]!;
      const scan = await scanFolder(root, { include: [], exclude: [] });
      return reconcileFolder(withWarning(), folder, scan, 0);
    };
    await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(root, 'four.jpg'));
    await reconcileWarned();
    markBackedUp('four.jpg', '4'.repeat(64));
    const size = row('four.jpg')!.size;
    await truncate(join(root, 'four.jpg'), 0);
    await reconcileWarned();
    assert.equal(row('four.jpg')?.state, 'discovered');
    assert.equal(row('four.jpg')?.emptiedFrom, size);
    // still empty, touched: still the size it was backed up with, and no second warning
    await utimes(join(root, 'four.jpg'), new Date(), new Date(Date.now() + 5000));
    await reconcileWarned();
    assert.equal(row('four.jpg')?.emptiedFrom, size);
    assert.deepEqual(emptied, [[join(root, 'four.jpg'), size]]);
    await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(root, 'four.jpg'));
    await reconcileWarned();
    assert.equal(row('four.jpg')?.emptiedFrom, null);
    // a photo that was never backed up and is created empty is not "emptied"
    await writeFile(join(root, 'five.jpg'), '');
    await reconcileWarned();
    assert.equal(row('five.jpg')?.emptiedFrom, null);
  });
});
