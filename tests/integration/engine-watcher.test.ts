// Acceptance tests of watching (issue 3 "Tests: Watcher"): the engine, through its API, over
// real folders on disk and a real vault on loopback. Each change a person makes in a watched
// folder (create, slow copy, modify, rename, move, delete, atomic save, a big folder added,
// a folder removed) ends in the right file states, with the vault holding the right content,
// and the folder itself untouched by Keepsake.
import assert from 'node:assert/strict';
import { appendFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Engine } from '../../main/engine/api.js';
import type { FileRow, FileState } from '../../common/contract.js';
import {
  VaultReader,
  killAllChildren,
  listFiles,
  metricSum,
  openEngine,
  waitFor,
} from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { assertTreeUntouched, snapshotTree } from '../support/snapshot.js';
import {
  cleanJpegs,
  copyCorpusFiles,
  generateUniqueFiles,
  sha256Of,
  uniqueVariant,
} from '../support/tree.js';
import { startTestVault } from '../support/vault.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { decodeRawName } from '../../main/engine/raw-path.js';

type TestVault = Awaited<ReturnType<typeof startTestVault>>;

const safe: FileState[] = ['backed_up', 'duplicate'];

describe('watching folders', () => {
  let vault: TestVault;
  let reader: VaultReader;
  /** Finished uploads of content the vault already held (a content sent twice). */
  const dedupUploads = async () =>
    metricSum(await reader.metricsText(), /^keepsake_vault_uploads_deduplicated_total$/);
  let engine: Engine | null = null;
  let cleanups: (() => Promise<void>)[] = [];
  let run = 0;

  before(async () => {
    vault = await startTestVault();
    reader = new VaultReader(vault.url, vault.token);
  });
  after(async () => {
    await killAllChildren();
    await vault?.close();
  });
  beforeEach(() => {
    run++;
  });
  afterEach(async () => {
    await engine?.close();
    engine = null;
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  });

  async function tempDir(prefix: string): Promise<string> {
    const t = await makeTempDir(prefix);
    cleanups.push(t.cleanup);
    return t.dir;
  }

  /** A started engine watching the given folders (each added through the API). */
  async function watching(...folders: string[]): Promise<Engine> {
    const dataDir = await tempDir('keepsake-data-');
    engine = await openEngine(dataDir, vault);
    await engine.start();
    for (const f of folders) await engine.api['folders.add']({ path: f });
    return engine;
  }

  async function rowFor(e: Engine, path: string): Promise<FileRow | undefined> {
    return (await listFiles(e)).find((r) => r.path === path);
  }

  /** Waits until the file at `path` is in one of `states` (and, if given, has `sha256`). */
  async function waitForFile(
    e: Engine,
    path: string,
    states: FileState[],
    sha256?: string,
    timeoutMs = 60_000,
  ): Promise<FileRow> {
    let last: FileRow | undefined;
    return waitFor(
      async () => {
        last = await rowFor(e, path);
        return last && states.includes(last.state) && (!sha256 || last.sha256 === sha256)
          ? last
          : undefined;
      },
      {
        timeoutMs,
        intervalMs: 150,
        what: () =>
          `${path} to be ${states.join('|')}${sha256 ? ` with ${sha256.slice(0, 12)}` : ''}; last: ${JSON.stringify(last)}`,
      },
    );
  }

  function photo(tag: string, source = 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg'): Buffer {
    return uniqueVariant(readFileSync(corpusFile(source)), `watcher:${process.pid}:${run}:${tag}`);
  }

  it('a new photo in a watched folder is backed up', async () => {
    const dir = await tempDir('keepsake-src-');
    const e = await watching(dir);
    const bytes = photo('new');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub/new.jpg'), bytes);
    await waitForFile(e, join(dir, 'sub/new.jpg'), safe, sha256Of(bytes));
    assert.ok((await reader.check([sha256Of(bytes)])).size === 1, 'the vault holds it');
    const before = await snapshotTree(dir);
    await e.whenSettled(AbortSignal.timeout(60_000));
    await assertTreeUntouched(dir, before);
  });

  it('photos named in Latin-1 that appear in a watched folder are backed up under their exact names', async () => {
    const dir = await tempDir('keepsake-src-');
    const e = await watching(dir);
    // "caf\xe9.jpg" and "caf\xe8.jpg": both read "caf\uFFFD.jpg" (see [Note: Names that are not UTF-8])
    const exact = (byte: number): Buffer =>
      Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([byte]), Buffer.from('.jpg')]);
    const contents = [photo('latin1-e9'), photo('latin1-e8')];
    writeFileSync(exact(0xe9), contents[0] as Buffer);
    writeFileSync(exact(0xe8), contents[1] as Buffer);
    for (const [i, byte] of [0xe9, 0xe8].entries()) {
      await waitForFile(e, decodeRawName(exact(byte)), safe, sha256Of(contents[i] as Buffer));
    }
    assert.equal((await reader.check(contents.map(sha256Of))).size, 2, 'the vault holds both');
    rmSync(exact(0xe9));
    rmSync(exact(0xe8));
    for (const byte of [0xe9, 0xe8]) await waitForFile(e, decodeRawName(exact(byte)), ['missing']);
  });

  it('a photo copied slowly in pieces is never uploaded half-written', async () => {
    const dir = await tempDir('keepsake-src-');
    const e = await watching(dir);
    const full = photo('slow', 'ianare-exif-samples/jpg/gps/DSCN0010.jpg');
    const path = join(dir, 'slow.jpg');
    const pieces = 8;
    const prefixes: string[] = [];
    for (let i = 0; i < pieces; i++) {
      const piece = full.subarray(
        Math.floor((i * full.length) / pieces),
        Math.floor(((i + 1) * full.length) / pieces),
      );
      await appendFile(path, piece);
      prefixes.push(sha256Of(full.subarray(0, Math.floor(((i + 1) * full.length) / pieces))));
      if (i < pieces - 1) await new Promise((r) => setTimeout(r, 250)); // a slow copy, not a test wait
    }
    const fullSha = sha256Of(full);
    await waitForFile(e, path, safe, fullSha);
    const present = await reader.check(prefixes);
    assert.deepEqual([...present], [fullSha], 'only the complete file reached the vault');
    const before = await snapshotTree(dir);
    await e.whenSettled(AbortSignal.timeout(60_000));
    await assertTreeUntouched(dir, before);
  });

  it('a modified photo is backed up again and the vault keeps the earlier version', async () => {
    const dir = await tempDir('keepsake-src-');
    const e = await watching(dir);
    const path = join(dir, 'edit.jpg');
    const v1 = photo('v1');
    await writeFile(path, v1);
    await waitForFile(e, path, safe, sha256Of(v1));
    const v2 = photo('v2');
    await writeFile(path, v2);
    await waitForFile(e, path, safe, sha256Of(v2));
    const present = await reader.check([sha256Of(v1), sha256Of(v2)]);
    assert.equal(present.size, 2, 'both versions are on the vault (a backup, not a mirror)');
    const rows = (await listFiles(e)).filter((r) => r.path === path);
    assert.equal(rows.length, 1, 'one file, not two');
    const before = await snapshotTree(dir);
    await e.whenSettled(AbortSignal.timeout(60_000));
    await assertTreeUntouched(dir, before);
  });

  it('a renamed photo costs no upload: the new name is backed up, the old one is gone', async () => {
    const dir = await tempDir('keepsake-src-');
    const e = await watching(dir);
    const bytes = photo('rename', 'ianare-exif-samples/jpg/gps/DSCN0010.jpg');
    await writeFile(join(dir, 'before.jpg'), bytes);
    await waitForFile(e, join(dir, 'before.jpg'), safe, sha256Of(bytes));
    const usage = await reader.usage();
    const uploadsBefore = await dedupUploads();
    await mkdir(join(dir, 'renamed'));
    await rename(join(dir, 'before.jpg'), join(dir, 'renamed/after.jpg'));
    await waitForFile(e, join(dir, 'renamed/after.jpg'), safe, sha256Of(bytes));
    await waitFor(
      async () => {
        const old = await rowFor(e, join(dir, 'before.jpg'));
        return !old || old.state === 'missing';
      },
      { what: 'the old name to be gone or missing' },
    );
    const after = await reader.usage();
    assert.equal(after.bytes, usage.bytes);
    // (dedupSavedBytes now counts the places clients register, which a rename moves.)
    assert.equal(await dedupUploads(), uploadsBefore, 'the content was not uploaded again');
    const before = await snapshotTree(dir);
    await e.whenSettled(AbortSignal.timeout(60_000));
    await assertTreeUntouched(dir, before);
  });

  it('a photo moved from one watched folder to another costs no upload', async () => {
    const a = await tempDir('keepsake-src-a-');
    const b = await tempDir('keepsake-src-b-');
    const e = await watching(a, b);
    const bytes = photo('move');
    await writeFile(join(a, 'moving.jpg'), bytes);
    await waitForFile(e, join(a, 'moving.jpg'), safe, sha256Of(bytes));
    const usage = await reader.usage();
    const uploadsBefore = await dedupUploads();
    await rename(join(a, 'moving.jpg'), join(b, 'moved.jpg'));
    await waitForFile(e, join(b, 'moved.jpg'), safe, sha256Of(bytes));
    await waitFor(
      async () => {
        const old = await rowFor(e, join(a, 'moving.jpg'));
        return !old || old.state === 'missing';
      },
      { what: 'the old place to be gone or missing' },
    );
    const after = await reader.usage();
    assert.equal(after.bytes, usage.bytes);
    assert.equal(await dedupUploads(), uploadsBefore, 'the content was not uploaded again');
    const snapA = await snapshotTree(a);
    const snapB = await snapshotTree(b);
    await e.whenSettled(AbortSignal.timeout(60_000));
    await assertTreeUntouched(a, snapA);
    await assertTreeUntouched(b, snapB);
  });

  it('a deleted photo shows as missing and stays on the vault', async () => {
    const dir = await tempDir('keepsake-src-');
    const e = await watching(dir);
    const bytes = photo('delete');
    const path = join(dir, 'gone.jpg');
    await writeFile(path, bytes);
    await waitForFile(e, path, safe, sha256Of(bytes));
    await rm(path);
    await waitForFile(e, path, ['missing']);
    assert.equal((await reader.check([sha256Of(bytes)])).size, 1, 'never deleted from the vault');
    assert.ok(await reader.getAsset(sha256Of(bytes)));
    const before = await snapshotTree(dir);
    await e.whenSettled(AbortSignal.timeout(60_000));
    await assertTreeUntouched(dir, before);
  });

  it('an atomic save (write a temp file, rename it over the photo) is one change', async () => {
    const dir = await tempDir('keepsake-src-');
    const e = await watching(dir);
    const path = join(dir, 'portrait.jpg');
    const v1 = photo('atomic-v1');
    await writeFile(path, v1);
    await waitForFile(e, path, safe, sha256Of(v1));
    const v2 = photo('atomic-v2');
    // the way editors save: a temp file beside it, then rename over the original
    await writeFile(join(dir, 'portrait.jpg.tmp'), v2);
    await rename(join(dir, 'portrait.jpg.tmp'), path);
    await waitForFile(e, path, safe, sha256Of(v2));
    const rows = await listFiles(e);
    assert.deepEqual(
      rows.map((r) => r.relPath).sort(),
      ['portrait.jpg'],
      'the temp file was never tracked; one file, not two',
    );
    assert.equal((await reader.check([sha256Of(v1), sha256Of(v2)])).size, 2);
    const before = await snapshotTree(dir);
    await e.whenSettled(AbortSignal.timeout(60_000));
    await assertTreeUntouched(dir, before);
  });

  it('a folder added with 5,000 photos is backed up completely', async () => {
    const dir = await tempDir('keepsake-src-');
    const tree = await generateUniqueFiles(dir, {
      count: 5000,
      folders: 20,
      sources: cleanJpegs(1500).map((r) => r.path),
      uniqueTag: `watch5000:${process.pid}:${Date.now()}`,
    });
    const before = await snapshotTree(dir);
    const e = await watching(dir);
    await waitFor(
      async () => {
        const s = await e.api['status.get']({});
        return s.counts.backed_up + s.counts.duplicate >= 5000 ? s : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 500, what: '5,000 files to be backed up' },
    );
    const rows = await listFiles(e);
    assert.equal(rows.length, 5000);
    const byRel = new Map(rows.map((r) => [r.relPath, r]));
    for (const [rel, sha] of tree.hashes) {
      const row = byRel.get(rel);
      assert.ok(row && safe.includes(row.state), `${rel}: ${JSON.stringify(row)}`);
      assert.equal(row.sha256, sha, rel);
    }
    const present = await reader.check([...tree.hashes.values()]);
    assert.equal(present.size, 5000, 'the vault holds all 5,000');
    await assertTreeUntouched(dir, before);
  });

  it('a removed folder is no longer watched, and what it backed up stays on the vault', async () => {
    const kept = await tempDir('keepsake-src-kept-');
    const removed = await tempDir('keepsake-src-removed-');
    const files = await copyCorpusFiles(removed, [
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'old.jpg' },
    ]);
    const e = await watching(kept, removed);
    await waitForFile(e, files[0]!.path, safe, files[0]!.sha256);
    const folder = (await e.api['folders.list']({})).find((f) => f.path === removed);
    assert.ok(folder);
    await e.api['folders.remove']({ id: folder.id });
    assert.ok(!(await e.api['folders.list']({})).some((f) => f.path === removed));
    // a photo added to the removed folder must not be backed up; one added to the kept folder,
    // written after it, must: once that one is safe, the other has had every chance
    const ignored = photo('after-remove');
    await writeFile(join(removed, 'after.jpg'), ignored);
    const sentinel = photo('sentinel');
    await writeFile(join(kept, 'sentinel.jpg'), sentinel);
    await waitForFile(e, join(kept, 'sentinel.jpg'), safe, sha256Of(sentinel));
    await e.whenSettled(AbortSignal.timeout(60_000));
    assert.equal(
      (await reader.check([sha256Of(ignored)])).size,
      0,
      'the removed folder is not watched',
    );
    assert.equal((await reader.check([files[0]!.sha256])).size, 1, 'its earlier backup stays');
    const rows = await listFiles(e);
    assert.ok(
      !rows.some((r) => r.path === join(removed, 'after.jpg')),
      'no row for the new file in the removed folder',
    );
  });
});
