// The scrubber (issue 10 section 4): a running vault re-reads what it stores in the
// background and finds a flipped byte and a deleted blob on its own, counting them in
// /metrics; `keepsake vault scrub` re-hashes everything of a stopped vault now and exits 1
// while anything is damaged, 0 once clients re-uploaded the originals. On both blob stores:
// the filesystem, and an S3 bucket whose object is overwritten through the S3 API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { corpusFile, makeTempDir, repoRoot } from '../support/paths.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';
import { metricValue } from '../support/vault-damage.js';
import { startTestVault, uploadBuffer, vaultFetch, type TestVault } from '../support/vault.js';

const CORPUS = [
  'ianare-exif-samples/jpg/gps/DSCN0010.jpg',
  'exifr-fixtures/heic-single.heic',
  'metadata-extractor-images/mov/with-gps.mov',
];

/** Polls until `probe` holds (what the vault says, never a fixed sleep), up to a bound. */
async function waitFor(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function runScrubCli(
  dataDir: string,
  extraArgs: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', 'main/cli/main.ts', 'vault', 'scrub', '--data-dir', dataDir],
        ...extraArgs,
        '--json',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`vault scrub did not exit:\n${stdout}\n${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Summary {
  assets: number;
  bytes: number;
  ok: number;
  damaged: string[];
  missing: string[];
}

for (const backend of blobBackends()) {
  describe(`vault: scrub (${backend.label})`, () => {
    let blobs: BlobBackendSetup | undefined;
    const temp = { dir: '', cleanup: async () => {} };
    let vault: TestVault | undefined;
    const files: { data: Buffer; sha256: string }[] = [];

    const start = () =>
      startTestVault({
        dataDir: temp.dir,
        ...blobs!.vaultOptions,
        scrub: { startDelayMs: 0, periodMs: 1000, maxBytesPerSecond: 64 * 1024 * 1024 },
      });

    before(async () => {
      Object.assign(temp, await makeTempDir('keepsake-vault-scrub-'));
      blobs = await backend.setUp();
      vault = await start();
      for (const rel of CORPUS) {
        const data = await readFile(corpusFile(rel));
        const up = await uploadBuffer(vault, data);
        assert.equal(up.res.status, 201, up.text);
        files.push({ data, sha256: up.sha256 });
      }
    });
    after(async () => {
      await vault?.close();
      await blobs?.close();
      await temp.cleanup();
    });

    it('the running vault finds a flipped byte and a deleted blob by itself and counts them', async () => {
      const v = vault!;
      const [damaged, deleted] = files;
      await blobs!.damage(temp.dir, damaged!.sha256, 1000);
      await blobs!.remove(temp.dir, deleted!.sha256);
      await waitFor('the scrubber to find both', async () => {
        return (await metricValue(v, 'keepsake_vault_scrub_damaged_found_total')) >= 2;
      });
      assert.equal(await metricValue(v, 'keepsake_vault_assets_with_problem{state="damaged"}'), 1);
      assert.equal(await metricValue(v, 'keepsake_vault_assets_with_problem{state="missing"}'), 1);
      assert.ok((await metricValue(v, 'keepsake_vault_scrub_bytes_total')) > 0);
      await waitFor('a full pass', async () => {
        return (await metricValue(v, 'keepsake_vault_scrub_last_full_pass_timestamp_seconds')) > 0;
      });
      const check = (await (
        await vaultFetch(v, '/api/v1/assets/check', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ sha256: files.map((f) => f.sha256) }),
        })
      ).json()) as { present: string[]; damaged: string[]; missing: string[] };
      assert.deepEqual(check, {
        present: [files[2]!.sha256],
        damaged: [damaged!.sha256],
        missing: [deleted!.sha256],
      });
    });

    it('`keepsake vault scrub` refuses a data directory a running vault holds', async () => {
      const res = await runScrubCli(temp.dir, blobs!.cliArgs);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /running/);
    });

    it('`keepsake vault scrub` reports the damage and exits 1, and exits 0 after the repair', async () => {
      await vault!.close();
      vault = undefined;
      const first = await runScrubCli(temp.dir, blobs!.cliArgs);
      assert.equal(first.code, 1, first.stderr);
      const summary = JSON.parse(first.stdout) as Summary;
      assert.deepEqual(
        [summary.assets, summary.ok, summary.damaged, summary.missing],
        [3, 1, [files[0]!.sha256], [files[1]!.sha256]],
      );

      vault = await start();
      for (const f of files.slice(0, 2)) {
        const up = await uploadBuffer(vault, f.data);
        assert.equal(up.res.status, 201, up.text);
      }
      await vault.close();
      vault = undefined;
      const second = await runScrubCli(temp.dir, blobs!.cliArgs);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      const healed = JSON.parse(second.stdout) as Summary;
      assert.deepEqual([healed.ok, healed.damaged, healed.missing], [3, [], []]);
      assert.equal(
        healed.bytes,
        files.reduce((n, f) => n + f.data.length, 0),
      );
    });
  });
}
