import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { identityOf } from '../../../../main/engine/hash/file-identity.js';
import { fsPath, rawPathBytes } from '../../../../main/engine/raw-path.js';
import { scanFolder, scanSubtree } from '../../../../main/engine/watch/scan.js';
import type { FolderRules, ScanResult } from '../../../../main/engine/watch/types.js';
import { makeTempDir, repoRoot } from '../../../support/paths.js';

const noRules: FolderRules = { include: [], exclude: [] };

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await makeTempDir('keepsake-scan-');
  try {
    return await fn(dir);
  } finally {
    await cleanup();
  }
}

async function put(root: string, relPath: string, content = 'x'): Promise<string> {
  const path = join(root, relPath);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
  return path;
}

function byRelPath(result: ScanResult): Map<string, ScanResult['entries'][number]> {
  return new Map(result.entries.map((e) => [e.relPath, e]));
}

describe('scanFolder', () => {
  it('lists media, sidecars and files of unknown kind with their identity, and skips hidden and system files', () =>
    withTemp(async (root) => {
      const photo = await put(root, '2020/trip/IMG_0001.JPG', 'jpeg bytes');
      await utimes(
        photo,
        new Date('2020-06-01T10:00:00.987Z'),
        new Date('2020-06-01T10:00:00.987Z'),
      );
      await put(root, '2020/trip/IMG_0001.xmp', '<x/>');
      await put(root, 'clip.mov', 'mov');
      await put(root, 'notes.txt');
      await put(root, '.DS_Store');
      await put(root, '2020/._IMG_0001.JPG');
      await put(root, '2020/Thumbs.db');
      await put(root, '2020/IMG_0002.jpg.part');
      await put(root, '.thumbnails/t.jpg');
      await put(root, '@eaDir/IMG_0001.JPG/SYNOFILE_THUMB_XL.jpg');

      const result = await scanFolder(root, noRules);
      assert.equal(result.rootPresent, true);
      assert.deepEqual(result.problems, []);
      assert.deepEqual(result.unreadableDirs, []);
      const entries = byRelPath(result);
      assert.deepEqual([...entries.keys()].sort(), [
        '2020/trip/IMG_0001.JPG',
        '2020/trip/IMG_0001.xmp',
        'clip.mov',
        'notes.txt',
      ]);
      // a name that says nothing is recorded for the engine to look at, never left out
      assert.deepEqual(entries.get('notes.txt')?.classification, { kind: 'unknown' });
      const entry = entries.get('2020/trip/IMG_0001.JPG');
      assert.ok(entry);
      assert.equal(entry.path, photo);
      assert.deepEqual(
        {
          size: entry.size,
          mtimeMs: entry.mtimeMs,
          ino: entry.ino,
          dev: entry.dev,
          ctimeMs: entry.ctimeMs,
        },
        identityOf(lstatSync(photo)),
      );
      assert.equal(entry.mtimeMs, Date.parse('2020-06-01T10:00:00.987Z'));
      assert.deepEqual(entry.classification, {
        kind: 'media',
        mediaType: 'image',
        mime: 'image/jpeg',
      });
      assert.equal(entries.get('2020/trip/IMG_0001.xmp')?.classification.kind, 'sidecar');
    }));

  it('reports excluded files with the rule that excluded them', () =>
    withTemp(async (root) => {
      await put(root, 'Screenshots/s1.png');
      await put(root, 'keep/k.jpg');
      const result = await scanFolder(root, { include: [], exclude: ['Screenshots/'] });
      const entries = byRelPath(result);
      assert.deepEqual(entries.get('Screenshots/s1.png')?.classification, {
        kind: 'excluded',
        rule: 'exclude: Screenshots/',
      });
      assert.equal(entries.get('keep/k.jpg')?.classification.kind, 'media');
    }));

  it('never follows symlinks: a link loop ends the scan with a problem, not a hang', () =>
    withTemp(async (root) => {
      await put(root, 'a/IMG_1.jpg');
      await symlink(root, join(root, 'a/loop')); // a -> root -> a -> ...
      await symlink(join(root, 'a/IMG_1.jpg'), join(root, 'link.jpg'));
      const result = await scanFolder(root, noRules);
      assert.deepEqual(
        result.entries.map((e) => e.relPath),
        ['a/IMG_1.jpg'],
      );
      const codes = result.problems.map((p) => [p.path, p.code]).sort();
      assert.deepEqual(codes, [
        [join(root, 'a/loop'), 'symlink'],
        [join(root, 'link.jpg'), 'symlink'],
      ]);
      assert.match(result.problems[0]?.message ?? '', /symbolic link/);
    }));

  it('reports a FIFO with a media name as not_a_regular_file without opening it', () =>
    withTemp(async (root) => {
      await put(root, 'ok.jpg');
      execFileSync('mkfifo', [join(root, 'pipe.jpg'), join(root, 'pipe.txt')]);
      const result = await scanFolder(root, noRules);
      assert.deepEqual(
        result.entries.map((e) => e.relPath),
        ['ok.jpg'],
      );
      assert.equal(result.problems.length, 1); // the .txt FIFO is not media: silence
      assert.equal(result.problems[0]?.code, 'not_a_regular_file');
      assert.equal(result.problems[0]?.path, join(root, 'pipe.jpg'));
      assert.match(result.problems[0]?.message ?? '', /FIFO/);
    }));

  it('an unreadable sub-folder is a problem and listed as unreadable; the rest is scanned', (t) =>
    withTemp(async (root) => {
      // root reads everything, so the scan runs as `nobody` in a child process
      if (process.getuid?.() !== 0) {
        t.skip('needs root to switch to the nobody user');
        return;
      }
      await put(root, 'open/a.jpg');
      await put(root, 'locked/b.jpg');
      await chmod(root, 0o755);
      await chmod(join(root, 'open'), 0o755);
      await chmod(join(root, 'open/a.jpg'), 0o644);
      await chmod(join(root, 'locked'), 0o700);
      const script = `
        import { scanFolder } from ${JSON.stringify(join(repoRoot, 'main/engine/watch/scan.ts'))};
        const r = await scanFolder(${JSON.stringify(root)}, { include: [], exclude: [] });
        process.stdout.write(JSON.stringify(r));`;
      const child = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          script,
        ],
        {
          cwd: repoRoot,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, TSX_TSCONFIG_PATH: '' },
        },
      );
      assert.equal(child.status, 0, child.stderr);
      const result = JSON.parse(child.stdout) as ScanResult;
      assert.equal(result.rootPresent, true);
      assert.deepEqual(
        result.entries.map((e) => e.relPath),
        ['open/a.jpg'],
      );
      assert.deepEqual(result.unreadableDirs, ['locked']);
      assert.equal(result.problems.length, 1);
      assert.equal(result.problems[0]?.code, 'permission_denied');
      assert.equal(result.problems[0]?.path, join(root, 'locked'));
    }));

  it('a root that is itself a symlink is scanned, with paths under the chosen name', () =>
    withTemp(async (dir) => {
      const real = join(dir, 'data');
      await put(real, 'a/IMG_1.jpg');
      const root = join(dir, 'Pictures');
      await symlink(real, root);
      const result = await scanFolder(root, noRules);
      assert.equal(result.rootPresent, true);
      assert.deepEqual(
        result.entries.map((e) => e.path),
        [join(root, 'a/IMG_1.jpg')],
      );
    }));

  it('a root given with a trailing slash or as a relative path still gives clean absolute paths', () =>
    withTemp(async (root) => {
      await put(root, 'a/IMG_1.jpg');
      const withSlash = await scanFolder(`${root}/`, noRules);
      assert.deepEqual(
        withSlash.entries.map((e) => e.path),
        [join(root, 'a/IMG_1.jpg')],
      );
      const relativeRoot = relative(process.cwd(), root);
      const rel = await scanFolder(relativeRoot, noRules);
      assert.deepEqual(
        rel.entries.map((e) => e.path),
        [join(root, 'a/IMG_1.jpg')],
      );
    }));

  it('a missing root is offline (rootPresent false), never an empty folder', () =>
    withTemp(async (dir) => {
      const result = await scanFolder(join(dir, 'unplugged-drive'), noRules);
      assert.deepEqual(result.entries, []);
      assert.equal(result.rootPresent, false);
    }));

  it('a root that became a file is offline too, with a problem saying so', () =>
    withTemp(async (dir) => {
      const root = await put(dir, 'Photos');
      const result = await scanFolder(root, noRules);
      assert.equal(result.rootPresent, false);
      assert.equal(result.problems[0]?.code, 'folder_not_a_directory');
    }));

  it('keeps an NFC and an NFD spelling of one name as two files', () =>
    withTemp(async (root) => {
      const nfc = 'Café.jpg'.normalize('NFC');
      const nfd = 'Café.jpg'.normalize('NFD');
      await put(root, nfc, '1');
      await put(root, nfd, '22');
      const result = await scanFolder(root, noRules);
      const names = result.entries.map((e) => e.relPath).sort();
      assert.deepEqual(names, [nfc, nfd].sort());
    }));

  it('finds names that are not UTF-8 (also in a folder so named) with their exact bytes, in both walks', () =>
    withTemp(async (root) => {
      const raw = (...parts: (string | number[])[]): Buffer =>
        Buffer.concat(parts.map((p) => Buffer.from(p)));
      const under = (rel: Buffer): Buffer => Buffer.concat([Buffer.from(`${root}/`), rel]);
      mkdirSync(under(raw('Fotos ', [0xe9], 't', [0xe9])));
      const names = [
        raw('caf', [0xe9], '.jpg'),
        raw('caf', [0xe8], '.jpg'),
        raw('Fotos ', [0xe9], 't', [0xe9], '/', [0xff], '.heic'),
      ];
      names.forEach((n, i) => writeFileSync(under(n), `photo ${i}`));
      await put(root, 'caf\uFFFD.jpg', 'a real U+FFFD'); // a valid name holding U+FFFD
      await put(root, 'plain.jpg');
      for (const asyncIo of [false, true]) {
        const result = await scanFolder(root, noRules, undefined, { asyncIo });
        assert.deepEqual(result.problems, []);
        const found = result.entries.map((e) => rawPathBytes(e.relPath).toString('hex')).sort();
        const wanted = [...names, raw('caf\uFFFD.jpg'), raw('plain.jpg')];
        assert.deepEqual(found, wanted.map((b) => b.toString('hex')).sort());
        for (const e of result.entries) {
          assert.equal(e.classification.kind, 'media');
          assert.equal(e.size, lstatSync(fsPath(e.path)).size); // the exact path opens
        }
      }
    }));

  it('the promise-based walk (used on network shares) finds exactly what the fast walk finds', () =>
    withTemp(async (root) => {
      for (let d = 0; d < 12; d++) {
        for (let f = 0; f < 30; f++) await put(root, `y${d % 3}/d${d}/IMG_${f}.jpg`, `${d}-${f}`);
        await put(root, `y${d % 3}/d${d}/notes.txt`);
      }
      await symlink(root, join(root, 'y0/loop'));
      execFileSync('mkfifo', [join(root, 'y1/pipe.heic')]);
      const rules: FolderRules = { include: [], exclude: ['d3'] };
      const fast = await scanFolder(root, rules, undefined, { asyncIo: false });
      const net = await scanFolder(root, rules, undefined, { asyncIo: true });
      const sortEntries = (r: ScanResult) =>
        [...r.entries].sort((a, b) => a.relPath.localeCompare(b.relPath));
      const sortProblems = (r: ScanResult) =>
        [...r.problems].sort((a, b) => a.path.localeCompare(b.path));
      assert.equal(fast.entries.length, 372); // 360 photos + 12 notes.txt (unknown)
      assert.equal(fast.entries.filter((e) => e.classification.kind === 'excluded').length, 31);
      assert.deepEqual(sortEntries(net), sortEntries(fast));
      assert.deepEqual(sortProblems(net), sortProblems(fast));
      assert.equal(fast.problems.length, 2);
    }));

  it('yields to the event loop while it walks a big tree', () =>
    withTemp(async (root) => {
      for (let d = 0; d < 40; d++) {
        await mkdir(join(root, `d${d}`));
        await Promise.all(
          Array.from({ length: 250 }, (_, f) => writeFile(join(root, `d${d}/IMG_${f}.jpg`), '')),
        );
      }
      let turns = 0;
      let scanning = true;
      const spin = (): void => {
        turns++;
        if (scanning) setImmediate(spin);
      };
      setImmediate(spin);
      const result = await scanFolder(root, noRules, undefined, { sliceMs: 2 });
      scanning = false;
      assert.equal(result.entries.length, 10_000);
      // one synchronous walk would let the spinner run at most once
      assert.ok(turns >= 3, `the event loop turned ${turns} times during the scan`);
    }));

  it('stops with an AbortError when its signal is aborted', () =>
    withTemp(async (root) => {
      for (let d = 0; d < 20; d++) await put(root, `d${d}/IMG.jpg`);
      const controller = new AbortController();
      const scanning = scanFolder(root, noRules, controller.signal, { sliceMs: 0 });
      controller.abort();
      await assert.rejects(scanning, { name: 'AbortError' });
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(scanFolder(root, noRules, aborted.signal, { asyncIo: true }), {
        name: 'AbortError',
      });
    }));

  it('scanSubtree scans one folder (e.g. just moved in) with paths relative to the root', () =>
    withTemp(async (root) => {
      await put(root, 'old/a.jpg');
      await put(root, 'new/sub/b.jpg');
      const result = await scanSubtree(root, 'new', noRules);
      assert.deepEqual(
        result.entries.map((e) => e.relPath),
        ['new/sub/b.jpg'],
      );
      await rm(join(root, 'new'), { recursive: true });
      const gone = await scanSubtree(root, 'new', noRules);
      assert.equal(gone.rootPresent, true);
      assert.deepEqual(gone.entries, []);
      assert.deepEqual(gone.problems, []);
    }));
});
