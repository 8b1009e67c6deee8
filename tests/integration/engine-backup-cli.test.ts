// Acceptance tests of `keepsake backup` (issue 3 "CLI"), run as a person runs it: a child
// process over real corpus files, against a real vault on loopback, with a real SQLite data
// directory. Every test also proves the source folder was left untouched.
import assert from 'node:assert/strict';
import { readdir, open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  type BackupSummary,
  VaultReader,
  describeRun,
  killAllChildren,
  metricSum,
  openEngine,
  parseJsonOutput,
  runCli,
} from '../support/cli.js';
import { FsBlobStore } from '../../server/blob-store.js';
import { makeTempDir } from '../support/paths.js';
import { assertTreeUntouched, sha256File, snapshotTree } from '../support/snapshot.js';
import {
  type TreeFile,
  copyCorpusFiles,
  isExpectedMedia,
  isExpectedTracked,
  setTreeMtimes,
  exactMtime,
  restoreMtime,
  standardSample,
} from '../support/tree.js';
import { startTestVault } from '../support/vault.js';

type TestVault = Awaited<ReturnType<typeof startTestVault>>;

const fixedMtime = Date.UTC(2024, 4, 17, 9, 30, 0) / 1000;

describe('keepsake backup', () => {
  // each test gets its own vault (tests never see each other's uploads)
  let vault: TestVault;
  let reader: VaultReader;
  const cleanups: (() => Promise<void>)[] = [];

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

  /** A fresh source folder with the standard corpus sample and a fresh data dir. */
  async function freshSetup(): Promise<{ src: string; dataDir: string; files: TreeFile[] }> {
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const files = await copyCorpusFiles(src, standardSample);
    await setTreeMtimes(src, fixedMtime);
    return { src, dataDir, files };
  }

  function backup(src: string, dataDir: string, extra: string[] = []) {
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
      ...extra,
    ]);
  }

  function assertSummaryShape(s: BackupSummary): void {
    for (const key of [
      'files',
      'backedUp',
      'duplicates',
      'excluded',
      'failed',
      'bytesUploaded',
      'seconds',
    ]) {
      assert.equal(typeof s[key], 'number', `summary.${key} is a number: ${JSON.stringify(s)}`);
      assert.ok((s[key] as number) >= 0, `summary.${key} >= 0`);
    }
    assert.equal(
      s.backedUp + s.duplicates + s.excluded + s.failed + (s.skipped as number),
      s.files,
      `every file counted once in the summary: ${JSON.stringify(s)}`,
    );
  }

  it('backs up every photo, video and sidecar of a folder to the vault with the same sha256, and skips non-media files with a reason', async () => {
    const { src, dataDir, files } = await freshSetup();
    const before = await snapshotTree(src);

    const run = await backup(src, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const summary = parseJsonOutput<BackupSummary>(run);
    assertSummaryShape(summary);

    const tracked = files.filter((f) => isExpectedTracked(f.path));
    const uniqueContent = new Map(tracked.map((f) => [f.sha256, f.size]));
    const notMedia = files.length - tracked.length;
    assert.equal(
      summary.files,
      tracked.length + notMedia,
      `files = media + sidecars + skipped: ${JSON.stringify(summary)}`,
    );
    assert.equal(summary.failed, 0);
    assert.equal(summary.excluded, 0);
    assert.equal(summary.backedUp + summary.duplicates, tracked.length);
    const uniqueBytes = [...uniqueContent.values()].reduce((a, b) => a + b, 0);
    assert.ok(summary.bytesUploaded >= uniqueBytes, 'every new content was uploaded');

    const held = await reader.assetsBySha();
    for (const f of tracked) {
      const asset = held.get(f.sha256);
      assert.ok(asset, `vault holds ${f.relPath} (${f.sha256})`);
      assert.equal(asset.size, f.size, `vault size of ${f.relPath}`);
    }
    // spot-check the bytes themselves round-trip for one photo and one video
    for (const rel of ['camera/DSCN0010.jpg', 'phone/with-gps.mov']) {
      const f = files.find((x) => x.relPath === rel)!;
      const bytes = await reader.content(f.sha256);
      assert.equal(bytes.length, f.size);
    }
    // non-media files never reach the vault, and each is listed as skipped with why
    const skipped = files.filter((x) => !isExpectedTracked(x.path));
    for (const f of skipped) {
      assert.equal(held.has(f.sha256), false, `${f.relPath} is not media and was not uploaded`);
    }
    assert.equal(summary.skipped, skipped.length, JSON.stringify(summary));
    await assertTreeUntouched(src, before);
  });

  it('a photo whose name holds a newline is backed up, in a batch and through tus alike', async () => {
    // The vault refuses control characters in its labels (filename, relpath); the client
    // sends a readable stand-in, so such a photo is never stuck as failed.
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const [small, small2, large] = await copyCorpusFiles(src, [
      { corpus: 'exiftool-t-images/CanonRaw.cr2', dest: 'tab\tand\nnewline small.cr2' },
      { corpus: 'exiftool-t-images/Canon.jpg', dest: 'second\nsmall.jpg' },
      { corpus: 'exifr-fixtures/IMG_20180725_163423-tiny.jpg', dest: 'line\nbreak large.jpg' },
    ]);
    assert.ok(small && small2 && large);
    assert.ok(large.size > 64 * 1024, 'the second photo is larger than one 64K chunk (tus)');
    const run = await backup(src, dataDir, ['--chunk-size', '64K']);
    assert.equal(run.code, 0, describeRun(run));
    const summary = parseJsonOutput<BackupSummary>(run);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    const held = await reader.assetsBySha();
    for (const f of [small, small2, large])
      assert.ok(held.has(f.sha256), `vault holds ${f.relPath}`);
  });

  it('identical content in two places is uploaded once', async () => {
    const { src, dataDir, files } = await freshSetup();
    const run = await backup(src, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const summary = parseJsonOutput<BackupSummary>(run);
    const tracked = files.filter((f) => isExpectedTracked(f.path));
    const uniqueContent = new Map(tracked.map((f) => [f.sha256, f.size]));
    assert.ok(uniqueContent.size < tracked.length, 'the sample holds a duplicate (wedding.jpg)');
    const uniqueBytes = [...uniqueContent.values()].reduce((a, b) => a + b, 0);
    assert.equal(
      summary.bytesUploaded,
      uniqueBytes,
      'each distinct content uploaded exactly once (wedding.jpg is in the tree twice)',
    );
    const metrics = await reader.metricsText();
    assert.equal(
      metricSum(metrics, /^keepsake_vault_uploads_deduplicated_total$/),
      0,
      'the vault never received a content twice',
    );
    // What dedup saved is the bytes of every place beyond a content's first.
    const trackedBytes = tracked.reduce((n, f) => n + f.size, 0);
    const usage = await reader.usage();
    assert.equal(usage.dedupSavedBytes, trackedBytes - uniqueBytes);
    assert.equal(summary.backedUp + summary.duplicates, tracked.length);
  });

  it('a second run over an unchanged folder uploads nothing; an edit that puts the mtime back is still uploaded', async () => {
    const { src, dataDir, files } = await freshSetup();
    const first = await backup(src, dataDir);
    assert.equal(first.code, 0, describeRun(first));
    const firstSummary = parseJsonOutput<BackupSummary>(first);

    const sneaky = files.find((f) => f.relPath === 'camera/Canon_PowerShot_S40.jpg')!;
    const st = await stat(sneaky.path);
    const mtimeNs = await exactMtime(sneaky.path);

    const before = await snapshotTree(src);
    const usageBefore = await reader.usage();
    const second = await backup(src, dataDir);
    assert.equal(second.code, 0, describeRun(second));
    const s = parseJsonOutput<BackupSummary>(second);
    assertSummaryShape(s);
    assert.equal(s.bytesUploaded, 0, `second run uploads nothing: ${JSON.stringify(s)}`);
    assert.equal(s.files, firstSummary.files);
    assert.equal(s.backedUp + s.duplicates, firstSummary.backedUp + firstSummary.duplicates);
    assert.equal(s.failed, 0);
    const usageAfter = await reader.usage();
    assert.equal(usageAfter.assets, usageBefore.assets);
    assert.equal(usageAfter.bytes, usageBefore.bytes);
    await assertTreeUntouched(src, before);

    // Rewrite one photo's bytes in place, same length, then put its mtime back (issue 9 item
    // 5): size, mtime and inode are unchanged but its ctime moved, so it is re-hashed and only
    // it is uploaded.
    const fh = await open(sneaky.path, 'r+');
    try {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, st.size - 1);
      last[0] = last[0]! ^ 0xff;
      await fh.write(last, 0, 1, st.size - 1);
    } finally {
      await fh.close();
    }
    restoreMtime(sneaky.path, mtimeNs);
    assert.equal(await exactMtime(sneaky.path), mtimeNs);
    const sneakySha = await sha256File(sneaky.path);
    assert.equal((await stat(sneaky.path)).ino, st.ino);
    const before3 = await snapshotTree(src);
    const third = await backup(src, dataDir);
    assert.equal(third.code, 0, describeRun(third));
    const s3 = parseJsonOutput<BackupSummary>(third);
    assert.equal(s3.bytesUploaded, sneaky.size, 'only the changed file is uploaded');
    assert.deepEqual(await reader.check([sneakySha]), new Set([sneakySha]));
    await assertTreeUntouched(src, before3);
  });

  it('--dry-run uploads nothing and reports what would be uploaded and what the vault already holds', async () => {
    const { src, dataDir, files } = await freshSetup();
    // the vault already holds part of the tree: back up the camera/ folder first, elsewhere
    const preDataDir = await tempDir('keepsake-data-');
    const pre = await backup(join(src, 'camera'), preDataDir);
    assert.equal(pre.code, 0, describeRun(pre));

    const before = await snapshotTree(src);
    const usageBefore = await reader.usage();
    const run = await backup(src, dataDir, ['--dry-run']);
    assert.equal(run.code, 0, describeRun(run));
    const out = parseJsonOutput<Record<string, unknown>>(run);
    const usageAfter = await reader.usage();
    assert.deepEqual(usageAfter, usageBefore, 'a dry run changes nothing on the vault');
    assert.equal(out.bytesUploaded ?? 0, 0);

    const tracked = files.filter((f) => isExpectedTracked(f.path));
    const held = tracked.filter((f) => f.relPath.startsWith('camera/'));
    // wedding.jpg is in the tree twice: one copy would be uploaded, the other is predicted
    // to be a duplicate of it (as the real run will record it).
    const isWedding = (p: string) => /family\/(2019\/)?wedding\.jpg$/.test(p);
    const toUpload = tracked.filter(
      (f) => !f.relPath.startsWith('camera/') && !isWedding(f.relPath),
    );
    const predicted = out.duplicatesOfFilesHere as { path: string; of: string }[];
    assert.equal(predicted.length, 1, `one in-folder duplicate predicted:\n${JSON.stringify(out)}`);
    assert.ok(isWedding(predicted[0]!.path) && isWedding(predicted[0]!.of));
    assert.notEqual(predicted[0]!.path, predicted[0]!.of);
    const wouldUpload = (out.wouldUpload as { path: string }[]).map((f) => f.path);
    assert.deepEqual(wouldUpload.filter(isWedding), [predicted[0]!.of], 'the first copy uploads');
    const text = JSON.stringify(out);
    // The report names each file under the heading it belongs to. We look for the lists by
    // their meaning, not by a key name we guessed: a list that contains every held file's
    // path and no other, and a list that contains every file still to upload.
    const lists = collectPathLists(out);
    const heldList = lists.find(
      (l) => held.every((f) => l.some((p) => p.endsWith(f.relPath))) && l.length === held.length,
    );
    assert.ok(heldList, `dry run lists exactly the files the vault already holds:\n${text}`);
    const uploadList = lists.find((l) =>
      toUpload.every((f) => l.some((p) => p.endsWith(f.relPath))),
    );
    assert.ok(uploadList, `dry run lists every file it would upload:\n${text}`);
    for (const f of held) {
      assert.ok(
        !uploadList.some((p) => p.endsWith(f.relPath)),
        `${f.relPath} is already on the vault and not listed for upload`,
      );
    }
    await assertTreeUntouched(src, before);
  });

  it('--dry-run says what is excluded and why', async () => {
    const { src, dataDir } = await freshSetup();
    // the person excluded the raw/ folder (folder rules live in the data directory)
    const engine = await openEngine(dataDir, vault);
    try {
      await engine.api['folders.add']({ path: src, exclude: ['raw'] });
    } finally {
      await engine.close();
    }
    const before = await snapshotTree(src);
    const run = await backup(src, dataDir, ['--dry-run']);
    assert.equal(run.code, 0, describeRun(run));
    const out = parseJsonOutput<Record<string, unknown>>(run);
    const text = JSON.stringify(out);
    const lists = collectPathLists(out);
    const rawFiles = ['raw/CanonRaw.cr2', 'raw/Nikon.nef', 'raw/DNG.dng', 'raw/cookiezen.jpg'];
    const excludedList = lists.find((l) => rawFiles.every((r) => l.some((p) => p.endsWith(r))));
    assert.ok(excludedList, `excluded files are listed:\n${text}`);
    assert.match(text, /"raw"|raw\b/, `the rule that excluded them is shown:\n${text}`);
    assert.equal((out as { excluded?: number }).excluded, 5, text);
    await assertTreeUntouched(src, before);
  });

  it('exits 1 when a file failed, and still backs up every other file', async () => {
    // a vault that refuses anything over 300 kB: the one large photo fails, the rest go through
    const small = await startTestVault({ maxSizeBytes: 300_000 });
    try {
      const src = await tempDir('keepsake-src-');
      const dataDir = await tempDir('keepsake-data-');
      const files = await copyCorpusFiles(
        src,
        standardSample.filter((f) =>
          ['camera/', 'raw/CanonRaw', 'family/wedding.jpg'].some((p) => f.dest.startsWith(p)),
        ),
      );
      const before = await snapshotTree(src);
      const run = await runCli([
        'backup',
        src,
        '--to',
        small.url,
        '--token',
        small.token,
        '--data-dir',
        dataDir,
        '--json',
      ]);
      assert.equal(run.code, 1, describeRun(run));
      const s = parseJsonOutput<BackupSummary>(run);
      assertSummaryShape(s);
      const tooBig = files.filter((f) => isExpectedMedia(f.path) && f.size > 300_000);
      assert.ok(tooBig.length >= 1);
      assert.equal(s.failed, tooBig.length, JSON.stringify(s));
      const smallReader = new VaultReader(small.url, small.token);
      const present = await smallReader.check(files.map((f) => f.sha256));
      for (const f of files.filter((x) => isExpectedTracked(x.path))) {
        assert.equal(present.has(f.sha256), f.size <= 300_000, `${f.relPath} on the vault?`);
      }
      // status shows the failed file and a reason a person can read
      const status = await runCli(['status', '--data-dir', dataDir, '--json']);
      assert.equal(status.code, 0, describeRun(status));
      const st = JSON.stringify(parseJsonOutput(status));
      for (const f of tooBig) assert.ok(st.includes(f.relPath.split('/').pop()!), st);
      await assertTreeUntouched(src, before);
    } finally {
      await small.close();
    }
  });

  it('with no vault given, backs up into an embedded vault under the data directory', async () => {
    const { src, dataDir, files } = await freshSetup();
    const before = await snapshotTree(src);
    const run = await runCli(['backup', src, '--data-dir', dataDir, '--json']);
    assert.equal(run.code, 0, describeRun(run));
    const s = parseJsonOutput<BackupSummary>(run);
    assertSummaryShape(s);
    const tracked = files.filter((f) => isExpectedTracked(f.path));
    assert.equal(s.backedUp + s.duplicates, tracked.length);
    // the embedded vault stores content by sha256 under the data directory, plain or (in the
    // background, for compressible content such as the RAW) compressed as <sha256>.ksz
    const stored = new Map<string, string>();
    for (const e of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
      const name = /^([0-9a-f]{64})(\.ksz)?$/.exec(e.name);
      if (e.isFile() && name) stored.set(name[1]!, join(e.parentPath, e.name));
    }
    for (const f of tracked) {
      const blob = stored.get(f.sha256);
      assert.ok(blob, `embedded vault under ${dataDir} holds ${f.relPath}`);
      // read back through the vault's own read path, which decodes a compressed blob
      const blobs = new FsBlobStore(dirname(dirname(blob)));
      const read = await blobs.withPlainFile(f.sha256, dataDir, sha256File);
      assert.equal(read?.value, f.sha256, `stored bytes of ${f.relPath}`);
    }
    await assertTreeUntouched(src, before);
  });
});

/** Every array of strings anywhere in a JSON value, and arrays of objects mapped to their path. */
function collectPathLists(value: unknown): string[][] {
  const out: string[][] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      const paths = v
        .map((x) => {
          if (typeof x === 'string') return x;
          if (x && typeof x === 'object') {
            const o = x as Record<string, unknown>;
            const p = o.path ?? o.relPath ?? o.file;
            return typeof p === 'string' ? p : null;
          }
          return null;
        })
        .filter((x): x is string => x !== null);
      if (paths.length > 0) out.push(paths);
      for (const x of v) visit(x);
    } else if (v && typeof v === 'object') {
      for (const x of Object.values(v)) visit(x);
    }
  };
  visit(value);
  return out;
}
