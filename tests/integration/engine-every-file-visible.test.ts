// Acceptance tests of issue 9 "Silent skips": nothing under a watched folder is skipped without
// a word. Each runs `keepsake` as a person does (a child process, a real vault on loopback, a
// real data directory, real corpus files) and checks both that nothing is lost and that the
// person is told. Unreadable folders need a reader that permissions stop: the CLI runs as
// `nobody` through setpriv (CI runs as root, which reads everything).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BackupSummary,
  VaultReader,
  describeRun,
  killAllChildren,
  listEngineFiles,
  parseJsonOutput,
  runCli,
} from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { assertTreeUntouched, snapshotTree } from '../support/snapshot.js';
import { copyCorpusFiles, sha256Of, writeTreeFile } from '../support/tree.js';
import { startTestVault } from '../support/vault.js';

type TestVault = Awaited<ReturnType<typeof startTestVault>>;

interface Summary extends BackupSummary {
  problems: { path: string; code: string; reason: string }[];
  skipped: number;
  skippedFiles: { path: string; reason: string }[];
}

interface Listed {
  path: string;
  state: string;
  reason: string | null;
  sha256: string | null;
  size: number | null;
}

/** The JSON lines `keepsake files --json` prints. */
function parseLines(stdout: string): Listed[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Listed);
}

interface StatusReport {
  unreadableFolders: { path: string; code: string; message: string }[];
}

function canDropToNobody(): boolean {
  try {
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']);
    return true;
  } catch {
    return false;
  }
}

