// Acceptance tests of bad input (issue 3 "Tests"): zero-byte files, unreadable files, a symlink
// loop, a FIFO named .jpg, a file deleted while it is hashed, very long and Unicode names, a
// non-media file with a photo extension, JPEGs with corrupt metadata. Each file ends in a
// clear, visible state, the run keeps going for every other file, and `keepsake status`
// shows failed files with a reason.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmod,
  mkdir,
  readlink,
  readdir,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FileRow } from '../../common/contract.js';
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
import { type TreeFile, copyCorpusFiles, manifestRow, writeTreeFile } from '../support/tree.js';
import { startTestVault } from '../support/vault.js';

type TestVault = Awaited<ReturnType<typeof startTestVault>>;

const emptySha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const settledStates = new Set(['backed_up', 'duplicate', 'excluded', 'failed', 'missing']);

describe('bad input', () => {
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
    await chmod(t.dir, 0o777); // readable by `nobody` for the unreadable-file case
    cleanups.push(t.cleanup);
    return t.dir;
  }

  function byName(rows: FileRow[], relPath: string): FileRow | undefined {
    return rows.find((r) => r.relPath === relPath || r.path.endsWith(`/${relPath}`));
  }

  it('odd files each end in a clear state and never stop the backup of the rest', async () => {
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const good: TreeFile[] = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'good/DSCN0010.jpg' },
      { corpus: 'metadata-extractor-images/mp4/with-gps.mp4', dest: 'good/with-gps.mp4' },
    ]);
    // metadata that exiftool chokes on is a metadata problem, never a reason not to back up
    const corruptMeta = await copyCorpusFiles(src, [
      { corpus: 'exifr-fixtures/broken1.jpg', dest: 'corrupt/broken1.jpg' },
      { corpus: 'ianare-exif-samples/jpg/corrupted.jpg', dest: 'corrupt/corrupted.jpg' },
      {
        corpus: 'metadata-extractor-images/jpg/ImageTestSuite/21a84b8472f6d18f5bb5c0026e97cfaa.jpg',
        dest: 'corrupt/unparseable.jpg',
      },
      {
        corpus: 'exifr-fixtures/RangeError_Offset_outside_bounds.jpg',
        dest: 'corrupt/range-error.jpg',
      },
    ]);
    assert.match(
      manifestRow(
        'metadata-extractor-images/jpg/ImageTestSuite/21a84b8472f6d18f5bb5c0026e97cfaa.jpg',
      ).format,
      /UNRECOGNIZED/,
    );
    // a text file with a photo extension: media by extension, so it is backed up
    const notPhoto = await writeTreeFile(
      src,
      'odd/notes.jpg',
      Buffer.from('shopping list: milk, eggs\n'),
    );
    // zero bytes
    await writeTreeFile(src, 'odd/empty.jpg', Buffer.alloc(0));
    // names: 255 bytes (the ext4 limit), and an NFC/NFD pair that are two different files
    const longName = `${'long-name-'.repeat(24)}${'x'.repeat(11)}.jpg`;
    assert.equal(Buffer.byteLength(longName), 255);
    const longFile = await writeTreeFile(
      src,
      `names/${longName}`,
      Buffer.from('long name photo bytes'),
    );
    const nfc = await writeTreeFile(src, 'names/caf\u00e9.jpg', Buffer.from('the NFC twin'));
    const nfd = await writeTreeFile(
      src,
      'names/cafe\u0301.jpg',
      Buffer.from('the NFD twin, other bytes'),
    );
    const emoji = await writeTreeFile(
      src,
      'names/\u{1F382} birthday \u5bb6\u65cf.jpg',
      Buffer.from('unicode'),
    );
    // a symlink loop (a directory link to its parent) and a pair of file links to each other
    await mkdir(join(src, 'links'), { recursive: true });
    await symlink('..', join(src, 'links/up'));
    await symlink('b.jpg', join(src, 'links/a.jpg'));
    await symlink('a.jpg', join(src, 'links/b.jpg'));
    // a FIFO named like a photo: opening it for reading would block forever
    execFileSync('mkfifo', [join(src, 'odd/pipe.jpg')]);

    const before = await snapshotTree(src);
    const run = await runCli(
      ['backup', src, '--to', vault.url, '--token', vault.token, '--data-dir', dataDir, '--json'],
      { timeoutMs: 120_000 },
    );
    assert.equal(
      run.timedOut,
      false,
      `the backup finished (a FIFO must never be opened): ${describeRun(run)}`,
    );
    assert.ok(run.code === 0 || run.code === 1, describeRun(run));
    const summary = parseJsonOutput<BackupSummary>(run);

    const present = await reader.check(
      [...good, ...corruptMeta, notPhoto, longFile, nfc, nfd, emoji].map((f) => f.sha256),
    );
    for (const f of [...good, ...corruptMeta, notPhoto, longFile, nfc, nfd, emoji]) {
      assert.ok(
        present.has(f.sha256),
        `${f.relPath} is on the vault (summary ${JSON.stringify(summary)})`,
      );
    }

    const rows = await listEngineFiles(dataDir);
    const states = rows.map(
      (r) => `${r.relPath}: ${r.state}${r.error ? ` (${r.error.code})` : ''}`,
    );
    if (process.env.KEEPSAKE_TEST_DEBUG) console.log(states.join('\n'), JSON.stringify(summary));
    for (const r of rows) {
      assert.ok(settledStates.has(r.state), `every file settles: ${states.join('\n')}`);
      if (r.state === 'failed') {
        assert.ok(r.error && r.error.message.length > 0, `failed ${r.relPath} has a reason`);
      }
    }
    for (const f of [...good, ...corruptMeta, notPhoto, longFile, nfc, nfd, emoji]) {
      const row = byName(rows, f.relPath);
      assert.ok(row, `${f.relPath} is known: ${states.join('\n')}`);
      assert.ok(['backed_up', 'duplicate'].includes(row.state), `${f.relPath}: ${row.state}`);
      assert.equal(row.sha256, f.sha256);
    }
    // NFC and NFD twins are two rows
    const nfcRow = rows.find((r) => r.relPath === 'names/caf\u00e9.jpg');
    const nfdRow = rows.find((r) => r.relPath === 'names/cafe\u0301.jpg');
    assert.ok(nfcRow && nfdRow && nfcRow.id !== nfdRow.id, 'NFC and NFD names are two files');
    // the empty file: a visible end state (backed up as the empty content, or failed/excluded with a reason)
    const empty = byName(rows, 'odd/empty.jpg');
    assert.ok(empty, 'the zero-byte file is known, not silently skipped');
    if (empty.state === 'backed_up' || empty.state === 'duplicate') {
      assert.ok((await reader.check([emptySha])).has(emptySha));
    } else {
      assert.ok(empty.error || empty.excludedBy, `empty.jpg ${empty.state} with a reason`);
    }
    // the FIFO: never backed up; if it is listed at all, it failed with a reason
    const pipe = byName(rows, 'odd/pipe.jpg');
    if (pipe) {
      assert.equal(pipe.state, 'failed', 'a FIFO is not a file to back up');
      assert.ok(pipe.error, 'with a reason');
    }
    // the symlinked loop did not multiply files: each real file is known once
    assert.equal(
      rows.filter((r) => r.sha256 === good[0]!.sha256).length,
      1,
      `DSCN0010.jpg known once, the loop not followed forever: ${states.join('\n')}`,
    );
    // status --json names failed files with their reason
    const status = await runCli(['status', '--data-dir', dataDir, '--json']);
    assert.equal(status.code, 0, describeRun(status));
    const failedRows = rows.filter((r) => r.state === 'failed');
    const statusText = JSON.stringify(parseJsonOutput(status));
    for (const r of failedRows) {
      assert.ok(
        statusText.includes(r.relPath.split('/').pop()!),
        `status shows failed ${r.relPath}: ${statusText}`,
      );
    }
    assert.equal(summary.failed, failedRows.length);
    assert.equal(run.code, failedRows.length > 0 ? 1 : 0);
    // the symlinks are still symlinks, the FIFO still a FIFO, nothing written
    assert.equal(await readlink(join(src, 'links/up')), '..');
    await assertTreeUntouched(src, before);
  });

  it('an unreadable file fails with a reason the person can act on, and the rest is backed up', async (t) => {
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const files = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'ok.jpg' },
      { corpus: 'exifr-fixtures/issue-exifr-13.jpg', dest: 'locked.jpg' },
    ]);
    await chmod(src, 0o777);
    for (const f of files) await chmod(f.path, 0o644);
    await chmod(files[1]!.path, 0o000);
    try {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']);
    } catch {
      t.skip('cannot drop to uid 65534 with setpriv here: running as root reads any file');
      return;
    }
    const before = await snapshotTree(src);
    const run = await runCli(
      ['backup', src, '--to', vault.url, '--token', vault.token, '--data-dir', dataDir, '--json'],
      { asNobody: true, timeoutMs: 120_000 },
    );
    assert.equal(run.code, 1, `one file failed: ${describeRun(run)}`);
    const s = parseJsonOutput<BackupSummary>(run);
    assert.equal(s.failed, 1, JSON.stringify(s));
    assert.equal(s.backedUp + s.duplicates, 1, JSON.stringify(s));
    const present = await reader.check(files.map((f) => f.sha256));
    assert.ok(present.has(files[0]!.sha256));
    assert.ok(!present.has(files[1]!.sha256));
    const status = await runCli(['status', '--data-dir', dataDir, '--json'], { asNobody: true });
    assert.equal(status.code, 0, describeRun(status));
    const text = JSON.stringify(parseJsonOutput(status));
    assert.match(text, /locked\.jpg/);
    assert.match(text, /permission_denied/);
    await assertTreeUntouched(src, before);
  });

  it('a file deleted while it is being hashed ends as missing, never backed up, and the run goes on', async () => {
    const src = await tempDir('keepsake-src-');
    const dataDir = await tempDir('keepsake-data-');
    const good = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'ok.jpg' },
    ]);
    // a large sparse video: reading it takes a while, long enough to catch it open
    const big = join(src, 'big.mov');
    await writeFile(big, 'keepsake big sparse video\n');
    await truncate(big, 1536 * 1024 * 1024);
    let sawOpen = false;
    let stop = false;
    const watchFds = async (pid: number) => {
      const deadline = performance.now() + 60_000;
      while (!stop && performance.now() < deadline) {
        try {
          for (const fd of await readdir(`/proc/${pid}/fd`)) {
            let target = '';
            try {
              target = await readlink(`/proc/${pid}/fd/${fd}`);
            } catch {
              continue;
            }
            if (target === big) {
              sawOpen = true;
              await unlink(big);
              return;
            }
          }
        } catch {
          return; // the process is gone
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    let watcher: Promise<void> = Promise.resolve();
    const run = await runCli(
      ['backup', src, '--to', vault.url, '--token', vault.token, '--data-dir', dataDir, '--json'],
      {
        timeoutMs: 120_000,
        onSpawn: (pid) => {
          watcher = watchFds(pid);
        },
      },
    );
    stop = true;
    await watcher;
    assert.ok(
      sawOpen,
      `the engine opened big.mov while we watched (the test could delete it mid-read): ${describeRun(run)}`,
    );
    assert.equal(run.timedOut, false, describeRun(run));
    const s = parseJsonOutput<BackupSummary>(run);
    assert.ok(
      (await reader.check([good[0]!.sha256])).has(good[0]!.sha256),
      'the other file is backed up',
    );
    const rows = await listEngineFiles(dataDir);
    const bigRow = rows.find((r) => r.relPath === 'big.mov');
    assert.ok(bigRow, 'big.mov is known');
    assert.equal(
      bigRow.state,
      'missing',
      `big.mov: ${JSON.stringify(bigRow)} summary ${JSON.stringify(s)}`,
    );
    const usage = await reader.usage();
    assert.ok(usage.bytes < 1024 * 1024 * 1024, 'no half-read big.mov reached the vault');
  });
});
