// Storage faults while the engine runs (issue 9, items 7 and 8), on a real SQLite file: a
// database damaged under a running store puts it in fault mode (no more writes, work lists
// empty, the fault told once) and is set aside (renamed, never deleted) and rebuilt at the next
// open. See [Note: Storage faults] and [Note: Store fault mode].
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { transitions } from '../../../../main/engine/pipeline/transitions.js';
import { createStore } from '../../../../main/engine/store/store.js';
import { makeTempDir } from '../../../support/paths.js';

const opts = { logger: silentLogger, clock: systemClock };

describe('store fault mode', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('keepsake-store-faults-'));
  });
  after(() => cleanup());

  it('a database damaged while in use stops every write, is told once, and is set aside and rebuilt at the next open', () => {
    const file = join(dir, 'keepsake.db');
    {
      const { db } = openDatabase(file, opts);
      const store = createStore(db, systemClock);
      const folder = store.addFolder('/photos', [], []);
      store.batch(() => {
        for (let i = 0; i < 3000; i++) {
          store.insertFile({
            folderId: folder.id,
            path: `/photos/${'long-name-'.repeat(8)}${i}.jpg`,
            relPath: `${i}.jpg`,
            size: 100 + i,
            mtimeMs: 1000 + i,
            ino: i + 1,
            dev: 1,
            state: 'discovered',
          });
        }
      });
      store.close();
    }
    const { db } = openDatabase(file, opts);
    // Read every page from the file from now on, as a connection whose cache is cold does.
    db.pragma('cache_size = 1');
    const faults: KeepsakeError[] = [];
    const store = createStore(db, systemClock, { file, onFault: (f) => faults.push(f) });
    const id = store.nextToHash(Number.MAX_SAFE_INTEGER, 0, 1)[0]?.id;
    assert.ok(id !== undefined);
    // Damage the middle of the file under the open store (page 1, the schema, stays whole).
    const bytes = readFileSync(file);
    const page = 4096;
    const from = Math.floor(bytes.length / 3 / page) * page;
    bytes.fill(0x5a, from, from + 8 * page);
    writeFileSync(file, bytes);

    // Touch every row: one of them is on a damaged page. The changes stop quietly (null).
    let changed = 0;
    store.batch(() => {
      for (let i = 1; i <= 3001; i++) if (store.apply(i, transitions.hashingStarted())) changed++;
    });
    assert.ok(changed < 3000, `the damage stopped the changes (${changed} made)`);
    assert.equal(faults.length, 1, 'told once');
    assert.ok(faults[0] instanceof KeepsakeError);
    assert.equal(store.fault()?.code, 'database_corrupt');
    assert.equal(store.apply(id, transitions.hashingStarted()), null, 'no more state changes');
    assert.deepEqual(store.nextToHash(Number.MAX_SAFE_INTEGER, 0, 10), [], 'no work handed out');
    assert.throws(
      () => store.addFolder('/more', [], []),
      (err: unknown) => err instanceof KeepsakeError && err.code === 'database_corrupt',
    );
    assert.equal(store.retryAfterFault(), false, 'a damaged database does not heal');
    store.close();

    // The engine marks it damaged (engine.ts); the next open sets it aside and starts afresh.
    writeFileSync(`${file}.damaged`, 'found damaged while in use\n');
    const reopened = openDatabase(file, opts);
    try {
      assert.ok(reopened.setAside, 'set aside');
      assert.ok(existsSync(reopened.setAside));
      assert.ok(statSync(reopened.setAside).size >= bytes.length, 'kept, not deleted');
      assert.ok(!existsSync(`${file}.damaged`), 'the mark is gone with it');
      const n = reopened.db.prepare('SELECT count(*) AS n FROM files').get() as { n: number };
      assert.equal(n.n, 0, 'a fresh database, rebuilt from the folders and the vault');
    } finally {
      reopened.db.close();
    }
    assert.ok(readdirSync(dir).some((name) => name.startsWith('keepsake.db.corrupt-')));
  });
});
