// Free up space on this computer (issue 15 section 2), run as a person runs it: `keepsake
// free-up` child processes over real corpus files in two watched folders, a real vault on
// loopback (behind a real TCP proxy that can refuse every connection), a real data directory,
// and the real system trash: $XDG_DATA_HOME/Trash (the freedesktop home trash) in a temp dir.
// Only files the vault re-verified and whose bytes still hash to the backup go, to the trash
// with a .trashinfo each; everything else stays with its reason; a freed file is "on the vault
// only" (never missing, never uploaded again) and `keepsake restore` brings it back
// byte-exact, safe again without an upload.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import {
  appendFile,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BackupSummary,
  describeRun,
  killAllChildren,
  listEngineFiles,
  parseJsonOutput,
  runCli,
} from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { corpusFile, makeTempDir, repoRoot } from '../support/paths.js';
import { mountSmallDisk, type SmallDisk } from '../support/small-disk.js';
import { copyCorpusFiles, sha256Of, type TreeFile } from '../support/tree.js';
import { startTestVault, type TestVault } from '../support/vault.js';

interface FreeUpJson {
  candidates: { path: string; bytes: number }[];
  freed: { path: string; bytes: number }[];
  freedBytes: number;
  kept: { path: string; reason: string }[];
}

const sample = [
  { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'allowed/DSCN0010.jpg' },
  {
    corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
    dest: 'allowed/2019/Canon_PowerShot_S40.jpg',
  },
  { corpus: 'ianare-exif-samples/jpg/exif-org/nikon-e950.jpg', dest: 'allowed/edited.jpg' },
  { corpus: 'metadata-extractor-images/mov/with-gps.mov', dest: 'allowed/with-gps.mov' },
  { corpus: 'osxphotos/wedding.jpg', dest: 'other/wedding.jpg' },
];

