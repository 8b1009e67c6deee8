// `keepsake verify` and healing, end to end (issue 10 sections 3 and 5), run as a person runs
// them: CLI child processes over real corpus files, a real vault on loopback whose stored
// blobs are damaged behind its back, a real data directory. A flipped byte and a deleted blob
// are reported by `verify --all` (exit 1) with their paths; the next backup, with the
// originals still on disk, uploads both again and says "Repaired"; `verify --all` then passes.
import assert from 'node:assert/strict';
import { readFile, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ActivityEvent } from '../../common/contract.js';
import {
  type BackupSummary,
  describeRun,
  killAllChildren,
  listEngineFiles,
  openEngine,
  parseJsonOutput,
  runCli,
  VaultReader,
} from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { copyCorpusFiles, type TreeFile } from '../support/tree.js';
import { blobPath, flipByte } from '../support/vault-damage.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';

interface VerifyJson {
  ok: boolean;
  files: number;
  filesProven: number;
  bytes: number;
  bytesProven: number;
  verifiedAt: string;
  vault: string;
  sample: number | null;
  folder: string | null;
  localReread: number;
  localGone: number;
  problemCount: number;
  problems: {
    path: string;
    sha256: string;
    problem: 'damaged' | 'missing' | 'changed' | 'unreadable';
    repairing: boolean;
  }[];
}

const sample = [
  { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'camera/DSCN0010.jpg' },
  {
    corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
    dest: 'camera/Canon_PowerShot_S40.jpg',
  },
  { corpus: 'ianare-exif-samples/jpg/exif-org/nikon-e950.jpg', dest: 'camera/nikon-e950.jpg' },
  { corpus: 'osxphotos/wedding.jpg', dest: 'family/wedding.jpg' },
  {
    corpus: 'takeout/osxphotos/Takeout/Google Photos/Photos from 2019/wedding.jpg',
    dest: 'family/2019/wedding.jpg',
  },
  { corpus: 'metadata-extractor-images/mov/with-gps.mov', dest: 'phone/with-gps.mov' },
  { corpus: 'exiftool-t-images/PNG.png', dest: 'misc/PNG.png' },
];

