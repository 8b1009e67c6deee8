// `keepsake vault` as an operator runs it: the listening line, a generated token printed
// once and kept owner-only, clear errors for a port in use, an unusable data directory or a
// directory another vault holds, and a clean exit on SIGTERM and SIGINT.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeTempDir, repoRoot } from '../support/paths.js';
import { spawnVaultProcess, vaultFetch, type VaultProcess } from '../support/vault.js';

/** Runs `keepsake vault ...` expecting it to fail fast; returns its exit code and stderr. */
function runFailing(
  args: string[],
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'main/cli/main.ts', 'vault', ...args],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keepsake vault ${args.join(' ')} did not exit:\n${stdout}\n${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe('keepsake vault (CLI)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('prints the listening URL, and a generated token only on the first start; the token file is owner-only and reused', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    const first: VaultProcess = await spawnVaultProcess({ dataDir: temp.dir });
    cleanups.push(() => first.kill9());
    const out1 = first.output().stdout;
    assert.match(out1, /^vault listening on http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(out1, /token: \S{20,}/);
    const tokenFile = await stat(join(temp.dir, 'token'));
    assert.equal(tokenFile.mode & 0o777, 0o600, 'token readable by the owner only');
    assert.equal((await vaultFetch(first, '/api/v1/usage')).status, 200);
    assert.equal(await first.stop(), 0);

    const second = await spawnVaultProcess({ dataDir: temp.dir });
    cleanups.push(() => second.kill9());
    assert.doesNotMatch(second.output().stdout, /token/, 'the token is printed once');
    assert.equal(second.token, first.token);
    assert.equal((await vaultFetch(second, '/api/v1/usage')).status, 200, 'the same token works');
    assert.equal((await vaultFetch({ url: second.url, token: 'x' }, '/api/v1/usage')).status, 401);
    assert.equal(await second.stop(), 0);
  });

  it('with --token uses it and writes no token file', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    const vault = await spawnVaultProcess({ dataDir: temp.dir, token: 'my-own-token-123' });
    cleanups.push(() => vault.kill9());
    assert.doesNotMatch(vault.output().stdout, /token/);
    assert.equal((await vaultFetch(vault, '/api/v1/usage')).status, 200);
    await assert.rejects(access(join(temp.dir, 'token')));
    assert.equal(await vault.stop(), 0);
  });

  it('refuses a port in use with a clear message', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => blocker.close(r)));
    const port = (blocker.address() as AddressInfo).port;
    const { code, stderr } = await runFailing(['--data-dir', temp.dir, '--port', String(port)]);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    await assert.rejects(access(join(temp.dir, 'vault.lock')), 'the lock is released');
  });

  it('refuses a data directory it cannot create or write, with a clear message', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    const file = join(temp.dir, 'a-file');
    await writeFile(file, 'not a directory');
    const { code, stderr } = await runFailing(['--data-dir', join(file, 'vault'), '--port', '0']);
    assert.equal(code, 1);
    assert.match(stderr, /cannot use .*a-file\/vault as the vault's data directory/);
  });

  it('refuses a data directory another running vault uses', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    const vault = await spawnVaultProcess({ dataDir: temp.dir, token: 'abcdefgh' });
    cleanups.push(() => vault.kill9());
    const { code, stderr } = await runFailing(['--data-dir', temp.dir, '--port', '0']);
    assert.equal(code, 1);
    assert.match(stderr, /another vault is already using/);
    assert.equal(
      (await vaultFetch(vault, '/api/v1/usage')).status,
      200,
      'the first one still serves',
    );
    await vault.stop();
  });

  it('refuses a PostgreSQL password on the command line, and says where it belongs', async () => {
    const { code, stderr } = await runFailing([
      '--data-dir',
      '/nonexistent-never-created',
      '--index',
      'postgres://keepsake:hunter2@127.0.0.1:5432/vault',
    ]);
    assert.equal(code, 2, 'a usage error');
    assert.match(stderr, /password does not belong on the command line/);
    assert.match(stderr, /PGPASSWORD or ~\/\.pgpass/);
  });

  it('says in one line that its PostgreSQL index cannot be reached, for the vault and for devices', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    // Nothing listens on port 1 of the loopback address: the connection is refused.
    const index = 'postgres://keepsake@127.0.0.1:1/vault';
    for (const args of [
      ['--data-dir', temp.dir, '--port', '0', '--index', index],
      ['devices', 'list', '--data-dir', temp.dir, '--index', index],
    ]) {
      const { code, stderr } = await runFailing(args);
      assert.equal(code, 1, args.join(' '));
      assert.match(
        stderr,
        /^keepsake vault( devices)?: could not reach the PostgreSQL index at 127\.0\.0\.1:1: connection refused$/m,
      );
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('refuses partial uploads on another file system than its blobs, which a rename cannot reach', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    // /dev/shm is a tmpfs: another file system than the temp directory's.
    const elsewhere = await mkdtemp('/dev/shm/keepsake-uploads-');
    cleanups.push(() => rm(elsewhere, { recursive: true, force: true }));
    const { code, stderr } = await runFailing([
      '--data-dir',
      temp.dir,
      '--port',
      '0',
      '--uploads',
      elsewhere,
    ]);
    assert.equal(code, 1);
    assert.match(stderr, /must be on the same file system as the blobs/);
    await assert.rejects(access(join(temp.dir, 'vault.lock')), 'the lock is released');
  });

  it('rejects malformed numbers in --port, --quota, --max-size and --partial-ttl', async () => {
    for (const args of [
      ['--port', 'http'],
      ['--quota', '10 zebras'],
      ['--max-size', '-5'],
      ['--partial-ttl', '24'],
    ]) {
      const { code, stderr } = await runFailing([
        '--data-dir',
        '/nonexistent-never-created',
        ...args,
      ]);
      assert.notEqual(code, 0, args.join(' '));
      assert.match(stderr, /expected a/);
    }
  });

  it('reads --quota and --max-size with the size units of --bwlimit (10G, 2G)', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    const vault = await spawnVaultProcess({
      dataDir: temp.dir,
      token: 'abcdefgh',
      extraArgs: ['--quota', '10G', '--max-size', '2G'],
    });
    cleanups.push(() => vault.kill9());
    const usage = (await (await vaultFetch(vault, '/api/v1/usage')).json()) as {
      quotaBytes: number;
    };
    assert.equal(usage.quotaBytes, 10 * 1024 ** 3);
    const tooLarge = await vaultFetch(vault, '/files/', {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': String(2 * 1024 ** 3 + 1) },
    });
    assert.equal(tooLarge.status, 413, 'one byte over 2 GiB is over --max-size 2G');
    assert.equal(await vault.stop(), 0);
  });

  it('closes cleanly on SIGINT, releasing its data directory', async () => {
    const temp = await makeTempDir('keepsake-vault-cli-');
    cleanups.push(temp.cleanup);
    const vault = await spawnVaultProcess({ dataDir: temp.dir, token: 'abcdefgh' });
    cleanups.push(() => vault.kill9());
    const exited = new Promise<number | null>((r) => vault.child.once('exit', (c) => r(c)));
    vault.child.kill('SIGINT');
    assert.equal(await exited, 0);
    await assert.rejects(access(join(temp.dir, 'vault.lock')));
  });
});