describe('keepsake free-up', () => {
  let vault: TestVault;
  let proxy: FaultProxy;
  let src: string;
  let dataDir: string;
  let xdg: string;
  let files: TreeFile[];
  const cleanups: (() => Promise<void>)[] = [];

  const byDest = (dest: string): TreeFile => {
    const f = files.find((x) => x.relPath === dest);
    assert.ok(f, dest);
    return f;
  };
  const env = (): NodeJS.ProcessEnv => ({ XDG_DATA_HOME: xdg });
  const vaultArgs = () => ['--to', proxy.url, '--token', vault.token, '--data-dir', dataDir];

  async function freeUp(extra: string[], extraEnv: NodeJS.ProcessEnv = {}) {
    const r = await runCli(['free-up', ...vaultArgs(), ...extra], {
      env: { ...env(), ...extraEnv },
    });
    assert.ok(!r.timedOut, describeRun(r));
    return r;
  }
  async function freeUpJson(extra: string[]): Promise<FreeUpJson> {
    const r = await freeUp([...extra, '--json']);
    assert.equal(r.code, 0, describeRun(r));
    return parseJsonOutput<FreeUpJson>(r);
  }
  async function backup(): Promise<BackupSummary> {
    const r = await runCli(
      ['backup', join(src, 'allowed'), join(src, 'other'), ...vaultArgs(), '--json'],
      { env: env() },
    );
    assert.equal(r.code, 0, describeRun(r));
    return parseJsonOutput<BackupSummary>(r);
  }
  const stateOf = async (path: string) =>
    (await listEngineFiles(dataDir)).find((f) => f.path === path)?.state;
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );
  const reasonFor = (r: FreeUpJson, path: string) => r.kept.find((k) => k.path === path)?.reason;

  before(async () => {
    vault = await startTestVault();
    proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
    const s = await makeTempDir('keepsake-free-up-src-');
    const d = await makeTempDir('keepsake-free-up-data-');
    const x = await makeTempDir('keepsake-free-up-xdg-');
    cleanups.push(
      () => vault.close(),
      () => proxy.close(),
      s.cleanup,
      d.cleanup,
      x.cleanup,
    );
    src = s.dir;
    dataDir = d.dir;
    xdg = x.dir;
    files = await copyCorpusFiles(src, sample);
    const summary = await backup();
    assert.equal(summary.failed, 0);
  });
  after(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
  });

  it('a folder that did not opt in keeps every file, with the reason', async () => {
    const r = await freeUpJson(['--dry-run']);
    assert.deepEqual(r.candidates, []);
    assert.deepEqual(r.freed, []);
    assert.equal(r.freedBytes, 0);
    assert.equal(r.kept.length, files.length);
    for (const k of r.kept) assert.match(k.reason, /has not allowed freeing up space/);
  });

  it('without --yes and with no terminal it refuses (exit 2) and moves nothing', async () => {
    const allow = await freeUp(['--allow', join(src, 'allowed')]);
    assert.equal(allow.code, 0, describeRun(allow));
    const r = await freeUp([]);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /only when you confirm it/);
    for (const f of files) assert.ok(await exists(f.path), f.relPath);
  });

  it('vault unreachable: nothing is freed, each file kept with the reason', async () => {
    proxy.setFault({ kind: 'cut', afterBytes: 0 });
    try {
      const r = await freeUp(['--yes', '--json']);
      assert.equal(r.code, 0, describeRun(r));
      const out = parseJsonOutput<FreeUpJson>(r);
      assert.deepEqual(out.freed, []);
      for (const dest of ['allowed/DSCN0010.jpg', 'allowed/with-gps.mov']) {
        assert.match(
          reasonFor(out, byDest(dest).path) ?? '',
          /has not confirmed it in the last 24 hours and could not be reached/,
        );
      }
      for (const f of files) assert.ok(await exists(f.path), f.relPath);
    } finally {
      proxy.setFault(null);
    }
  });

  it('a policy that forbids it refuses with the reason', async () => {
    const p = await makeTempDir('keepsake-free-up-policy-');
    cleanups.push(p.cleanup);
    const policyFile = join(p.dir, 'policy.json');
    await writeFile(
      policyFile,
      JSON.stringify({ freeUpAllowed: false, locked: ['freeUpAllowed'] }),
    );
    const r = await freeUp(['--yes'], { KEEPSAKE_POLICY_FILE: policyFile });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /turned off by your organisation/);
    for (const f of files) assert.ok(await exists(f.path), f.relPath);
  });

  it('on a terminal it lists what would go and asks; any answer but yes moves nothing', async () => {
    // A real pseudo-terminal (util-linux `script`), answered "n".
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const command = [
      process.execPath,
      '--import',
      'tsx',
      join(repoRoot, 'main/cli/main.ts'),
      'free-up',
      ...vaultArgs(),
    ]
      .map(quote)
      .join(' ');
    // Not spawnSync: the vault answers from this process.
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: repoRoot,
      env: { ...process.env, ...env(), NO_COLOR: '1' },
    });
    let stdout = '';
    let answered = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (!answered && stdout.includes('[y/N] ')) {
        answered = true;
        child.stdin.end('n\n');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const status = await new Promise<number | null>((res) => child.once('close', res));
    clearTimeout(timer);
    const r = { status, stdout };
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /would free {2}.*DSCN0010\.jpg/);
    assert.match(
      r.stdout,
      /Move these 4 files \(.*\) to the system's trash\? They stay on the vault\./,
    );
    assert.match(r.stdout, /Nothing was moved\./);
    for (const f of files) assert.ok(existsSync(f.path), f.relPath);
  });

  it('--dry-run checks everything and moves nothing; a file edited after backup stays', async () => {
    const edited = byDest('allowed/edited.jpg');
    await appendFile(edited.path, Buffer.from('edited after backup'));
    const r = await freeUpJson(['--dry-run']);
    assert.deepEqual(r.candidates.map((c) => c.path).sort(), [
      byDest('allowed/2019/Canon_PowerShot_S40.jpg').path,
      byDest('allowed/DSCN0010.jpg').path,
      byDest('allowed/with-gps.mov').path,
    ]);
    assert.deepEqual(r.freed, []);
    assert.match(reasonFor(r, edited.path) ?? '', /changed since it was backed up/);
    assert.match(
      reasonFor(r, byDest('other/wedding.jpg').path) ?? '',
      /has not allowed freeing up space/,
    );
    for (const f of files) assert.ok(await exists(f.path), f.relPath);
  });

  it('--yes moves only verified, unchanged files to the system trash, each with a .trashinfo', async () => {
    const r = await freeUpJson(['--yes']);
    const freed = [
      'allowed/DSCN0010.jpg',
      'allowed/2019/Canon_PowerShot_S40.jpg',
      'allowed/with-gps.mov',
    ].map(byDest);
    assert.deepEqual(r.freed.map((f) => f.path).sort(), freed.map((f) => f.path).sort());
    assert.equal(
      r.freedBytes,
      freed.reduce((n, f) => n + f.size, 0),
    );
    assert.deepEqual(Object.keys(r).sort(), ['candidates', 'freed', 'freedBytes', 'kept']);
    for (const f of freed) assert.equal(await exists(f.path), false, f.relPath);
    for (const dest of ['allowed/edited.jpg', 'other/wedding.jpg']) {
      assert.ok(await exists(byDest(dest).path), dest);
    }
    // The freedesktop home trash: the bytes in files/, where they came from in info/.
    const trash = join(xdg, 'Trash');
    const infos = await readdir(join(trash, 'info'));
    assert.equal(infos.length, freed.length);
    const origins: string[] = [];
    for (const name of infos) {
      assert.match(name, /\.trashinfo$/);
      const info = await readFile(join(trash, 'info', name), 'utf8');
      const origin = decodeURI(/^Path=(.*)$/m.exec(info)?.[1] ?? '');
      origins.push(origin);
      const bytes = await readFile(join(trash, 'files', name.replace(/\.trashinfo$/, '')));
      assert.equal(sha256Of(bytes), freed.find((f) => f.path === origin)?.sha256, origin);
    }
    assert.deepEqual(origins.sort(), freed.map((f) => f.path).sort());
  });

  it('a freed file is on the vault only, never missing, after a rescan and a restart, and nothing is uploaded again', async () => {
    const freedPath = byDest('allowed/DSCN0010.jpg').path;
    assert.equal(await stateOf(freedPath), 'vault_only');
    const summary = await backup(); // a new engine: rescans both folders
    assert.equal(summary.bytesUploaded, byDest('allowed/edited.jpg').size + 19);
    assert.equal(await stateOf(freedPath), 'vault_only');
    const listed = await runCli(['files', '--data-dir', dataDir]);
    assert.equal(listed.code, 0, describeRun(listed));
    assert.match(listed.stdout, /vault_only/);
    assert.doesNotMatch(listed.stdout, /missing/);
  });

  it('restore brings a freed file back byte-exact, and it is safe again without an upload', async () => {
    const f = byDest('allowed/2019/Canon_PowerShot_S40.jpg');
    const r = await runCli(
      [
        'restore',
        '--to',
        src,
        '--folder',
        'allowed',
        '--path',
        '2019/**',
        '--from',
        proxy.url,
        '--token',
        vault.token,
        '--json',
      ],
      { env: env() },
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(sha256Of(await readFile(f.path)), f.sha256);
    const summary = await backup();
    assert.equal(summary.bytesUploaded, 0);
    const state = await stateOf(f.path);
    assert.ok(state === 'duplicate' || state === 'backed_up', String(state));
    // the others freed stay on the vault only
    assert.equal(await stateOf(byDest('allowed/with-gps.mov').path), 'vault_only');
  });
  it('a freed file put back from the trash is safe again, without an upload', async () => {
    const f = byDest('allowed/with-gps.mov');
    const trash = join(xdg, 'Trash');
    let entry: string | null = null;
    for (const name of await readdir(join(trash, 'info'))) {
      const info = await readFile(join(trash, 'info', name), 'utf8');
      if (decodeURI(/^Path=(.*)$/m.exec(info)?.[1] ?? '') === f.path) {
        entry = name.replace(/\.trashinfo$/, '');
      }
    }
    assert.ok(entry, 'the trash knows where it came from');
    // What a file manager's "Restore" does: the file back to its path, its .trashinfo gone.
    await rename(join(trash, 'files', entry), f.path);
    await rm(join(trash, 'info', `${entry}.trashinfo`));
    const summary = await backup();
    assert.equal(summary.bytesUploaded, 0);
    assert.equal(sha256Of(await readFile(f.path)), f.sha256);
    const state = await stateOf(f.path);
    assert.ok(state === 'duplicate' || state === 'backed_up', String(state));
  });
});

