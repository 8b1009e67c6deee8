// A vault killed with SIGKILL at any moment restarts with its index and blobs consistent:
// every asset row has its blob, whole, hashing to its name; no blob is half-written under
// its final name; partial uploads are either resumable at their stored offset or gone; and
// the interrupted uploads then resume and complete. Kill moments are chosen from a seed
// (printed; replay with SEED=...).
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL
// (an S3 object is never half-written: a PUT is all or nothing, but its bytes are hashed too).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Upload } from 'tus-js-client';
import { makeTempDir } from '../support/paths.js';
import {
  sha256Hex,
  spawnVaultProcess,
  startTestVault,
  tusCreate,
  uploadsLeft,
  vaultFetch,
  type TestVault,
  type VaultProcess,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
let state = seed;
const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

interface Item {
  name: string;
  data: Buffer;
  sha256: string;
  /** the upload's path on the vault once created */
  path?: string;
  done: boolean;
}

function upload(vault: VaultProcess, item: Item): Promise<void> {
  return new Promise((resolve, reject) => {
    const u: Upload = new Upload(item.data, {
      endpoint: `${vault.url}/files/`,
      ...(item.path ? { uploadUrl: `${vault.url}${item.path}` } : {}),
      headers: { Authorization: `Bearer ${vault.token}` },
      metadata: { filename: item.name, sha256: item.sha256 },
      chunkSize: 256 * 1024,
      retryDelays: [],
      onUploadUrlAvailable: () => {
        if (u.url) item.path = new URL(u.url).pathname;
      },
      onError: reject,
      onSuccess: () => {
        item.done = true;
        resolve();
      },
    });
    u.start();
  });
}

async function metric(vault: VaultProcess, name: string): Promise<number> {
  const text = await (await vaultFetch(vault, '/metrics')).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

/** The consistency a restarted vault promises; returns the asset hashes it holds. */
async function checkConsistency(
  vault: VaultProcess,
  dataDir: string,
  stores: BlobBackendSetup,
): Promise<Set<string>> {
  const held = new Set<string>();
  let after = '';
  for (;;) {
    const page = (await (
      await vaultFetch(vault, `/api/v1/assets?limit=1000${after ? `&after=${after}` : ''}`)
    ).json()) as { assets: { sha256: string; size: number }[]; next: string | null };
    for (const a of page.assets) {
      const blob = await stores.stored(dataDir, a.sha256);
      assert.ok(blob, `asset ${a.sha256} has its blob`);
      assert.equal(blob.length, a.size, `blob ${a.sha256} is whole`);
      held.add(a.sha256);
    }
    if (page.next === null) break;
    after = page.next;
  }
  for (const name of await stores.names(dataDir)) {
    assert.match(name, /^[0-9a-f]{64}$/, `only final names under blobs/: ${name}`);
    const bytes = await stores.stored(dataDir, name);
    assert.equal(bytes && sha256Hex(bytes), name, `blob ${name} is not half-written`);
  }
  // A decoded copy a preview is being made from (BlobStore.withPlainFile: an S3 object is
  // copied out first) comes and goes with the restarted vault's background work; one the
  // kill left is swept at start.
  const uploads = (await readdir(join(dataDir, 'uploads'))).filter(
    (n) => !/^plain-[0-9a-f]+\.tmp$/.test(n),
  );
  for (const name of uploads) {
    const id = name.replace(/\.json$/, '');
    assert.ok(uploads.includes(id) && uploads.includes(`${id}.json`), `${name} has its pair`);
  }
  for (const name of await readdir(join(dataDir, 'upload-state'))) {
    assert.ok(uploads.includes(name.split('.')[0]!), `hash state ${name} belongs to a partial`);
  }
  return held;
}

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: an upload whose last byte was stored but never committed', () => {
      for (const variant of ['matching', 'corrupt'] as const) {
        it(`is ${variant === 'matching' ? 'verified and committed' : 'deleted, not committed,'} when the vault starts again (${variant} bytes)`, async () => {
          const temp = await makeTempDir('keepsake-vault-leftover-');
          let vault: TestVault | undefined;
          const options = { ...(await setup!.freshVaultOptions()), dataDir: temp.dir };
          try {
            vault = await startTestVault(options);
            const data = randomBytes(300_000);
            const sha256 = sha256Hex(data);
            const created = await tusCreate(vault, {
              size: data.length,
              metadata: { filename: 'left.bin', sha256 },
              body: data.subarray(0, data.length - 1),
            });
            assert.equal(created.res.status, 201);
            const path = new URL(created.location!).pathname;
            await vault.close();
            // the crash: the last byte reached the partial, the commit never happened
            const last = Buffer.from([variant === 'matching' ? data.at(-1)! : data.at(-1)! ^ 0xff]);
            await appendFile(join(temp.dir, 'uploads', path.split('/').at(-1)!), last);
            vault = await startTestVault(options);
            const asset = await vaultFetch(vault, `/api/v1/assets/${sha256}`);
            const head = await vaultFetch(vault, path, {
              method: 'HEAD',
              headers: { 'Tus-Resumable': '1.0.0' },
            });
            if (variant === 'matching') {
              assert.equal(asset.status, 200, 'committed at start');
              assert.equal(head.status, 200);
              assert.equal(head.headers.get('upload-offset'), String(data.length));
            } else {
              assert.equal(asset.status, 404, 'never committed');
              assert.equal(head.status, 404, 'the client learns to start over');
              assert.deepEqual(await uploadsLeft(temp.dir), []);
            }
          } finally {
            await vault?.close();
            await temp.cleanup();
          }
        });
      }
    });

    describe('vault: kill -9 during uploads', () => {
      const cleanups: (() => Promise<void>)[] = [];
      after(async () => {
        for (const c of cleanups.reverse()) await c();
      });

      it(`restarts with index and blobs consistent, and interrupted uploads resume (SEED=${seed})`, async () => {
        const temp = await makeTempDir('keepsake-vault-crash-');
        cleanups.push(temp.cleanup);
        const token = randomBytes(16).toString('hex');
        const items: Item[] = Array.from({ length: 8 }, (_, i) => {
          const size = i % 3 === 0 ? 3 * 1024 * 1024 + i : 200_000 + Math.floor(random() * 600_000);
          const data = randomBytes(size);
          return { name: `item-${i}.bin`, data, sha256: sha256Hex(data), done: false };
        });
        let vault = await spawnVaultProcess({
          dataDir: temp.dir,
          token,
          extraArgs: setup!.cliArgs,
        });
        cleanups.push(() => vault.kill9());

        for (let round = 0; round < 3; round++) {
          const pending = items.filter((it) => !it.done);
          const threshold = Math.floor(500_000 + random() * 3_000_000);
          const runs = pending.map((it) => upload(vault, it).catch(() => undefined));
          // kill once the vault has taken in `threshold` more bytes (or everything finished)
          const startBytes = await metric(vault, 'keepsake_vault_bytes_received_total');
          const deadline = Date.now() + 20_000;
          while (Date.now() < deadline && items.some((it) => !it.done)) {
            const got =
              (await metric(vault, 'keepsake_vault_bytes_received_total').catch(() => 0)) -
              startBytes;
            if (got >= threshold) break;
            await new Promise((r) => setTimeout(r, 5));
          }
          await vault.kill9();
          await Promise.all(runs);
          if (round === 0)
            assert.ok(
              items.some((it) => !it.done),
              'the kill interrupted uploads',
            );
          vault = await spawnVaultProcess({ dataDir: temp.dir, token, extraArgs: setup!.cliArgs });
          const held = await checkConsistency(vault, temp.dir, setup!);
          for (const it of items) {
            if (it.done) assert.ok(held.has(it.sha256), `${it.name} reported done is held`);
          }
        }

        // everything left resumes (or restarts when its partial was swept) and completes
        for (const it of items.filter((i) => !i.done)) {
          if (it.path) {
            const head = await vaultFetch(vault, it.path, {
              method: 'HEAD',
              headers: { 'Tus-Resumable': '1.0.0' },
            });
            if (head.status !== 200) delete it.path; // swept: start over
          }
          await upload(vault, it);
        }
        const held = await checkConsistency(vault, temp.dir, setup!);
        for (const it of items) {
          assert.ok(held.has(it.sha256), `${it.name} is on the vault`);
          const res = await vaultFetch(vault, `/api/v1/assets/${it.sha256}/content`);
          assert.equal(sha256Hex(Buffer.from(await res.arrayBuffer())), it.sha256);
        }
        assert.equal(await vault.stop(), 0, 'the vault exits cleanly on SIGTERM');
      });
    });
  });
}
