import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { decodeRawName } from '../../../../main/engine/raw-path.js';
import {
  detectNetworkFilesystem,
  networkFilesystemName,
} from '../../../../main/engine/watch/filesystem.js';
import type {
  ChangeHint,
  FolderRules,
  FolderWatchStatus,
} from '../../../../main/engine/watch/types.js';
import {
  createFolderWatcher,
  type FolderWatcher,
  outOfWatchHandlesDetail,
} from '../../../../main/engine/watch/watcher.js';
import { makeTempDir, repoRoot } from '../../../support/paths.js';

const noRules: FolderRules = { include: [], exclude: [] };

class Recorder {
  hints: ChangeHint[] = [];
  statuses: FolderWatchStatus[] = [];
  onHints = (hint: ChangeHint): void => {
    this.hints.push(hint);
  };
  onStatus = (status: FolderWatchStatus): void => {
    this.statuses.push(status);
  };
  hintedPaths(): string[] {
    return this.hints.flatMap((h) => h.paths);
  }
  rescans(): number {
    return this.hints.filter((h) => h.rescan).length;
  }
  async waitFor(what: string, ok: () => boolean, deadlineMs = 10_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (!ok()) {
      if (Date.now() > until) {
        throw new Error(
          `timed out waiting for ${what}; hints ${JSON.stringify(this.hints)}, statuses ${JSON.stringify(this.statuses)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Gives the watcher a moment in which any (wrong) event would have arrived. */
const quietPeriod = (ms = 600): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withWatcher(
  setup: (root: string) => Promise<void>,
  body: (ctx: { root: string; rec: Recorder; watcher: FolderWatcher }) => Promise<void>,
  extra: {
    presenceCheckMs?: number;
    rules?: FolderRules;
    rootName?: string;
    maxPathsPerBatch?: number;
    batchMs?: number;
  } = {},
): Promise<void> {
  const { dir, cleanup } = await makeTempDir('keepsake-watch-');
  const root = join(dir, extra.rootName ?? 'Photos');
  const rec = new Recorder();
  let watcher: FolderWatcher | undefined;
  try {
    await setup(root);
    watcher = await createFolderWatcher({
      root,
      rules: extra.rules ?? noRules,
      logger: silentLogger,
      clock: systemClock,
      batchMs: extra.batchMs ?? 150,
      presenceCheckMs: extra.presenceCheckMs ?? 30_000,
      ...(extra.maxPathsPerBatch ? { maxPathsPerBatch: extra.maxPathsPerBatch } : {}),
      onHints: rec.onHints,
      onStatus: rec.onStatus,
    });
    await body({ root, rec, watcher });
  } finally {
    await watcher?.close();
    await cleanup();
  }
}

async function makeTree(root: string, dirs: number, filesPerDir: number): Promise<void> {
  for (let d = 0; d < dirs; d++) {
    const dir = join(root, `album-${d}`);
    await mkdir(dir, { recursive: true });
    await Promise.all(
      Array.from({ length: filesPerDir }, (_, f) =>
        writeFile(join(dir, `IMG_${f}.jpg`), `${d}/${f}`),
      ),
    );
  }
}

/** inotify watches held by this process (from /proc/self/fdinfo). */
function inotifyWatchCount(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:inotify') continue;
      count += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

describe('folder watcher', () => {
  it('reports watching, then one hint for a new photo or unknown file and none for hidden ones', () =>
    withWatcher(
      (root) => makeTree(root, 2, 3),
      async ({ root, rec, watcher }) => {
        assert.deepEqual(rec.statuses, [{ folderRoot: root, mode: 'watching', detail: null }]);
        assert.equal(watcher.status.mode, 'watching');
        await writeFile(join(root, 'notes.txt'), 'n');
        await writeFile(join(root, '.DS_Store'), 'n');
        await writeFile(join(root, 'album-1', 'Thumbs.db'), 'n');
        const photo = join(root, 'album-1', 'IMG_new.HEIC');
        await writeFile(photo, 'heic');
        await rec.waitFor('a hint for the new photo', () => rec.hintedPaths().includes(photo));
        await quietPeriod();
        // notes.txt is hinted too: its content decides whether it is a photo (sniff.ts)
        assert.deepEqual(rec.hintedPaths().sort(), [join(root, 'notes.txt'), photo].sort());
        assert.equal(rec.rescans(), 0);
      },
    ));

  it('hints a photo that is appended to and one that is deleted', () =>
    withWatcher(
      (root) => makeTree(root, 1, 2),
      async ({ root, rec }) => {
        const growing = join(root, 'album-0', 'IMG_0.jpg');
        const deleted = join(root, 'album-0', 'IMG_1.jpg');
        await appendFile(growing, 'more');
        await rm(deleted);
        await rec.waitFor('both paths', () =>
          [growing, deleted].every((p) => rec.hintedPaths().includes(p)),
        );
      },
    ));

  it('a photo whose name is not UTF-8 is hinted by its exact name; when it is gone, the folder is rescanned', () =>
    withWatcher(
      (root) => makeTree(root, 1, 1),
      async ({ root, rec }) => {
        const dir = join(root, 'album-0');
        const exact = (byte: number): Buffer =>
          Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([byte]), Buffer.from('.jpg')]);
        writeFileSync(exact(0xe9), 'one');
        writeFileSync(exact(0xe8), 'two');
        const wanted = [decodeRawName(exact(0xe9)), decodeRawName(exact(0xe8))];
        await rec.waitFor('hints for both exact names', () =>
          wanted.every((p) => rec.hintedPaths().includes(p)),
        );
        await quietPeriod();
        assert.deepEqual([...new Set(rec.hintedPaths())].sort(), [...wanted].sort());
        assert.equal(rec.rescans(), 0);
        rmSync(exact(0xe9));
        rmSync(exact(0xe8));
        await rec.waitFor('a rescan', () => rec.rescans() > 0);
      },
    ));

  it('an atomic save (write a temp file, rename it over the photo) arrives as one hint', () =>
    withWatcher(
      (root) => makeTree(root, 1, 1),
      async ({ root, rec }) => {
        const photo = join(root, 'album-0', 'IMG_0.jpg');
        const temp = join(root, 'album-0', 'IMG_0.jpg.tmp');
        await writeFile(temp, 'edited version');
        await rename(temp, photo);
        await rec.waitFor('a hint', () => rec.hints.length > 0);
        await quietPeriod();
        assert.deepEqual(rec.hints, [{ folderRoot: root, paths: [photo], rescan: false }]);
      },
    ));

  it('a folder moved in asks for a rescan (its files raise no events of their own)', () =>
    withWatcher(
      (root) => makeTree(root, 1, 1),
      async ({ root, rec }) => {
        const outside = join(root, '..', 'import');
        await makeTree(outside, 2, 5);
        await rename(outside, join(root, 'import'));
        await rec.waitFor('a rescan hint', () => rec.rescans() > 0);
        // and the moved-in folders are watched from now on
        const later = join(root, 'import', 'album-1', 'IMG_late.jpg');
        await writeFile(later, 'late');
        await rec.waitFor('a hint inside the moved-in folder', () =>
          rec.hintedPaths().includes(later),
        );
      },
    ));

  it('a burst of more changes than one batch holds becomes one rescan instead of a flood', () =>
    withWatcher(
      (root) => makeTree(root, 1, 1),
      async ({ root, rec }) => {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            writeFile(join(root, 'album-0', `burst-${i}.jpg`), 'b'),
          ),
        );
        await rec.waitFor('a rescan', () => rec.rescans() > 0);
        await quietPeriod();
        assert.deepEqual(rec.hintedPaths(), []);
        assert.equal(rec.rescans(), 1);
      },
      { maxPathsPerBatch: 10, batchMs: 1500 },
    ));

  it('excluded media are still hinted (the engine records them as excluded with the rule)', () =>
    withWatcher(
      (root) => makeTree(root, 1, 1),
      async ({ root, rec }) => {
        const shot = join(root, 'album-0', 'shot.png');
        await writeFile(shot, 'png');
        await rec.waitFor('the excluded file', () => rec.hintedPaths().includes(shot));
      },
      { rules: { include: [], exclude: ['*.png'] } },
    ));

  it('a root that is a symlink (~/Pictures -> /data/Pictures) is watched under the chosen name', () =>
    withWatcher(
      async (root) => {
        const real = join(root, '..', 'data-Pictures');
        await makeTree(real, 1, 1);
        await symlink(real, root);
      },
      async ({ root, rec, watcher }) => {
        assert.equal(watcher.status.mode, 'watching');
        const photo = join(root, 'album-0', 'IMG_new.jpg');
        await writeFile(photo, 'x');
        await rec.waitFor('a hint under the symlinked root', () =>
          rec.hintedPaths().includes(photo),
        );
        await mkdir(join(root, 'album-new'));
        await rec.waitFor('a rescan for the new folder', () => rec.rescans() > 0);
      },
    ));

  it('a vanished root goes offline without hinting its files, and comes back with a rescan', () =>
    withWatcher(
      (root) => makeTree(root, 2, 20),
      async ({ root, rec, watcher }) => {
        await rm(root, { recursive: true });
        await rec.waitFor('offline', () => watcher.status.mode === 'offline');
        assert.match(watcher.status.detail ?? '', /not marked missing/);
        await quietPeriod();
        // no file of the folder was reported as changed: the engine would mark it missing
        assert.deepEqual(rec.hintedPaths(), []);

        await makeTree(root, 1, 1); // the drive is plugged in again
        await rec.waitFor('watching again', () => watcher.status.mode === 'watching');
        await rec.waitFor('a rescan after coming back', () => rec.rescans() > 0);
        assert.deepEqual(
          rec.statuses.map((s) => s.mode),
          ['watching', 'offline', 'watching'],
        );
        const fresh = join(root, 'album-0', 'IMG_after.jpg');
        await writeFile(fresh, 'x');
        await rec.waitFor('events after coming back', () => rec.hintedPaths().includes(fresh));
      },
      { presenceCheckMs: 100 },
    ));

  it('a root missing at start is offline, and is watched once it appears', () =>
    withWatcher(
      async () => {},
      async ({ root, rec, watcher }) => {
        assert.equal(watcher.status.mode, 'offline');
        assert.equal(rec.statuses.length, 1);
        await mkdir(root);
        await rec.waitFor('watching', () => watcher.status.mode === 'watching');
        await rec.waitFor('a rescan', () => rec.rescans() > 0);
      },
      { presenceCheckMs: 100 },
    ));

  it('watches each folder once, not each file (cheap on a big library)', () =>
    withWatcher(
      (root) => makeTree(root, 20, 100),
      () => {
        const watches = inotifyWatchCount();
        // 20 album folders + the root; other suites may hold a few of their own
        assert.ok(watches >= 21, `only ${watches} inotify watches`);
        assert.ok(watches < 200, `${watches} inotify watches for 21 folders and 2,000 files`);
        return Promise.resolve();
      },
    ));

  it('after close, no more hints or statuses', () =>
    withWatcher(
      (root) => makeTree(root, 1, 1),
      async ({ root, rec, watcher }) => {
        await watcher.close();
        await writeFile(join(root, 'album-0', 'IMG_x.jpg'), 'x');
        await rm(root, { recursive: true });
        await quietPeriod();
        assert.deepEqual(rec.hints, []);
        assert.equal(rec.statuses.length, 1);
      },
    ));

  it('falls back to polling when the system has no watch handles left, and says how to fix it', async () => {
    // A real shortage: a child process uses up its open-file limit before it starts
    // watching, so inotify cannot be set up (EMFILE), then frees the files again.
    const { dir, cleanup } = await makeTempDir('keepsake-watch-');
    try {
      await makeTree(join(dir, 'Photos'), 3, 3);
      const script = `
        import { openSync, closeSync } from 'node:fs';
        import { createFolderWatcher } from './main/engine/watch/watcher.ts';
        import { silentLogger, systemClock } from './main/engine/ports.ts';
        import chokidar from 'chokidar';
        void chokidar;
        const hog = [];
        try { for (;;) hog.push(openSync('/dev/null', 'r')); } catch {}
        const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
        const w = await createFolderWatcher({
          root: ${JSON.stringify(join(dir, 'Photos'))}, rules: { include: [], exclude: [] },
          logger: silentLogger, clock: systemClock, batchMs: 50, pollIntervalMs: 200,
          onHints: (h) => out({ hint: h }), onStatus: (s) => out({ status: s }),
        });
        for (const fd of hog) closeSync(fd);
        out({ created: w.status });
        setTimeout(() => { void w.close().then(() => out({ closed: true })); }, 1500);`;
      const child = spawn(
        'prlimit',
        [
          '--nofile=256',
          '--',
          process.execPath,
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          script,
        ],
        { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      clearTimeout(killer);
      assert.equal(code, 0, err);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const statuses = lines.flatMap((l) => (l.status ? [l.status as FolderWatchStatus] : []));
      const last = statuses.at(-1);
      assert.equal(last?.mode, 'polling', out);
      assert.match(last?.detail ?? '', /sudo sysctl fs\.inotify\.max_user_watches=524288/);
      const rescans = lines.filter((l) => (l.hint as ChangeHint | undefined)?.rescan === true);
      assert.ok(rescans.length >= 3, `expected periodic rescans, got ${rescans.length}: ${out}`);
      assert.ok(lines.some((l) => l.closed === true));
    } finally {
      await cleanup();
    }
  });

  it('names network filesystems by their statfs type, and a local disk is none of them', async () => {
    assert.equal(networkFilesystemName(0x6969), 'NFS');
    assert.equal(networkFilesystemName(0x517b), 'SMB');
    assert.equal(networkFilesystemName(0xff534d42), 'CIFS');
    assert.equal(networkFilesystemName(0xfe534d42), 'SMB2');
    assert.equal(networkFilesystemName(-11317950), 'CIFS'); // 0xFF534D42 as a signed 32-bit
    assert.equal(networkFilesystemName(0xef53), null); // ext4
    assert.equal(networkFilesystemName(0x01021994), null); // tmpfs
    assert.equal(await detectNetworkFilesystem(repoRoot), null);
  });

  it('the out-of-handles message names the sysctl that fixes it', () => {
    const detail = outOfWatchHandlesDetail('ENOSPC', 300_000);
    assert.match(detail, /sudo sysctl fs\.inotify\.max_user_watches=524288/);
    assert.match(detail, /every 5 minutes/);
  });
});
