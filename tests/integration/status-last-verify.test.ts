// `keepsake status` says when the vault last proved the backup: "never verified" before any
// `keepsake verify`, then the last receipt (files proven, how long ago, which vault), in text
// and in --json. CLI child processes, a real vault on loopback, real corpus files.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { copyCorpusFiles } from '../support/tree.js';
import { startTestVault, type TestVault } from '../support/vault.js';

interface StatusJson {
  lastVerify: {
    ok: boolean;
    files: number;
    filesProven: number;
    verifiedAt: string;
    vault: string;
    embedded: boolean;
    problemCount: number;
  } | null;
}

const sample = [
  {
    corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
    dest: 'camera/Canon_PowerShot_S40.jpg',
  },
  { corpus: 'ianare-exif-samples/jpg/exif-org/nikon-e950.jpg', dest: 'camera/nikon-e950.jpg' },
];

describe('keepsake status shows the last verify', () => {
  let vault: TestVault;
  let src: string;
  let dataDir: string;
  const cleanups: (() => Promise<void>)[] = [];
  const vaultArgs = () => ['--to', vault.url, '--token', vault.token, '--data-dir', dataDir];

  before(async () => {
    vault = await startTestVault();
    const s = await makeTempDir('keepsake-src-');
    const d = await makeTempDir('keepsake-data-');
    cleanups.push(() => vault.close(), s.cleanup, d.cleanup);
    src = s.dir;
    dataDir = d.dir;
    await copyCorpusFiles(src, sample);
    const backup = await runCli(['backup', src, ...vaultArgs(), '--json']);
    assert.equal(backup.code, 0, describeRun(backup));
  });
  after(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
  });

  it('says "never verified" before the first verify', async () => {
    const text = await runCli(['status', '--data-dir', dataDir]);
    assert.equal(text.code, 0, describeRun(text));
    assert.match(text.stdout, /^Last verify: never verified$/m);
    const json = await runCli(['status', '--data-dir', dataDir, '--json']);
    assert.equal(json.code, 0, describeRun(json));
    assert.equal(parseJsonOutput<StatusJson>(json).lastVerify, null);
  });

  it('shows what the last verify proved, when, and on which vault', async () => {
    const verify = await runCli(['verify', ...vaultArgs(), '--all', '--json']);
    assert.equal(verify.code, 0, describeRun(verify));

    const text = await runCli(['status', '--data-dir', dataDir]);
    assert.equal(text.code, 0, describeRun(text));
    assert.match(
      text.stdout,
      new RegExp(
        `^Last verify: 2 of 2 files proven on the vault (just now|\\d+ minutes? ago) \\(${vault.url.replace(/[.]/g, '\\.')}\\)$`,
        'm',
      ),
    );
    const json = await runCli(['status', '--data-dir', dataDir, '--json']);
    assert.equal(json.code, 0, describeRun(json));
    const last = parseJsonOutput<StatusJson>(json).lastVerify;
    assert.ok(last);
    assert.equal(last.ok, true);
    assert.equal(last.files, 2);
    assert.equal(last.filesProven, 2);
    assert.equal(last.problemCount, 0);
    assert.equal(last.vault, vault.url);
    assert.equal(last.embedded, false);
    assert.ok(Date.now() - Date.parse(last.verifiedAt) >= 0);
  });
});