describe('every file and folder ends in a visible state', () => {
  let vault: TestVault;
  let reader: VaultReader;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    vault = await startTestVault();
    reader = new VaultReader(vault.url, vault.token);
  });
  after(async () => {
    await killAllChildren();
    await vault?.close();
    for (const c of cleanups.reverse()) await c();
  });

  async function tempDir(prefix: string): Promise<string> {
    const t = await makeTempDir(prefix);
    await chmod(t.dir, 0o755);
    cleanups.push(async () => {
      // put permissions back so the cleanup (as root) can always remove everything
      execFileSync('chmod', ['-R', 'u+rwx', t.dir]);
      await t.cleanup();
    });
    return t.dir;
  }

  /** A data directory only `nobody` writes to (as a person's own ~/.config/Keepsake). */
  async function nobodyDataDir(): Promise<string> {
    const dir = await tempDir('keepsake-data-');
    await chown(dir, 65534, 65534);
    await chmod(dir, 0o700);
    return dir;
  }

  function backupAsNobody(folders: string[], dataDir: string) {
    return runCli(
      [
        'backup',
        ...folders,
        '--to',
        vault.url,
        '--token',
        vault.token,
        '--data-dir',
        dataDir,
        '--json',
      ],
      { asNobody: true, timeoutMs: 120_000 },
    );
  }

  it('a folder or sub-folder that cannot be read is a problem with its reason, backup exits 1, and the next run retries it', async (t) => {
    if (!canDropToNobody()) {
      t.skip('cannot drop to uid 65534 with setpriv here: running as root reads any folder');
      return;
    }
    const src = await tempDir('keepsake-src-');
    const lockedRoot = await tempDir('keepsake-locked-root-');
    const dataDir = await nobodyDataDir();
    const files = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'open/DSCN0010.jpg' },
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'locked/S40.jpg' },
    ]);
    const rootFiles = await copyCorpusFiles(lockedRoot, [
      { corpus: 'exifr-fixtures/noexif.jpg', dest: 'noexif.jpg' },
    ]);
    execFileSync('chmod', ['-R', 'a+rX', src, lockedRoot]);
    // root-owned, mode 0700: `nobody` may see these folders but not list them
    await chmod(join(src, 'locked'), 0o700);
    await chmod(lockedRoot, 0o700);
    const before = await snapshotTree(src);

    const run = await backupAsNobody([src, lockedRoot], dataDir);
    assert.equal(run.code, 1, `unreadable folders fail the run: ${describeRun(run)}`);
    const summary = parseJsonOutput<Summary>(run);
    assert.equal(summary.backedUp + summary.duplicates, 1, JSON.stringify(summary));
    assert.deepEqual(
      summary.problems.map((p) => p.path).sort(),
      [join(src, 'locked'), lockedRoot].sort(),
    );
    for (const p of summary.problems) {
      assert.equal(p.code, 'permission_denied');
      assert.match(p.reason, /not allowed to open this folder/);
    }
    const present = await reader.check([...files, ...rootFiles].map((f) => f.sha256));
    assert.ok(present.has(files[0]!.sha256), 'the readable photo is on the vault');
    assert.ok(!present.has(files[1]!.sha256));

    // `keepsake status` (read-only, also as the person) names both folders and why
    const status = await runCli(['status', '--data-dir', dataDir, '--json'], { asNobody: true });
    assert.equal(status.code, 0, describeRun(status));
    const report = parseJsonOutput<StatusReport>(status);
    assert.deepEqual(
      report.unreadableFolders.map((p) => [p.path, p.code]).sort(),
      [
        [join(src, 'locked'), 'permission_denied'],
        [lockedRoot, 'permission_denied'],
      ].sort(),
    );
    const human = await runCli(['status', '--data-dir', dataDir], { asNobody: true });
    assert.match(human.stdout, new RegExp(`cannot read +${join(src, 'locked')}`));
    // `keepsake files` lists the folders that could not be read, with why, beside the files
    const listed = await runCli(['files', '--data-dir', dataDir, '--json'], { asNobody: true });
    assert.equal(listed.code, 0, describeRun(listed));
    const lines = parseLines(listed.stdout);
    assert.deepEqual(
      lines
        .filter((l) => l.state === 'unreadable')
        .map((l) => l.path)
        .sort(),
      [join(src, 'locked'), lockedRoot].sort(),
    );
    for (const l of lines.filter((x) => x.state === 'unreadable')) {
      assert.match(l.reason ?? '', /not allowed to open this folder/);
    }
    const photoLine = lines.find((l) => l.path === files[0]!.path);
    assert.equal(photoLine?.sha256, files[0]!.sha256);
    assert.ok(['backed_up', 'duplicate'].includes(photoLine?.state ?? ''), JSON.stringify(lines));

    // the person fixes the permissions: the next run reads both and backs the photos up
    await chmod(join(src, 'locked'), 0o755);
    await chmod(lockedRoot, 0o755);
    const again = await backupAsNobody([src, lockedRoot], dataDir);
    assert.equal(again.code, 0, describeRun(again));
    const fixed = parseJsonOutput<Summary>(again);
    assert.deepEqual(fixed.problems, []);
    const now = await reader.check([...files, ...rootFiles].map((f) => f.sha256));
    for (const f of [...files, ...rootFiles]) assert.ok(now.has(f.sha256), `${f.relPath} on vault`);
    const statusAfter = parseJsonOutput<StatusReport>(
      await runCli(['status', '--data-dir', dataDir, '--json'], { asNobody: true }),
    );
    assert.deepEqual(statusAfter.unreadableFolders, []);
    await chmod(join(src, 'locked'), 0o700);
    await assertTreeUntouched(src, before);
  });

  it('photos without a (known) extension are recognised by content and backed up; other files are skipped with a reason', async () => {
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const photos = await copyCorpusFiles(src, [
      // an iPhone-style photo saved without ".jpg", with GPS in its EXIF
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0012.jpg', dest: 'IMG_0001' },
      { corpus: 'ianare-exif-samples/tiff/Crémieux11.tiff', dest: 'scans/page-11' },
      // HEIF under an extension the list does not know
      { corpus: 'exifr-fixtures/heic-single.heic', dest: 'phone/photo.hej2' },
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'ok.jpg' },
    ]);
    const others = [
      await writeTreeFile(src, 'notes.txt', Buffer.from('shopping list: milk, eggs\n')),
      ...(await copyCorpusFiles(src, [
        {
          corpus: 'takeout/immich-go-gophers/gophers/Google Photos/gophers/metadata.json',
          dest: 'album/metadata.json',
        },
      ])),
      await writeTreeFile(src, 'README', Buffer.from('not a photo\n')),
    ];
    const before = await snapshotTree(src);
    const run = await runCli([
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
    assert.equal(run.code, 0, `skipped files are not failures: ${describeRun(run)}`);
    const summary = parseJsonOutput<Summary>(run);
    assert.equal(summary.backedUp + summary.duplicates, photos.length, JSON.stringify(summary));
    assert.equal(summary.skipped, others.length, JSON.stringify(summary));
    assert.deepEqual(
      summary.skippedFiles.map((f) => [f.path, f.reason]).sort(),
      others.map((f) => [f.path, 'not a photo or video']).sort(),
    );
    assert.equal(summary.files, photos.length + others.length, 'every file is counted');
    const held = await reader.check([...photos, ...others].map((f) => f.sha256));
    for (const p of photos) assert.ok(held.has(p.sha256), `${p.relPath} is on the vault`);
    for (const o of others) assert.ok(!held.has(o.sha256), `${o.relPath} is not uploaded`);
    // `keepsake files` accounts for every file, each in a state, with a reason where needed
    const listed = await runCli(['files', '--data-dir', dataDir, '--json']);
    assert.equal(listed.code, 0, describeRun(listed));
    const lines = parseLines(listed.stdout);
    assert.deepEqual(
      lines.map((l) => l.path).sort(),
      [...photos, ...others].map((f) => f.path).sort(),
      'one line per file',
    );
    for (const o of others) {
      assert.deepEqual(
        lines.find((l) => l.path === o.path),
        {
          path: o.path,
          state: 'skipped',
          reason: 'not a photo or video',
          sha256: null,
          size: o.size,
        },
      );
    }
    for (const p of photos) {
      const line = lines.find((l) => l.path === p.path);
      assert.ok(line && ['backed_up', 'duplicate'].includes(line.state), JSON.stringify(line));
      assert.equal(line.sha256, p.sha256);
      assert.equal(line.size, p.size);
    }
    const onlySkipped = await runCli([
      'files',
      '--data-dir',
      dataDir,
      '--state',
      'skipped',
      '--folder',
      join(src, 'album'),
    ]);
    assert.equal(onlySkipped.code, 0, describeRun(onlySkipped));
    assert.equal(
      onlySkipped.stdout,
      `skipped    ${join(src, 'album/metadata.json')}  (not a photo or video)\n`,
    );
    const badState = await runCli(['files', '--data-dir', dataDir, '--state', 'lost']);
    assert.equal(badState.code, 2, describeRun(badState));
    // its metadata was read from the content too: the vault has where it was taken
    const asset = await reader.getAsset(photos[0]!.sha256);
    const meta: unknown = asset?.metadata ?? null;
    const gps = (meta as { gps?: { lat?: unknown } | null } | null)?.gps;
    assert.equal(asset?.mime, 'image/jpeg', JSON.stringify(asset));
    if (meta !== null) assert.equal(typeof gps?.lat, 'number', JSON.stringify(asset));
    await assertTreeUntouched(src, before);
  });

  it('an in-place edit that keeps the size and puts the mtime back (touch -r) is re-hashed and uploaded', async () => {
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const [photo] = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0021.jpg', dest: 'DSCN0021.jpg' },
    ]);
    const run = () =>
      runCli([
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
    const first = await run();
    assert.equal(first.code, 0, describeRun(first));
    // the edit: same length, other bytes near the end, then the old mtime put back
    const ref = join(dataDir, 'mtime-reference');
    execFileSync('touch', ['-r', photo!.path, ref]);
    const bytes = await readFile(photo!.path);
    const edited = Buffer.from(bytes);
    for (let i = edited.length - 64; i < edited.length - 2; i++) edited[i] = edited[i]! ^ 0x5a;
    await chmod(photo!.path, 0o644);
    await writeFile(photo!.path, edited);
    await chmod(photo!.path, 0o444);
    execFileSync('touch', ['-r', ref, photo!.path]);
    const st = await stat(photo!.path);
    assert.equal(st.size, photo!.size, 'same size');
    const editedSha = sha256Of(edited);
    assert.notEqual(editedSha, photo!.sha256);

    const second = await run();
    assert.equal(second.code, 0, describeRun(second));
    const s = parseJsonOutput<Summary>(second);
    assert.ok(s.bytesUploaded > 0, `the new bytes were sent: ${JSON.stringify(s)}`);
    const held = await reader.check([photo!.sha256, editedSha]);
    assert.ok(held.has(editedSha), 'the edited content is on the vault');
    assert.ok(held.has(photo!.sha256), 'and the earlier version stays there');
    const rows = await listEngineFiles(dataDir);
    assert.equal(rows.find((r) => r.path === photo!.path)?.sha256, editedSha, 'no stale hash');
  });

  it('a file whose name says nothing and that cannot be read failed with "could not read: permission denied", never skipped as not a photo', async (t) => {
    if (!canDropToNobody()) {
      t.skip('cannot drop to uid 65534 with setpriv here: running as root reads any file');
      return;
    }
    const src = await tempDir('keepsake-src-');
    const dataDir = await nobodyDataDir();
    const [photo, locked] = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'ok.jpg' },
      // an extensionless JPEG only root may read: its first bytes cannot be looked at
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0012.jpg', dest: 'IMG_0002' },
    ]);
    execFileSync('chmod', ['-R', 'a+rX', src]);
    await chmod(locked!.path, 0o600);

    const run = await backupAsNobody([src], dataDir);
    assert.equal(run.code, 1, `an unreadable file fails the run: ${describeRun(run)}`);
    const summary = parseJsonOutput<Summary>(run);
    assert.equal(summary.skipped, 0, JSON.stringify(summary));
    assert.equal(summary.failed, 1, JSON.stringify(summary));
    assert.deepEqual(summary.failures, [
      {
        path: locked!.path,
        code: 'permission_denied',
        message: 'could not read: permission denied',
      },
    ]);
    const listed = await runCli(['files', '--data-dir', dataDir, '--json'], { asNobody: true });
    assert.equal(listed.code, 0, describeRun(listed));
    const line = parseLines(listed.stdout).find((l) => l.path === locked!.path);
    assert.equal(line?.state, 'failed', JSON.stringify(line));
    assert.equal(line?.reason, 'could not read: permission denied');

    // readable again: the next run looks at it and backs it up
    await chmod(locked!.path, 0o644);
    const again = await backupAsNobody([src], dataDir);
    assert.equal(again.code, 0, describeRun(again));
    const fixed = parseJsonOutput<Summary>(again);
    assert.equal(fixed.failed, 0, JSON.stringify(fixed));
    const held = await reader.check([photo!.sha256, locked!.sha256]);
    assert.ok(held.has(locked!.sha256) && held.has(photo!.sha256), 'both are on the vault');
  });
});
