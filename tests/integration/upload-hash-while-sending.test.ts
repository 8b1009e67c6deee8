// Large files read once: `keepsake backup` sends a file larger than one chunk unhashed and
// hashes it while sending (See [Note: Large files, read once] in pipeline/hash-pump.ts); the
// vault still verifies the declared SHA-256 before the file counts as safe. These tests run
// the real CLI against a real vault on loopback.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BackupSummary,
  VaultReader,
  describeRun,
  killAllChildren,
  listEngineFiles,
  metricSum,
  parseJsonOutput,
  runCli,
  waitFor,
} from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { randomFile } from '../support/upload-fixtures.js';
import { type TestVault, startTestVault, uploadBuffer } from '../support/vault.js';

const MiB = 1024 * 1024;
const chunk = 2 * MiB;
const hourAgo = new Date(Date.now() - 3600_000);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function closeVault(vault: TestVault | undefined): Promise<void> {
  if (!vault) return;
  // bounded: @tus/server never settles a PATCH handler whose connection was cut
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([vault.close(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
}

/** A folder with one random file, settled (mtime an hour ago). */
async function treeWith(dir: string, name: string, size: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = await randomFile(join(dir, name), size);
  await utimes(path, hourAgo, hourAgo);
  return path;
}

/** Bytes the vault holds in partials right now (uploads in progress). */
async function partialBytes(vault: TestVault): Promise<number> {
  let total = 0;
  for (const name of await readdir(join(vault.dataDir, 'uploads'))) {
    if (/^[0-9a-f]{32}$/.test(name)) {
      total += await stat(join(vault.dataDir, 'uploads', name)).then(
        (s) => s.size,
        () => 0,
      );
    }
  }
  return total;
}

async function blobCount(vault: TestVault): Promise<number> {
  const entries = await readdir(join(vault.dataDir, 'blobs'), {
    recursive: true,
    withFileTypes: true,
  });
  return entries.filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name)).length;
}

describe('large files hashed while sending', () => {
  let vault: TestVault;
  let reader: VaultReader;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let n = 0;
  const metric = async (name: RegExp) => metricSum(await reader.metricsText(), name);

  before(async () => {
    vault = await startTestVault();
    reader = new VaultReader(vault.url, vault.token);
    tmp = await makeTempDir('keepsake-hash-while-sending-');
  });
  after(async () => {
    await killAllChildren();
    await closeVault(vault);
    await tmp?.cleanup();
  });

  function backup(dir: string, dataDir: string, extra: string[] = []) {
    return runCli(
      [
        'backup',
        dir,
        '--data-dir',
        dataDir,
        '--to',
        vault.url,
        '--token',
        vault.token,
        '--chunk-size',
        String(chunk),
        '--json',
        ...extra,
      ],
      { env: { KEEPSAKE_LOG_LEVEL: 'debug' }, timeoutMs: 180_000 },
    );
  }

  function fresh(): { dir: string; dataDir: string } {
    n++;
    return { dir: join(tmp.dir, `tree-${n}`), dataDir: join(tmp.dir, `data-${n}`) };
  }

  it('a large file is read once, verified by the vault and backed up with its SHA-256', async () => {
    const { dir, dataDir } = fresh();
    const path = await treeWith(dir, 'clip.mov', 9 * MiB + 123);
    const expected = sha256(await readFile(path));
    const run = await backup(dir, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    assert.match(run.stderr, /hashed while it is sent/, 'sent unhashed, not hashed beforehand');
    const summary = parseJsonOutput<BackupSummary>(run);
    assert.equal(summary.backedUp, 1, describeRun(run));
    const [row] = await listEngineFiles(dataDir);
    assert.equal(row?.state, 'backed_up');
    assert.equal(row?.sha256, expected, 'the row holds the hash the vault verified');
    const asset = await reader.getAsset(expected);
    assert.equal(asset?.size, 9 * MiB + 123);
    assert.equal(sha256(await reader.content(expected)), expected);
  });

  it('a file whose bytes change while it is sent is never called safe with the old content', async () => {
    const { dir, dataDir } = fresh();
    const size = 24 * MiB;
    const path = await treeWith(dir, 'growing.mov', size);
    const before = sha256(await readFile(path));
    const replacement = randomBytes(size);
    const replaced = sha256(replacement);
    const partialsBefore = await partialBytes(vault);
    const running = backup(dir, dataDir, ['--bwlimit', '4M']);
    // Once part of it is on the vault, rewrite it in place (another program saving over it).
    await waitFor(async () => (await partialBytes(vault)) - partialsBefore >= 4 * MiB, {
      what: 'the upload to get under way',
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    await writeFile(path, replacement);
    const later = new Date(hourAgo.getTime() + 60_000);
    await utimes(path, later, later);
    const run = await running;
    assert.equal(run.code, 0, describeRun(run));
    const [row] = await listEngineFiles(dataDir);
    assert.equal(row?.state, 'backed_up', describeRun(run));
    assert.equal(row?.sha256, replaced, 'the row names the content now on disk');
    assert.equal(await reader.getAsset(before), null, 'the old content was never completed');
    assert.equal(sha256(await reader.content(replaced)), replaced);
  });

  it('kill -9 of the client mid-upload resumes the same upload and ends verified', async () => {
    const { dir, dataDir } = fresh();
    const size = 24 * MiB + 5;
    const path = await treeWith(dir, 'long.mov', size);
    const expected = sha256(await readFile(path));
    const startedBefore = await metric(/^keepsake_vault_uploads_started_total$/);
    const receivedBefore = await metric(/^keepsake_vault_bytes_received_total$/);
    const partialsBefore = await partialBytes(vault);
    let pid = 0;
    const killed = runCli(
      [
        'backup',
        dir,
        '--data-dir',
        dataDir,
        '--to',
        vault.url,
        '--token',
        vault.token,
        '--chunk-size',
        String(chunk),
        '--bwlimit',
        '4M',
        '--json',
      ],
      { onSpawn: (p) => (pid = p), timeoutMs: 180_000 },
    );
    await waitFor(async () => (await partialBytes(vault)) - partialsBefore >= 7 * MiB, {
      what: 'the upload to get under way',
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    process.kill(-pid, 'SIGKILL'); // the whole client, as a crash takes it
    const first = await killed;
    assert.equal(first.signal, 'SIGKILL', describeRun(first));
    const [mid] = await listEngineFiles(dataDir);
    assert.equal(mid?.sha256, null, 'killed mid-upload, and not hashed beforehand');

    const run = await backup(dir, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const [row] = await listEngineFiles(dataDir);
    assert.equal(row?.state, 'backed_up');
    assert.equal(row?.sha256, expected);
    assert.equal(sha256(await reader.content(expected)), expected);
    assert.equal(
      (await metric(/^keepsake_vault_uploads_started_total$/)) - startedBefore,
      1,
      'the restart resumed the upload it had, not a new one',
    );
    const received = (await metric(/^keepsake_vault_bytes_received_total$/)) - receivedBefore;
    assert.ok(
      received <= size + chunk,
      `at most one chunk sent twice: ${received} bytes for ${size}`,
    );
  });

  it('a large file the vault already holds (another device, or a lost database) is not sent again', async () => {
    const { dir, dataDir } = fresh();
    const path = await treeWith(dir, 'known.mov', 10 * MiB + 7);
    const data = await readFile(path);
    const expected = sha256(data);
    const put = await uploadBuffer(vault, data, { filename: 'elsewhere.mov' });
    assert.equal(put.res.status, 201, put.text);
    const blobsBefore = await blobCount(vault);
    const receivedBefore = await metric(/^keepsake_vault_bytes_received_total$/);
    const run = await backup(dir, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const summary = parseJsonOutput<BackupSummary>(run);
    assert.equal(summary.backedUp + summary.duplicates, 1, describeRun(run));
    const [row] = await listEngineFiles(dataDir);
    assert.ok(row?.state === 'backed_up' || row?.state === 'duplicate', row?.state);
    assert.equal(row?.sha256, expected);
    assert.equal(await blobCount(vault), blobsBefore, 'no second copy of the content');
    assert.equal(
      (await reader.listAssets()).filter((a) => a.sha256 === expected).length,
      1,
      'one asset',
    );
    assert.match(run.stderr, /already holds this content/, describeRun(run));
    assert.equal(
      (await metric(/^keepsake_vault_bytes_received_total$/)) - receivedBefore,
      0,
      'the vault said it holds content of that size: hashed and asked before sending',
    );
    assert.equal(await partialBytes(vault), 0, 'no partial left behind');
  });

  it('a large file of the same size as other content on the vault is still sent and verified', async () => {
    const { dir, dataDir } = fresh();
    const size = 9 * MiB + 77;
    const path = await treeWith(dir, 'same-size.mov', size);
    const put = await uploadBuffer(vault, randomBytes(size), { filename: 'other.mov' });
    assert.equal(put.res.status, 201, put.text);
    const expected = sha256(await readFile(path));
    const receivedBefore = await metric(/^keepsake_vault_bytes_received_total$/);
    const run = await backup(dir, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    const [row] = await listEngineFiles(dataDir);
    assert.equal(row?.state, 'backed_up');
    assert.equal(row?.sha256, expected);
    assert.equal(sha256(await reader.content(expected)), expected);
    assert.equal((await metric(/^keepsake_vault_bytes_received_total$/)) - receivedBefore, size);
  });

  it('two copies of a large file on this machine are hashed first and sent once', async () => {
    const { dir, dataDir } = fresh();
    const path = await treeWith(dir, 'a.mov', 9 * MiB + 1);
    const copy = join(dir, 'b.mov');
    await copyFile(path, copy);
    await utimes(copy, hourAgo, hourAgo);
    const expected = sha256(await readFile(path));
    const run = await backup(dir, dataDir);
    assert.equal(run.code, 0, describeRun(run));
    assert.doesNotMatch(run.stderr, /hashed while it is sent/, 'a likely copy is hashed first');
    const summary = parseJsonOutput<BackupSummary>(run);
    assert.equal(summary.backedUp, 1, describeRun(run));
    assert.equal(summary.duplicates, 1, describeRun(run));
    assert.equal(summary.bytesUploaded, 9 * MiB + 1, 'the content went over the wire once');
    const rows = await listEngineFiles(dataDir);
    assert.deepEqual(
      rows.map((r) => r.sha256),
      [expected, expected],
    );
  });
});
