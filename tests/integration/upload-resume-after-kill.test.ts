// kill -9 of the uploading process mid-file, at several offsets: each restart resumes from
// the offset the server confirmed, and the bytes sent twice stay within one chunk per kill.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeTempDir, repoRoot } from '../support/paths.js';
import { startPlainTusServer } from '../support/plain-tus-server.js';
import { startTestVault } from '../support/vault.js';
import type { DriverState } from '../support/driver-state.js';
import type { DriverArgs } from '../support/upload-driver.js';
import { jobFor, randomFile } from '../support/upload-fixtures.js';

const MiB = 1024 * 1024;

function startDriver(args: DriverArgs): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'tests/support/upload-driver.ts', JSON.stringify(args)],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited };
}

interface Target {
  url: string;
  port: number;
  token: string | null;
  sha256Of(uploadUrl: string, sha256: string): Promise<string | null>;
  close(): Promise<void>;
}

async function plainTarget(): Promise<Target> {
  const server = await startPlainTusServer();
  return {
    url: server.url,
    port: server.port,
    token: null,
    sha256Of: (u) => server.sha256Of(u),
    close: () => server.close(),
  };
}

async function vaultTarget(): Promise<Target> {
  const vault = await startTestVault();
  return {
    url: vault.url,
    port: Number(new URL(vault.url).port),
    token: vault.token,
    async sha256Of(_u, sha256) {
      const res = await fetch(`${vault.url}/api/v1/assets/${sha256}/content`, {
        headers: { authorization: `Bearer ${vault.token}` },
      });
      if (res.status !== 200) return null;
      return createHash('sha256')
        .update(Buffer.from(await res.arrayBuffer()))
        .digest('hex');
    },
    async close() {
      // bounded: @tus/server never settles a PATCH handler whose connection was cut
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([vault.close(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    },
  };
}

for (const [name, start, unhashed] of [
  ['a plain tus server', plainTarget, false],
  ['the vault', vaultTarget, false],
  ['a plain tus server, hashed while sending', plainTarget, true],
  ['the vault, hashed while sending', vaultTarget, true],
] as const) {
  describe(`resume after kill -9 (${name})`, () => {
    let server: Target;
    let proxy: FaultProxy;
    let tmp: { dir: string; cleanup: () => Promise<void> };
    const children: ChildProcess[] = [];
    before(async () => {
      server = await start();
      proxy = await startFaultProxy({ targetPort: server.port });
      tmp = await makeTempDir('keepsake-upload-kill-');
    });
    after(async () => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await proxy?.close();
      await server?.close();
      await tmp?.cleanup();
    });

    it('resumes from the confirmed offset after each kill, re-sending at most one chunk per kill', async () => {
      const chunk = 2 * MiB;
      const path = await randomFile(join(tmp.dir, 'video.mp4'), 20 * MiB + 777);
      const { resume: _resume, ...job } = await jobFor(path);
      const statePath = join(tmp.dir, 'state.json');
      const args: DriverArgs = {
        endpoint: proxy.url,
        token: server.token,
        chunkSizeBytes: chunk,
        statePath,
        // Unhashed: the hash is rebuilt from the confirmed prefix on disk after each kill
        // (see [Note: Hash while sending]); nothing confirmed is sent again.
        job: unhashed ? { ...job, sha256: null } : job,
      };
      // Slow the link so each kill lands mid-chunk at a chosen byte count.
      proxy.setFault({ kind: 'throttle', bytesPerSecond: 8 * MiB });
      const killAt = [3.3 * MiB, 9.7 * MiB, 15.1 * MiB];
      const start = proxy.bytesForwarded;
      const urls = new Set<string>();
      for (const threshold of killAt) {
        const { child, exited } = startDriver(args);
        children.push(child);
        const deadline = performance.now() + 60_000;
        while (proxy.bytesForwarded - start < threshold && child.exitCode === null) {
          if (performance.now() > deadline) throw new Error('driver made no progress');
          await new Promise((r) => setTimeout(r, 5));
        }
        child.kill('SIGKILL');
        await exited;
        const state = JSON.parse(await readFile(statePath, 'utf8')) as DriverState;
        assert.equal(state.done, false, 'killed before the end');
        if (state.uploadUrl) urls.add(state.uploadUrl);
      }
      proxy.setFault(null);
      const { child, exited } = startDriver(args);
      children.push(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      assert.equal(await exited, 0, out);
      assert.match(out, new RegExp(`"done":"${job.sha256}"`), 'the driver reports the file hash');
      const state = JSON.parse(await readFile(statePath, 'utf8')) as DriverState;
      assert.equal(state.done, true);
      assert.equal(state.offset, job.size);
      assert.equal(urls.size, 1, 'every restart resumed the same upload');
      assert.equal(await server.sha256Of(state.uploadUrl ?? '', job.sha256), job.sha256);
      const sent = proxy.bytesForwarded - start;
      const waste = sent - job.size;
      assert.ok(
        waste <= killAt.length * chunk + 64 * 1024,
        `re-sent ${(waste / MiB).toFixed(2)} MiB over ${killAt.length} kills (chunk ${chunk / MiB} MiB)`,
      );
    });
  });
}