// The hard cases: a folder on another filesystem than $HOME (the trash package uses that
// filesystem's $topdir/.Trash-UID), one that has become read-only (the trash cannot take the
// file: kept with the reason, the others go on), and a name that is not valid UTF-8.
describe('keepsake free-up, hard cases', () => {
  let vault: TestVault;
  let src: string;
  let dataDir: string;
  let xdg: string;
  const disks: SmallDisk[] = [];
  let skipDisks: string | null = null;
  const cleanups: (() => Promise<void>)[] = [];
  const photo = 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg';
  const latin1 = Buffer.from('caf\xe9.jpg', 'latin1');
  const vaultArgs = () => ['--to', vault.url, '--token', vault.token, '--data-dir', dataDir];

  before(async () => {
    vault = await startTestVault();
    const s = await makeTempDir('keepsake-free-up-hard-src-');
    const d = await makeTempDir('keepsake-free-up-hard-data-');
    const x = await makeTempDir('keepsake-free-up-hard-xdg-');
    cleanups.push(() => vault.close(), s.cleanup, d.cleanup, x.cleanup);
    src = s.dir;
    dataDir = d.dir;
    xdg = x.dir;
    await mkdir(join(src, 'plain'));
    await copyFile(corpusFile(photo), join(src, 'plain', 'plain.jpg'));
    await copyFile(
      corpusFile(photo),
      Buffer.concat([Buffer.from(join(src, 'plain') + '/'), latin1]),
    );
    for (const _ of [0, 1]) {
      const disk = await mountSmallDisk(8);
      if ('skip' in disk) {
        skipDisks = disk.skip;
        break;
      }
      disks.push(disk);
      await copyFile(corpusFile(photo), join(disk.dir, 'on-disk.jpg'));
    }
    const folders = [join(src, 'plain'), ...disks.map((d) => d.dir)];
    const r = await runCli(['backup', ...folders, ...vaultArgs(), '--json']);
    assert.equal(r.code, 0, describeRun(r));
    for (const folder of folders) {
      const allow = await runCli(['free-up', ...vaultArgs(), '--allow', folder]);
      assert.equal(allow.code, 0, describeRun(allow));
    }
    // The second disk becomes read-only after its backup (a card's lock switch, a ro remount).
    if (disks[1]) execFileSync('mount', ['-o', 'remount,ro', disks[1].dir], { stdio: 'pipe' });
  });
  after(async () => {
    await killAllChildren();
    for (const d of disks) await d.unmount().catch(() => {});
    for (const c of cleanups.reverse()) await c();
  });

  it('a name that is not UTF-8 and a read-only folder are kept with the reason; the others are freed', async (t) => {
    const r = await runCli(['free-up', ...vaultArgs(), '--yes', '--json'], {
      env: { XDG_DATA_HOME: xdg },
    });
    assert.equal(r.code, 0, describeRun(r));
    const out = parseJsonOutput<FreeUpJson>(r);
    const plain = join(src, 'plain', 'plain.jpg');
    assert.ok(
      out.freed.some((f) => f.path === plain),
      JSON.stringify(out),
    );
    const shown = join(src, 'plain', 'caf\uFFFD.jpg');
    assert.match(out.kept.find((k) => k.path === shown)?.reason ?? '', /not valid UTF-8/);
    assert.ok(
      await stat(Buffer.concat([Buffer.from(join(src, 'plain') + '/'), latin1])),
      'the file with a Latin-1 name is still in its place',
    );
    if (skipDisks !== null) {
      t.skip(skipDisks);
      return;
    }
    // Another filesystem than $HOME: that filesystem's own trash, $topdir/.Trash-UID.
    const [other, readOnly] = disks as [SmallDisk, SmallDisk];
    const onOther = join(other.dir, 'on-disk.jpg');
    assert.ok(
      out.freed.some((f) => f.path === onOther),
      JSON.stringify(out),
    );
    const uid = process.getuid?.() ?? 0;
    const infos = await readdir(join(other.dir, `.Trash-${uid}`, 'info'));
    assert.equal(infos.length, 1);
    // Read-only: the trash cannot take it; kept, with the reason, and still in its place.
    const onReadOnly = join(readOnly.dir, 'on-disk.jpg');
    assert.match(
      out.kept.find((k) => k.path === onReadOnly)?.reason ?? '',
      /the system's trash did not take it \(.*read-only/,
    );
    assert.ok(await stat(onReadOnly));
  });
});
