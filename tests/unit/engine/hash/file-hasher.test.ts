import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readlinkSync, readdirSync } from 'node:fs';
import {
  appendFile,
  chmod,
  mkdir,
  rename,
  stat,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { createFileHasher, hashWorkerUrl } from '../../../../main/engine/hash/file-hasher.js';
import { identityOf } from '../../../../main/engine/hash/file-identity.js';
import { silentLogger } from '../../../../main/engine/ports.js';
import { makeTempDir, repoRoot } from '../../../support/paths.js';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function pseudoRandomBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await makeTempDir('keepsake-hash-');
  try {
    return await fn(dir);
  } finally {
    await cleanup();
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<KeepsakeError> {
  const err = await promise.then(
    () => assert.fail(`expected a rejection with ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KeepsakeError, `expected KeepsakeError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

/** Resolves once some thread of this process holds `path` open (the worker has started reading). */
async function waitUntilOpenedByThisProcess(path: string, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`) === path) return;
      } catch {
        // the descriptor closed while we looked
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`nobody opened ${path} within ${deadlineMs} ms`);
}

/** A sparse file: hashing it takes real CPU time, without writing the bytes to disk. */
async function makeSparse(path: string, size: number): Promise<void> {
  await writeFile(path, 'x');
  await truncate(path, size);
}

describe('file hasher', () => {
  it('hashes a file to the same SHA-256 as hashing its bytes in one go, with its identity', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 2, chunkBytes: 64 * 1024 });
      try {
        const data = pseudoRandomBytes(3 * 64 * 1024 + 123, 7); // several chunks and a tail
        const path = join(dir, 'photo.jpg');
        await writeFile(path, data);
        const result = await hasher.hashFile(path);
        assert.equal(result.sha256, sha256(data));
        assert.deepEqual(
          {
            size: result.size,
            mtimeMs: result.mtimeMs,
            ino: result.ino,
            dev: result.dev,
            ctimeMs: result.ctimeMs,
          },
          identityOf(await stat(path)),
        );
        assert.ok(Number.isInteger(result.mtimeMs));
      } finally {
        await hasher.close();
      }
    }));

  it('hashes an empty file to the SHA-256 of nothing', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1 });
      try {
        const path = join(dir, 'empty.jpg');
        await writeFile(path, '');
        const result = await hasher.hashFile(path);
        assert.equal(result.sha256, sha256(Buffer.alloc(0)));
        assert.equal(result.size, 0);
      } finally {
        await hasher.close();
      }
    }));

  it('queues more files than threads and gets every one right', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 2, chunkBytes: 4096 });
      try {
        const files = await Promise.all(
          Array.from({ length: 40 }, async (_, i) => {
            const data = pseudoRandomBytes(1000 + i * 977, i + 1);
            const path = join(dir, `img-${i}.jpg`);
            await writeFile(path, data);
            return { path, digest: sha256(data) };
          }),
        );
        const results = await Promise.all(files.map((f) => hasher.hashFile(f.path)));
        assert.deepEqual(
          results.map((r) => r.sha256),
          files.map((f) => f.digest),
        );
      } finally {
        await hasher.close();
      }
    }));

  it('refuses a FIFO as not_a_regular_file without blocking on it', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1 });
      try {
        const path = join(dir, 'pipe.jpg');
        execFileSync('mkfifo', [path]);
        // Were the FIFO opened for reading with a blocking open, this would never settle.
        const err = await rejectsWithCode(hasher.hashFile(path), 'not_a_regular_file');
        assert.match(err.message, /FIFO/);
        // and the pool still works afterwards
        const ok = join(dir, 'ok.jpg');
        await writeFile(ok, 'fine');
        assert.equal((await hasher.hashFile(ok)).sha256, sha256(Buffer.from('fine')));
      } finally {
        await hasher.close();
      }
    }));

  it('refuses a symlink, a folder and a device as not_a_regular_file', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1 });
      try {
        const target = join(dir, 'target.jpg');
        await writeFile(target, 'content');
        const link = join(dir, 'link.jpg');
        await symlink(target, link);
        const folder = join(dir, 'folder.jpg');
        await mkdir(folder);
        await rejectsWithCode(hasher.hashFile(link), 'not_a_regular_file');
        await rejectsWithCode(hasher.hashFile(folder), 'not_a_regular_file');
        await rejectsWithCode(hasher.hashFile('/dev/zero'), 'not_a_regular_file');
      } finally {
        await hasher.close();
      }
    }));

  it('reports a missing file as file_not_found', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1 });
      try {
        await rejectsWithCode(hasher.hashFile(join(dir, 'gone.jpg')), 'file_not_found');
      } finally {
        await hasher.close();
      }
    }));

  it('stops early when a file being copied grows, without reading it to the end', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1, chunkBytes: 4096 });
      try {
        const path = join(dir, 'still-copying.mov');
        await makeSparse(path, 64 * 1024 * 1024 * 1024); // 64 GiB: reading it all takes minutes
        const hashing = rejectsWithCode(hasher.hashFile(path), 'file_changed'); // handled from the start
        await waitUntilOpenedByThisProcess(path);
        await appendFile(path, 'the next block arrives');
        const started = Date.now();
        await hashing;
        assert.ok(Date.now() - started < 60_000);
      } finally {
        await hasher.close();
      }
    }));

  it('an unreadable file is permission_denied (retryable: the person can fix it)', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run the hasher as the nobody user (root reads everything)');
      return;
    }
    await withTemp(async (dir) => {
      const path = join(dir, 'private.jpg');
      await writeFile(path, 'secret');
      await chmod(dir, 0o755);
      await chmod(path, 0o600);
      const script = `
        import { createFileHasher } from ${JSON.stringify(join(repoRoot, 'main/engine/hash/file-hasher.ts'))};
        import { silentLogger } from ${JSON.stringify(join(repoRoot, 'main/engine/ports.ts'))};
        const h = createFileHasher({ logger: silentLogger, threads: 1 });
        const e = await h.hashFile(${JSON.stringify(path)}).then(() => null, (err) => err);
        await h.close();
        process.stdout.write(JSON.stringify({ code: e?.code, retryable: e?.retryable, message: e?.message }));`;
      const child = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          script,
        ],
        { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(child.status, 0, child.stderr);
      const result = JSON.parse(child.stdout) as {
        code: string;
        retryable: boolean;
        message: string;
      };
      assert.equal(result.code, 'permission_denied');
      assert.equal(result.retryable, true);
      assert.ok(result.message.includes(path));
    });
  });

  it('rejects with file_changed when the file is appended to while it is read', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1, chunkBytes: 16 * 1024 });
      try {
        const path = join(dir, 'copying.mov');
        await makeSparse(path, 1024 * 1024 * 1024);
        const hashing = rejectsWithCode(hasher.hashFile(path), 'file_changed'); // handled from the start
        await waitUntilOpenedByThisProcess(path);
        await appendFile(path, 'more bytes arrive from the camera');
        const err = await hashing;
        assert.equal(err.retryable, true);
      } finally {
        await hasher.close();
      }
    }));

  it('rejects with file_changed when only the mtime moves while it is read', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1, chunkBytes: 16 * 1024 });
      try {
        const path = join(dir, 'edited.tif');
        await makeSparse(path, 1024 * 1024 * 1024);
        const hashing = rejectsWithCode(hasher.hashFile(path), 'file_changed'); // handled from the start
        await waitUntilOpenedByThisProcess(path);
        await utimes(path, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
        await hashing;
      } finally {
        await hasher.close();
      }
    }));

  it('rejects with file_changed when another file is renamed over it while it is read (atomic save)', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1, chunkBytes: 16 * 1024 });
      try {
        const path = join(dir, 'saved.jpg');
        await makeSparse(path, 1024 * 1024 * 1024);
        const replacement = join(dir, 'saved.jpg.tmp');
        await writeFile(replacement, 'new version');
        const hashing = rejectsWithCode(hasher.hashFile(path), 'file_changed'); // handled from the start
        await waitUntilOpenedByThisProcess(path);
        await rename(replacement, path);
        await hashing;
      } finally {
        await hasher.close();
      }
    }));

  it('honours an AbortSignal: before the start, while queued and while reading', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1, chunkBytes: 16 * 1024 });
      try {
        const big = join(dir, 'big.mov');
        await makeSparse(big, 1024 * 1024 * 1024);
        const small = join(dir, 'small.jpg');
        await writeFile(small, 'small');

        const already = new AbortController();
        already.abort();
        await assert.rejects(hasher.hashFile(small, already.signal), { name: 'AbortError' });

        const running = new AbortController();
        const queued = new AbortController();
        const first = hasher.hashFile(big, running.signal);
        const second = hasher.hashFile(small, queued.signal);
        await waitUntilOpenedByThisProcess(big);
        queued.abort();
        await assert.rejects(second, { name: 'AbortError' });
        running.abort();
        await assert.rejects(first, { name: 'AbortError' });

        // the pool recovers: the worker notices the cancel and takes the next job
        assert.equal((await hasher.hashFile(small)).sha256, sha256(Buffer.from('small')));
      } finally {
        await hasher.close();
      }
    }));

  it('never blocks the main thread while it hashes', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1 });
      try {
        const path = join(dir, 'long.mov');
        await makeSparse(path, 1024 * 1024 * 1024);
        let ticks = 0;
        const timer = setInterval(() => ticks++, 5);
        try {
          const started = performance.now();
          await hasher.hashFile(path);
          const elapsed = performance.now() - started;
          // A blocked main thread would see at most one tick for the whole hash. The bound is
          // generous: a fifth of the ticks a free event loop would see.
          assert.ok(
            ticks >= Math.min(5, elapsed / 25),
            `${ticks} ticks in ${elapsed.toFixed(0)} ms`,
          );
        } finally {
          clearInterval(timer);
        }
      } finally {
        await hasher.close();
      }
    }));

  it('settles pending hashes when closed, and refuses new ones', () =>
    withTemp(async (dir) => {
      const hasher = createFileHasher({ logger: silentLogger, threads: 1, chunkBytes: 16 * 1024 });
      const path = join(dir, 'big.mov');
      await makeSparse(path, 1024 * 1024 * 1024);
      const inFlight = hasher.hashFile(path);
      const waiting = hasher.hashFile(path);
      await waitUntilOpenedByThisProcess(path);
      const settled = Promise.all([
        assert.rejects(inFlight, { name: 'AbortError' }),
        assert.rejects(waiting, { name: 'AbortError' }),
      ]);
      await hasher.close();
      await settled;
      await assert.rejects(hasher.hashFile(path), KeepsakeError);
    }));

  it('runs its worker from the .ts source under tsx', () => {
    assert.ok(hashWorkerUrl().pathname.endsWith('/main/engine/hash/hash-worker.ts'));
  });

  it('an idle pool does not keep the process alive (a CLI that forgets close() still exits)', async () =>
    withTemp(async (dir) => {
      const path = join(dir, 'a.jpg');
      await writeFile(path, 'abc');
      const script = `
        import { createFileHasher } from './main/engine/hash/file-hasher.ts';
        import { silentLogger } from './main/engine/ports.ts';
        const h = createFileHasher({ logger: silentLogger, threads: 2 });
        const r = await h.hashFile(${JSON.stringify(path)});
        process.stdout.write(r.sha256);`;
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      clearTimeout(timer);
      assert.equal(code, 0, 'the process had to be killed: the hasher kept it alive');
      assert.equal(out, sha256(Buffer.from('abc')));
    }));

  it('works from compiled JavaScript (dist/) with a .js worker beside it', async () =>
    withTemp(async (dir) => {
      const outDir = join(dir, 'dist');
      execFileSync(
        process.execPath,
        [
          join(repoRoot, 'node_modules/typescript/bin/tsc'),
          '--outDir',
          outDir,
          '--rootDir',
          repoRoot,
          '--module',
          'NodeNext',
          '--moduleResolution',
          'NodeNext',
          '--target',
          'ES2023',
          '--types',
          'node',
          '--skipLibCheck',
          join(repoRoot, 'main/engine/hash/file-hasher.ts'),
          join(repoRoot, 'main/engine/hash/hash-worker.ts'),
        ],
        { cwd: repoRoot, stdio: 'inherit' },
      );
      // dist/ needs to see "type": "module" like the repo's package.json says
      await writeFile(join(outDir, 'package.json'), '{"type":"module"}');
      const file = join(dir, 'b.jpg');
      await writeFile(file, 'compiled');
      const script = `
        const { createFileHasher, hashWorkerUrl } = await import(${JSON.stringify(join(outDir, 'main/engine/hash/file-hasher.js'))});
        const h = createFileHasher({ logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } } });
        const r = await h.hashFile(${JSON.stringify(file)});
        await h.close();
        process.stdout.write(hashWorkerUrl().pathname + ' ' + r.sha256);`;
      // plain node, no tsx: a .ts worker URL would fail here
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      const [workerPath, digest] = out.split(' ');
      assert.ok(workerPath?.endsWith('/main/engine/hash/hash-worker.js'), workerPath);
      assert.equal(digest, sha256(Buffer.from('compiled')));
    }));
});
