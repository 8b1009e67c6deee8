// Free up, the checks right before each move (issue 15 section 2): real files, a real SQLite
// store, the real hasher and lstat; the move itself goes to a folder standing in for the trash
// (the system trash is exercised end to end in tests/integration/free-up.test.ts). An edit that
// lands after a file was hashed and before it is moved keeps it in its place, with the reason;
// content the vault proved within 24 hours is not asked of the vault again; older proof with no
// vault to ask keeps the file.
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFreeUp, reasons } from '../../../../main/engine/free-up/free-up.js';
import { createFileHasher } from '../../../../main/engine/hash/index.js';
import type { FileHasher } from '../../../../main/engine/hash/types.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { lstatPath } from '../../../../main/engine/runtime/folders.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { createStore, type Store } from '../../../../main/engine/store/store.js';
import { corpusFile, makeTempDir } from '../../../support/paths.js';
import { sha256Of } from '../../../support/tree.js';
import { readFile } from 'node:fs/promises';

describe('free up: the last checks before each move', () => {
  let dir: string;
  let root: string;
  let trashDir: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  let hasher: FileHasher;
  const names = ['a.jpg', 'b.jpg', 'c.jpg'];

  before(async () => {
    ({ dir, cleanup } = await makeTempDir('keepsake-free-up-unit-'));
    root = join(dir, 'photos');
    trashDir = join(dir, 'trash');
    await mkdir(root);
    await mkdir(trashDir);
    const { db } = openDatabase(join(dir, 'k.db'), { logger: silentLogger, clock: systemClock });
    store = createStore(db, systemClock);
    hasher = createFileHasher({ logger: silentLogger });
    const folder = store.addFolder(root, [], []);
    store.setFolderFreeUp(folder.id, true);
    const photos = [
      'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
      'ianare-exif-samples/jpg/gps/DSCN0010.jpg',
      'osxphotos/wedding.jpg',
    ];
    for (const [i, name] of names.entries()) {
      const path = join(root, name);
      await copyFile(corpusFile(photos[i]!), path);
      const h = await hasher.hashFile(path);
      // What a backup leaves: safe, its place registered on the vault with this content.
      const f = store.insertFile({
        folderId: folder.id,
        path,
        relPath: name,
        size: h.size,
        mtimeMs: h.mtimeMs,
        ino: h.ino,
        dev: h.dev,
        ctimeMs: h.ctimeMs ?? 0,
        state: 'backed_up',
        sha256: h.sha256,
      });
      store.update(f.id, { locationSha256: h.sha256, locationMtimeMs: h.mtimeMs });
    }
    store.commit();
  });
  after(async () => {
    await hasher.close();
    store.close();
    await cleanup();
  });

  const idOf = (name: string) => store.getFileByPath(join(root, name))!.id;

  it('with no fresh proof and no vault to ask, nothing moves and each file says why', async () => {
    const moved: string[] = [];
    const freeUp = createFreeUp({
      store,
      vault: null,
      statPath: lstatPath,
      hashFile: (p, s) => hasher.hashFile(p, s),
      trash: (p) => {
        moved.push(p);
        return Promise.resolve();
      },
      clock: systemClock,
      allowed: () => ({ allowed: true, lockedByPolicy: false }),
    });
    const r = await freeUp.run({}, new AbortController().signal);
    assert.deepEqual(moved, []);
    assert.deepEqual(r.freed, []);
    for (const k of r.kept) assert.equal(k.reason, reasons.noVault);
    assert.equal(r.kept.length, names.length);
  });

  it('an edit after the file was read again and before its move keeps it, a trash that refuses one keeps it, and the others go on; proof from the last 24 hours is enough', async () => {
    store.verify.setProven(names.map(idOf), systemClock.now() - 3600_000);
    store.commit();
    const edited = join(root, 'b.jpg');
    const before = sha256Of(await readFile(join(root, 'c.jpg')));
    const freeUp = createFreeUp({
      store,
      vault: null, // proof within 24 hours: the vault is not asked
      statPath: lstatPath,
      hashFile: async (p, s) => {
        const hashed = await hasher.hashFile(p, s);
        // The person saves an edit just after Keepsake read the file again.
        if (p === edited) await appendFile(p, 'an edit');
        return hashed;
      },
      trash: (p) =>
        basename(p) === 'a.jpg'
          ? Promise.reject(new Error('the trash is full'))
          : rename(p, join(trashDir, basename(p))),
      clock: systemClock,
      allowed: () => ({ allowed: true, lockedByPolicy: false }),
    });
    const r = await freeUp.run({}, new AbortController().signal);
    assert.deepEqual(
      r.freed.map((f) => basename(f.path)),
      ['c.jpg'],
    );
    assert.deepEqual(r.kept, [
      { path: join(root, 'a.jpg'), reason: reasons.trashFailed('the trash is full') },
      { path: edited, reason: reasons.changedJustNow },
    ]);
    assert.ok(await stat(edited), 'the edited file is still in its place');
    assert.ok(await stat(join(root, 'a.jpg')), 'the refused file is still in its place');
    assert.deepEqual(await readdir(trashDir), ['c.jpg']);
    assert.equal(sha256Of(await readFile(join(trashDir, 'c.jpg'))), before);
    assert.equal(store.getFile(idOf('c.jpg'))?.state, 'vault_only');
    assert.equal(store.getFile(idOf('a.jpg'))?.state, 'backed_up');
    assert.equal(store.getFile(idOf('b.jpg'))?.state, 'backed_up');
  });

  it('a file changed since it was backed up is kept; an unchanged one is a candidate', async () => {
    const freeUp = createFreeUp({
      store,
      vault: null,
      statPath: lstatPath,
      hashFile: (p, s) => hasher.hashFile(p, s),
      trash: () => Promise.reject(new Error('a plan moves nothing')),
      clock: systemClock,
      allowed: () => ({ allowed: true, lockedByPolicy: false }),
    });
    const plan = await freeUp.plan({}, new AbortController().signal);
    assert.deepEqual(
      plan.candidates.map((c) => basename(c.path)),
      ['a.jpg'],
    );
    assert.deepEqual(plan.kept, [{ path: join(root, 'b.jpg'), reason: reasons.changed }]);
  });

  it('a policy that forbids it refuses before anything is read', async () => {
    const freeUp = createFreeUp({
      store,
      vault: null,
      statPath: () => Promise.reject(new Error('must not be called')),
      hashFile: () => Promise.reject(new Error('must not be called')),
      trash: () => Promise.reject(new Error('must not be called')),
      clock: systemClock,
      allowed: () => ({ allowed: false, lockedByPolicy: true }),
    });
    await assert.rejects(freeUp.plan({}, new AbortController().signal), {
      code: 'setting_locked',
      message: /by your organisation/,
    });
  });
});
