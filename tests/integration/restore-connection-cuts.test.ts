// A restore on a link that keeps dropping (issue 10 section 2, resumable downloads): when the
// attempts run out, the file fails but its partial file stays, so the next run resumes from
// it and fetches only the rest; a partial is thrown away only when its bytes prove wrong. On
// both blob stores: the vault serves each resumed Range from the filesystem or from S3.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { runRestore, type RestoreSummary } from '../../main/engine/restore/index.js';
import { createHttpClient } from '../../main/engine/vault/http-client.js';
import { createVaultClient } from '../../main/engine/vault/vault-client.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { makeTempDir } from '../support/paths.js';
import { startTestVault, uploadBuffer, vaultFetch, type TestVault } from '../support/vault.js';

const SIZE = 6 * 1024 * 1024;
const CUT_AFTER = 512 * 1024;

for (const backend of blobBackends()) {
  describe(`restore: connection cuts (${backend.label})`, () => {
    let vault: TestVault;
    let blobs: BlobBackendSetup | undefined;
    let proxy: FaultProxy;
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    const data = randomBytes(SIZE);

    before(async () => {
      temp = await makeTempDir('keepsake-restore-cuts-');
      blobs = await backend.setUp();
      vault = await startTestVault(blobs.vaultOptions);
      const up = await uploadBuffer(vault, data);
      assert.equal(up.res.status, 201, up.text);
      const reg = await vaultFetch(vault, '/api/v1/locations', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          deviceId: 'laptop-1',
          deviceName: 'laptop',
          locations: [
            { sha256: up.sha256, folder: 'Videos', path: 'cut/clip.mov', size: SIZE, mtimeMs: 0 },
          ],
        }),
      });
      assert.equal(reg.status, 200);
      proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
    });
    after(async () => {
      await proxy?.close();
      await vault?.close();
      await blobs?.close();
      await temp?.cleanup();
    });

    async function restoreThroughProxy(to: string): Promise<RestoreSummary> {
      const http = createHttpClient({ endpoint: proxy.url, idleTimeoutMs: 10_000 });
      const client = createVaultClient({ endpoint: proxy.url, token: vault.token, http });
      try {
        return await runRestore({
          vault: client,
          content: { http, endpoint: proxy.url, token: vault.token },
          to,
          filters: {},
          attempts: 3,
          clock: systemClock,
          logger: silentLogger,
          signal: AbortSignal.timeout(60_000),
        });
      } finally {
        client.close();
        http.destroy();
      }
    }

    async function partials(dir: string): Promise<string[]> {
      return (await readdir(dir)).filter((n) => n.startsWith('.keepsake-partial-'));
    }

    it('a file whose retries ran out keeps its partial, and the next run fetches only the rest', async () => {
      const to = join(temp.dir, 'out');
      const dir = join(to, 'Videos', 'cut');
      proxy.setFault({ kind: 'cutResponse', afterBytes: CUT_AFTER });
      const failed = await restoreThroughProxy(to);
      assert.equal(failed.failed, 1, JSON.stringify(failed));
      assert.equal(failed.restored, 0);
      const [partial] = await partials(dir);
      assert.ok(partial !== undefined, 'the partial file is kept');
      const kept = (await stat(join(dir, partial))).size;
      assert.ok(kept > 0 && kept < SIZE, `the partial holds ${kept} bytes`);
      assert.ok(data.subarray(0, kept).equals(await readFile(join(dir, partial))));

      proxy.setFault(null);
      const done = await restoreThroughProxy(to);
      assert.equal(done.restored, 1, JSON.stringify(done));
      assert.equal(done.bytesDownloaded, SIZE - kept, 'only the missing bytes were fetched');
      assert.ok((await readFile(join(dir, 'clip.mov'))).equals(data));
      assert.deepEqual(await partials(dir), []);
    });

    it('a partial whose bytes prove wrong is thrown away and the file fetched whole', async () => {
      const to = join(temp.dir, 'out-wrong');
      const dir = join(to, 'Videos', 'cut');
      proxy.setFault({ kind: 'cutResponse', afterBytes: CUT_AFTER });
      await restoreThroughProxy(to);
      const [partial] = await partials(dir);
      assert.ok(partial !== undefined, 'the partial file is kept');
      const path = join(dir, partial);
      const wrong = await readFile(path);
      wrong[0] = (wrong[0] ?? 0) ^ 0xff;
      await writeFile(path, wrong);

      proxy.setFault(null);
      const done = await restoreThroughProxy(to);
      assert.equal(done.restored, 1, JSON.stringify(done));
      assert.equal(done.bytesDownloaded, SIZE, 'the wrong partial was dropped, the file refetched');
      assert.ok((await readFile(join(dir, 'clip.mov'))).equals(data));
      assert.deepEqual(await partials(dir), []);
    });
  });
}
