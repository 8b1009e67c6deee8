// `keepsake backup` ends on SIGINT/SIGTERM within 5 s in every state (issue 9, item 7), and
// its first question to the vault (the small ones of issue 9): a vault briefly down at the
// start is asked again for up to 30 s; `--to https://` against a plain-HTTP vault says so;
// bad usage exits 2 as the README promises.
//
// The states are reached by what the run reports or stores (its stderr line, a file's state
// in the data directory), never by a fixed sleep; each run is bounded by runCli's timeout.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
  waitFor,
  type BackupSummary,
} from '../support/cli.js';
import { makeTempDir, repoRoot } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';

const GiB = 1024 ** 3;

/** A backup child we signal ourselves (runCli waits for the end; this one we interrupt). */
function spawnBackup(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'main/cli/main.ts'), 'backup', ...args],
    { cwd: repoRoot, env: { ...process.env, ...env }, detached: true },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout?.resume();
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, at: performance.now() })),
  );
  return {
    child,
    stderr: () => stderr,
    exited,
    kill() {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    },
  };
}

/** How many files of a data directory are in `state` now (read-only, beside the running CLI). */
function filesInState(dataDir: string, state: string): number {
  let db: Database.Database;
  try {
    db = new Database(join(dataDir, 'keepsake.db'), { readonly: true, fileMustExist: true });
  } catch {
    return 0;
  }
  try {
    db.pragma('busy_timeout = 2000');
    return (
      db.prepare('SELECT count(*) AS n FROM files WHERE state = ?').get(state) as { n: number }
    ).n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('keepsake backup: signals and the first contact with the vault', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let vault: TestVault;
  after(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
  });

  async function dirs() {
    const src = await makeTempDir('keepsake-signal-src-');
    const data = await makeTempDir('keepsake-signal-data-');
    cleanups.push(src.cleanup, data.cleanup);
    return { src: src.dir, dataDir: data.dir };
  }

  /** Sends `signal` and returns how long the run took to end, and its exit code. */
  async function interrupt(run: ReturnType<typeof spawnBackup>, signal: NodeJS.Signals) {
    cleanups.push(() => run.kill());
    const sentAt = performance.now();
    run.child.kill(signal);
    const bound = setTimeout(() => run.kill(), 20_000);
    const { code, at } = await run.exited;
    clearTimeout(bound);
    return { code, ms: at - sentAt };
  }

  it('SIGTERM while waiting on a vault that does not answer ends the run within 5 s', async () => {
    const { src, dataDir } = await dirs();
    await writeFile(join(src, 'a.jpg'), randomBytes(1000));
    const port = await freePort();
    const run = spawnBackup(
      [src, '--data-dir', dataDir, '--to', `http://127.0.0.1:${port}`, '--json'],
      { KEEPSAKE_TOKEN: 'nobody-listens' },
    );
    await waitFor(() => run.stderr().includes('does not answer yet'), {
      what: 'the first-contact retry',
      timeoutMs: 60_000,
    });
    const { code, ms } = await interrupt(run, 'SIGTERM');
    assert.equal(code, 130, run.stderr());
    assert.ok(ms < 5000, `ended ${Math.round(ms)} ms after SIGTERM`);
  });

  it('SIGINT while hashing a big file ends the run within 5 s', async () => {
    vault ??= await startTestVault();
    cleanups.push(() => vault.close());
    const { src, dataDir } = await dirs();
    // Two sparse 8 GiB videos of the same size (so they are hashed before any upload, to find
    // copies): seconds of hashing, no disk space.
    for (const name of ['big.mp4', 'big-copy.mp4']) {
      const fh = await open(join(src, name), 'w');
      await fh.truncate(8 * GiB);
      await fh.close();
    }
    const run = spawnBackup([src, '--data-dir', dataDir, '--to', vault.url, '--json'], {
      KEEPSAKE_TOKEN: vault.token,
      KEEPSAKE_SETTLE_MS: '0',
    });
    await waitFor(() => filesInState(dataDir, 'hashing') >= 1, {
      what: 'a big file being hashed',
      timeoutMs: 60_000,
    });
    const { code, ms } = await interrupt(run, 'SIGINT');
    assert.equal(code, 130, run.stderr());
    assert.ok(ms < 5000, `ended ${Math.round(ms)} ms after SIGINT`);
  });

  it('SIGTERM while uploading ends the run within 5 s, and the next run finishes the upload', async () => {
    vault ??= await startTestVault();
    const { src, dataDir } = await dirs();
    await writeFile(join(src, 'clip.mov'), randomBytes(24 * 1024 * 1024));
    const args = [src, '--data-dir', dataDir, '--to', vault.url, '--json'];
    const env = { KEEPSAKE_TOKEN: vault.token, KEEPSAKE_SETTLE_MS: '0' };
    const run = spawnBackup([...args, '--bwlimit', '1M'], env);
    await waitFor(() => filesInState(dataDir, 'uploading') === 1, {
      what: 'the upload in flight',
      timeoutMs: 60_000,
    });
    const { code, ms } = await interrupt(run, 'SIGTERM');
    assert.equal(code, 130, run.stderr());
    assert.ok(ms < 5000, `ended ${Math.round(ms)} ms after SIGTERM`);
    const again = await runCli(['backup', ...args], { env });
    assert.equal(again.code, 0, describeRun(again));
    assert.equal(parseJsonOutput<BackupSummary>(again).backedUp, 1);
  });

  it('a vault that is down at the start is asked again, and the backup goes through once it is up', async () => {
    const { src, dataDir } = await dirs();
    await writeFile(join(src, 'a.jpg'), randomBytes(1000));
    const port = await freePort();
    const token = 'late-vault-token';
    const run = spawnBackup(
      [src, '--data-dir', dataDir, '--to', `http://127.0.0.1:${port}`, '--json'],
      { KEEPSAKE_TOKEN: token, KEEPSAKE_SETTLE_MS: '0' },
    );
    cleanups.push(() => run.kill());
    await waitFor(() => run.stderr().includes('does not answer yet'), {
      what: 'the first-contact retry',
      timeoutMs: 60_000,
    });
    const late = await startTestVault({ port, token });
    cleanups.push(() => late.close());
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr());
  });

  it('`--to https://` against a plain-HTTP vault says exactly that (exit 2)', async () => {
    vault ??= await startTestVault();
    const { src, dataDir } = await dirs();
    await writeFile(join(src, 'a.jpg'), randomBytes(1000));
    const https = vault.url.replace(/^http:/, 'https:');
    const run = await runCli(['backup', src, '--data-dir', dataDir, '--to', https], {
      env: { KEEPSAKE_TOKEN: vault.token },
      timeoutMs: 60_000,
    });
    assert.equal(run.code, 2, describeRun(run));
    assert.match(run.stderr, /answers plain HTTP, not HTTPS: use http:\/\//);
  });

  it('bad usage exits 2: a missing argument, an unknown option, a wrong token', async () => {
    vault ??= await startTestVault();
    const { src, dataDir } = await dirs();
    await writeFile(join(src, 'a.jpg'), randomBytes(1000));
    const missing = await runCli(['backup']);
    assert.equal(missing.code, 2, describeRun(missing));
    assert.match(missing.stderr, /missing required argument/);
    const unknown = await runCli(['backup', src, '--no-such-option']);
    assert.equal(unknown.code, 2, describeRun(unknown));
    assert.match(unknown.stderr, /unknown option/);
    const wrongToken = await runCli(['backup', src, '--data-dir', dataDir, '--to', vault.url], {
      env: { KEEPSAKE_TOKEN: 'not-the-token' },
    });
    assert.equal(wrongToken.code, 2, describeRun(wrongToken));
    assert.match(wrongToken.stderr, /refused the token/);
    const help = await runCli(['backup', '--help']);
    assert.equal(help.code, 0, describeRun(help));
  });
});
