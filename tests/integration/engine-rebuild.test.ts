// Acceptance tests of "the database is a cache that can be rebuilt" (issue 3): delete it, or
// hand the engine a corrupt one, and the next `keepsake backup` reconciles against the disk
// and the vault's dedup check, losing nothing and re-uploading nothing the vault holds.
import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  type BackupSummary,
  VaultReader,
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
} from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { assertTreeUntouched, snapshotTree } from '../support/snapshot.js';
import { copyCorpusFiles, isExpectedTracked, standardSample } from '../support/tree.js';
import { startTestVault } from '../support/vault.js';

type TestVault = Awaited<ReturnType<typeof startTestVault>>;

const databaseFile = 'keepsake.db';

describe('rebuilding the database', () => {
  let vault: TestVault;
  let reader: VaultReader;
  const cleanups: (() => Promise<void>)[] = [];

  // each test gets its own vault, so "nothing uploaded" is never true by accident
  beforeEach(async () => {
    vault = await startTestVault();
    reader = new VaultReader(vault.url, vault.token);
    const v = vault;
    cleanups.push(() => v.close());
  });
  afterEach(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  });

  async function tempDir(prefix: string): Promise<string> {
    const t = await makeTempDir(prefix);
    cleanups.push(t.cleanup);
    return t.dir;
  }

  function backup(src: string, dataDir: string) {
    return runCli([
      'backup',
      src,
      '--to',
      vault.url,
      '--token',
      vault.token,
      '--data-dir',
      dataDir,
      '--json',
    ]);
  }

  async function backedUpTree() {
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const files = await copyCorpusFiles(src, standardSample);
    const first = await backup(src, dataDir);
    assert.equal(first.code, 0, describeRun(first));
    const s = parseJsonOutput<BackupSummary>(first);
    assert.ok(s.bytesUploaded > 0, 'the first run uploaded the tree');
    const tracked = files.filter((f) => isExpectedTracked(f.path));
    assert.equal(s.backedUp + s.duplicates, tracked.length, JSON.stringify(s));
    const names = await readdir(dataDir);
    assert.ok(names.includes(databaseFile), `the database is ${databaseFile}: ${names.join(', ')}`);
    return { src, dataDir, files, tracked };
  }

  it('after the database is deleted, a new run uploads nothing and finds every file backed up', async () => {
    const { src, dataDir, tracked } = await backedUpTree();
    for (const suffix of ['', '-wal', '-shm']) {
      await rm(join(dataDir, databaseFile + suffix), { force: true });
    }
    const before = await snapshotTree(src);
    const usageBefore = await reader.usage();
    const run = await backup(src, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const s = parseJsonOutput<BackupSummary>(run);
    assert.equal(s.bytesUploaded, 0, `nothing re-uploaded: ${JSON.stringify(s)}`);
    assert.equal(s.files, tracked.length + (s.skipped as number));
    assert.equal(s.backedUp + s.duplicates, tracked.length, JSON.stringify(s));
    assert.equal(s.failed, 0);
    assert.deepEqual(await reader.usage(), usageBefore, 'the vault received nothing');
    const present = await reader.check(tracked.map((f) => f.sha256));
    for (const f of tracked) assert.ok(present.has(f.sha256), `${f.relPath} still on the vault`);
    await assertTreeUntouched(src, before);
  });

  it('an older copy of the database catches up with the disk and the vault without re-uploading', async () => {
    const { src, dataDir, tracked } = await backedUpTree();
    // keep a copy of the database as it is now (a backup restored from last week, say)
    const old = await readFile(join(dataDir, databaseFile));
    // the person adds a photo and deletes another; Keepsake backs the change up
    const added = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0012.jpg', dest: 'camera/DSCN0012.jpg' },
    ]);
    const removed = tracked.find((f) => f.relPath === 'misc/PNG.png')!;
    await rm(removed.path);
    const second = await backup(src, dataDir);
    assert.equal(second.code, 0, describeRun(second));
    assert.equal(parseJsonOutput<BackupSummary>(second).bytesUploaded, added[0]!.size);
    // then the old database comes back
    for (const suffix of ['-wal', '-shm']) {
      await rm(join(dataDir, databaseFile + suffix), { force: true });
    }
    await writeFile(join(dataDir, databaseFile), old);
    const before = await snapshotTree(src);
    const usageBefore = await reader.usage();
    const run = await backup(src, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const s = parseJsonOutput<BackupSummary>(run);
    assert.equal(s.bytesUploaded, 0, `nothing re-uploaded: ${JSON.stringify(s)}`);
    assert.equal(s.backedUp + s.duplicates, tracked.length, JSON.stringify(s)); // -1 removed +1 added
    assert.equal(s.missing, 1, `the deleted photo shows as missing: ${JSON.stringify(s)}`);
    assert.deepEqual(await reader.usage(), usageBefore, 'the vault received nothing');
    await assertTreeUntouched(src, before);
  });

  it('a corrupt database is set aside (renamed, not deleted) and rebuilt without re-uploading', async () => {
    const { src, dataDir, tracked } = await backedUpTree();
    for (const suffix of ['-wal', '-shm']) {
      await rm(join(dataDir, databaseFile + suffix), { force: true });
    }
    // garbage where the database was: a header that is not SQLite's, then noise
    const garbage = Buffer.concat([
      Buffer.from('this is not a database: keepsake rebuild test\n'),
      Buffer.alloc(8192, 0x5a),
    ]);
    await writeFile(join(dataDir, databaseFile), garbage);

    const before = await snapshotTree(src);
    const usageBefore = await reader.usage();
    const run = await backup(src, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const s = parseJsonOutput<BackupSummary>(run);
    assert.equal(s.bytesUploaded, 0, `nothing re-uploaded: ${JSON.stringify(s)}`);
    assert.equal(s.backedUp + s.duplicates, tracked.length, JSON.stringify(s));
    assert.deepEqual(await reader.usage(), usageBefore);

    // the corrupt file is kept under another name in the data directory, byte for byte
    const kept: string[] = [];
    for (const e of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const p = join(e.parentPath, e.name);
      if (p === join(dataDir, databaseFile)) continue;
      const bytes = await readFile(p);
      if (bytes.equals(garbage)) kept.push(p);
    }
    assert.equal(kept.length, 1, `the corrupt database was set aside: ${kept.join(', ')}`);
    // and the new database is a real one
    const header = (await readFile(join(dataDir, databaseFile))).subarray(0, 16).toString('latin1');
    assert.equal(header, 'SQLite format 3\u0000');
    await assertTreeUntouched(src, before);
  });

  it('garbage in the middle of the database (its header intact) is found at open, set aside and rebuilt without re-uploading', async () => {
    const { src, dataDir, tracked } = await backedUpTree();
    for (const suffix of ['-wal', '-shm']) {
      await rm(join(dataDir, databaseFile + suffix), { force: true });
    }
    // Overwrite the middle third of the file, page-aligned, leaving page 1 (the header and
    // the schema) whole: the damage only a full check finds before a query trips over it.
    const file = join(dataDir, databaseFile);
    const damaged = await readFile(file);
    const page = 4096;
    assert.ok(damaged.length >= 6 * page, `a database of some pages (${damaged.length} bytes)`);
    const from = Math.floor(damaged.length / 3 / page) * page;
    const to = Math.floor((2 * damaged.length) / 3 / page) * page;
    damaged.fill(0x5a, Math.max(page, from), to);
    await writeFile(file, damaged);

    const before = await snapshotTree(src);
    const usageBefore = await reader.usage();
    const run = await backup(src, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const s = parseJsonOutput<BackupSummary>(run);
    assert.equal(s.bytesUploaded, 0, `nothing re-uploaded: ${JSON.stringify(s)}`);
    assert.equal(s.backedUp + s.duplicates, tracked.length, JSON.stringify(s));
    assert.equal(s.failed, 0);
    assert.deepEqual(await reader.usage(), usageBefore, 'the vault received nothing');
    const kept: string[] = [];
    for (const name of await readdir(dataDir)) {
      if (name === databaseFile) continue;
      if ((await readFile(join(dataDir, name))).equals(damaged)) kept.push(name);
    }
    assert.equal(kept.length, 1, `the damaged database was set aside: ${kept.join(', ')}`);
    // and a run after that is an ordinary one
    const again = await backup(src, dataDir);
    assert.equal(again.code, 0, describeRun(again));
    assert.equal(parseJsonOutput<BackupSummary>(again).bytesUploaded, 0);
    await assertTreeUntouched(src, before);
  });
});