describe('keepsake verify, and a backup that heals the vault', () => {
  let vault: TestVault;
  let reader: VaultReader;
  let src: string;
  let dataDir: string;
  let files: TreeFile[];
  const cleanups: (() => Promise<void>)[] = [];

  const byDest = (dest: string): TreeFile => {
    const f = files.find((x) => x.relPath === dest);
    assert.ok(f, dest);
    return f;
  };
  const vaultArgs = () => ['--to', vault.url, '--token', vault.token, '--data-dir', dataDir];

  async function verify(extra: string[] = []) {
    const r = await runCli(['verify', ...vaultArgs(), '--json', ...extra]);
    assert.ok(!r.timedOut, describeRun(r));
    return { run: r, receipt: parseJsonOutput<VerifyJson>(r) };
  }

  async function backup(env: NodeJS.ProcessEnv = {}) {
    const r = await runCli(['backup', src, ...vaultArgs(), '--json'], { env });
    assert.equal(r.code, 0, describeRun(r));
    return parseJsonOutput<BackupSummary>(r);
  }

  async function activity(): Promise<ActivityEvent[]> {
    const engine = await openEngine(dataDir, null);
    try {
      return await engine.api['activity.list']({ limit: 200 });
    } finally {
      await engine.close();
    }
  }

  before(async () => {
    vault = await startTestVault();
    reader = new VaultReader(vault.url, vault.token);
    const s = await makeTempDir('keepsake-src-');
    const d = await makeTempDir('keepsake-data-');
    cleanups.push(() => vault.close(), s.cleanup, d.cleanup);
    src = s.dir;
    dataDir = d.dir;
    files = await copyCorpusFiles(src, sample);
    await backup();
  });
  after(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
  });

  it('a fresh backup verifies whole: every file and byte proven, exit 0', async () => {
    const { run, receipt } = await verify(['--all']);
    assert.equal(run.code, 0, describeRun(run));
    assert.equal(receipt.ok, true);
    assert.equal(receipt.files, files.length);
    assert.equal(receipt.filesProven, files.length);
    assert.equal(
      receipt.bytesProven,
      files.reduce((n, f) => n + f.size, 0),
    );
    assert.equal(receipt.localReread, 0, 'unchanged originals are not read again');
    assert.equal(receipt.vault, vault.url);
    assert.deepEqual(receipt.problems, []);
  });

  it('--sample N proves N files; --folder only the files under it', async () => {
    const sampled = await verify(['--sample', '3']);
    assert.equal(sampled.run.code, 0, describeRun(sampled.run));
    assert.equal(sampled.receipt.files, 3);
    assert.equal(sampled.receipt.filesProven, 3);
    assert.equal(sampled.receipt.sample, 3);

    const camera = await verify(['--folder', join(src, 'camera')]);
    assert.equal(camera.run.code, 0, describeRun(camera.run));
    assert.equal(camera.receipt.files, 3);
    assert.equal(camera.receipt.folder, join(src, 'camera'));

    const both = await runCli(['verify', ...vaultArgs(), '--all', '--sample', '2']);
    assert.equal(both.code, 2, describeRun(both));
  });

  it('a flipped byte and a deleted blob: verify reports exactly those two, the next backup repairs both', async () => {
    const damaged = byDest('camera/DSCN0010.jpg');
    const deleted = byDest('phone/with-gps.mov');
    await flipByte(blobPath(vault.dataDir, damaged.sha256), 100);
    await unlink(blobPath(vault.dataDir, deleted.sha256));

    const found = await verify(['--all']);
    assert.equal(found.run.code, 1, describeRun(found.run));
    assert.equal(found.receipt.ok, false);
    assert.equal(found.receipt.filesProven, files.length - 2);
    const problems = found.receipt.problems
      .map((p) => ({ path: p.path, problem: p.problem, repairing: p.repairing }))
      .sort((a, b) => a.path.localeCompare(b.path));
    assert.deepEqual(problems, [
      { path: damaged.path, problem: 'damaged', repairing: true },
      { path: deleted.path, problem: 'missing', repairing: true },
    ]);

    // The damaged content is never served as a clean 200 with the wrong bytes.
    const original = await readFile(damaged.path);
    let served: Buffer | null = null;
    let status = 0;
    try {
      const res = await vaultFetch(vault, `/api/v1/assets/${damaged.sha256}/content`);
      status = res.status;
      served = Buffer.from(await res.arrayBuffer());
    } catch {
      served = null; // the response was cut: never a completed wrong download
    }
    if (served !== null && status === 200) assert.ok(served.equals(original), 'wrong bytes');

    // The originals are still on disk: the next backup sends both again.
    const summary = await backup();
    assert.equal(summary.failed, 0);
    assert.ok(summary.bytesUploaded >= damaged.size + deleted.size, JSON.stringify(summary));
    assert.ok((await reader.content(damaged.sha256)).equals(original));
    assert.ok((await reader.content(deleted.sha256)).equals(await readFile(deleted.path)));

    const rows = await listEngineFiles(dataDir);
    for (const f of [damaged, deleted]) {
      assert.equal(rows.find((r) => r.path === f.path)?.state, 'backed_up', f.path);
    }
    const repaired = (await activity()).filter((e) => e.code === 'repaired');
    assert.deepEqual(repaired.map((e) => e.path).sort(), [damaged.path, deleted.path].sort());
    assert.ok(repaired.every((e) => /^Repaired /.test(e.message)));

    const again = await verify(['--all']);
    assert.equal(again.run.code, 0, describeRun(again.run));
    assert.equal(again.receipt.filesProven, files.length);
  });

  it('a blob deleted behind the vault is uploaded again when the daily check of safe files runs, without a verify', async () => {
    const lost = byDest('camera/nikon-e950.jpg');
    await unlink(blobPath(vault.dataDir, lost.sha256));
    // The check of every safe file runs when due (daily); this run asks for it at once.
    await backup({ KEEPSAKE_VAULT_AUDIT_MS: '0' });
    assert.ok((await reader.content(lost.sha256)).equals(await readFile(lost.path)));
    const repaired = (await activity()).filter(
      (e) => e.code === 'repaired' && e.path === lost.path,
    );
    assert.equal(repaired.length, 1);
  });

  it('an original touched but unchanged is read once and proven; a changed one is reported and queued', async () => {
    const touched = byDest('misc/PNG.png');
    const later = new Date(Date.UTC(2025, 0, 2));
    await utimes(touched.path, later, later);
    const first = await verify(['--all']);
    assert.equal(first.run.code, 0, describeRun(first.run));
    assert.equal(first.receipt.localReread, 1);
    const second = await verify(['--all']);
    assert.equal(second.receipt.localReread, 0, 'its new identity was remembered');

    const changed = byDest('camera/Canon_PowerShot_S40.jpg');
    const bytes = await readFile(changed.path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(changed.path, bytes);
    const third = await verify(['--all']);
    assert.equal(third.run.code, 1, describeRun(third.run));
    assert.deepEqual(
      third.receipt.problems.map((p) => [p.path, p.problem]),
      [[changed.path, 'changed']],
    );
    // The new version is what the next backup sends; then everything verifies again.
    await backup();
    const fourth = await verify(['--all']);
    assert.equal(fourth.run.code, 0, describeRun(fourth.run));
  });

  it('without --to, verify asks the vault this data directory backs up to: the embedded one', async () => {
    const own = await makeTempDir('keepsake-embedded-');
    cleanups.push(own.cleanup);
    const ownData = join(own.dir, 'data');
    const first = await runCli(['backup', join(src, 'camera'), '--data-dir', ownData, '--json']);
    assert.equal(first.code, 0, describeRun(first));
    const r = await runCli(['verify', '--data-dir', ownData, '--json']);
    assert.equal(r.code, 0, describeRun(r));
    const receipt = parseJsonOutput<VerifyJson & { embedded: boolean }>(r);
    assert.equal(receipt.embedded, true);
    assert.equal(receipt.files, 3);
    assert.equal(receipt.filesProven, 3);

    // A data directory that backed up to a vault URL needs only that vault's token.
    const byUrl = await runCli(['verify', '--data-dir', dataDir, '--token', vault.token, '--json']);
    assert.equal(byUrl.code, 0, describeRun(byUrl));
    assert.equal(parseJsonOutput<VerifyJson>(byUrl).vault, vault.url);
    const noToken = await runCli(['verify', '--data-dir', dataDir], {
      env: { KEEPSAKE_TOKEN: '' },
    });
    assert.equal(noToken.code, 2, describeRun(noToken));
  });
});
