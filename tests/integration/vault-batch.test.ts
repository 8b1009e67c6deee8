// POST /api/v1/batch against a real vault on loopback with real corpus files: per-file
// results in frame order, a bad file refused alone, quota and max size per file, a cut or
// stalled batch (through the fault proxy) leaving nothing visible, and a vault killed with
// SIGKILL mid-batch restarting with every index row backed by its whole blob.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { corpusFile, corpusRoot, makeTempDir } from '../support/paths.js';
import { COMPRESSED_SUFFIX } from '../../server/blob-store.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';
import { storedContent } from '../support/vault-damage.js';
import {
  type BatchFile,
  batchBody,
  postBatch,
  sha256Hex,
  spawnVaultProcess,
  startTestVault,
  type TestVault,
  type VaultEndpoint,
  vaultFetch,
} from '../support/vault.js';

interface Results {
  results: { sha256: string; status: string; code?: string; retryable?: boolean }[];
}

/** Distinct corpus files (by content) between `min` and `max` bytes, in manifest order. */
async function corpusFiles(count: number, min = 1, max = 400_000): Promise<BatchFile[]> {
  const manifest = await readFile(`${corpusRoot}/MANIFEST.tsv`, 'utf8');
  const seen = new Set<string>();
  const out: BatchFile[] = [];
  for (const line of manifest.split('\n').slice(1)) {
    const [path, bytes, sha256] = line.split('\t');
    if (!path || !sha256 || seen.has(sha256)) continue;
    const size = Number(bytes);
    if (size < min || size > max) continue;
    seen.add(sha256);
    const data = await readFile(corpusFile(path));
    out.push({
      data,
      filename: path.split('/').at(-1)!,
      relpath: path,
      ...(path.toLowerCase().endsWith('.jpg') ? { mime: 'image/jpeg' } : {}),
      mtimeMs: 1_552_385_472_000,
    });
    if (out.length === count) break;
  }
  assert.equal(out.length, count, 'enough corpus files');
  return out;
}

async function content(vault: VaultEndpoint, sha256: string): Promise<Buffer | number> {
  const res = await vaultFetch(vault, `/api/v1/assets/${sha256}/content`);
  if (res.status !== 200) return res.status;
  return Buffer.from(await res.arrayBuffer());
}

async function assetCount(vault: VaultEndpoint): Promise<number> {
  const usage = (await (await vaultFetch(vault, '/api/v1/usage')).json()) as { assets: number };
  return usage.assets;
}

async function leftoverTemps(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'uploads'))).filter((n) => n.startsWith('batch-'));
}

/** Waits until the vault has dropped a cut batch's temp files (its cleanup is async). */
async function settled(dataDir: string): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const left = await leftoverTemps(dataDir);
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
  return leftoverTemps(dataDir);
}

for (const backend of blobBackends()) {
  describe(`vault: small files in batches (POST /api/v1/batch, ${backend.label})`, () => {
    let vault: TestVault;
    let blobs: BlobBackendSetup;
    let files: BatchFile[];
    before(async () => {
      blobs = await backend.setUp();
      vault = await startTestVault(blobs.vaultOptions);
      files = await corpusFiles(40);
    });
    after(async () => {
      await vault.close();
      await blobs.close();
    });

    it('stores every file of a batch, answers per file in frame order, and serves them byte-exact', async () => {
      const { status, json } = await postBatch(vault, files);
      assert.equal(status, 200, JSON.stringify(json));
      const { results } = json as Results;
      assert.deepEqual(
        results.map((r) => [r.sha256, r.status]),
        files.map((f) => [sha256Hex(f.data), 'stored']),
      );
      for (const f of files) assert.deepEqual(await content(vault, sha256Hex(f.data)), f.data);
      const first = files[0]!;
      assert.deepEqual(
        await blobs.stored(vault.dataDir, sha256Hex(first.data)),
        first.data,
        'stored where the vault was told to store',
      );
      const asset = (await (
        await vaultFetch(vault, `/api/v1/assets/${sha256Hex(first.data)}`)
      ).json()) as Record<string, unknown>;
      assert.equal(asset.filename, first.filename);
      assert.equal(asset.relpath, first.relpath);
      assert.equal(asset.mtimeMs, first.mtimeMs);
      assert.equal(asset.size, first.data.length);

      const again = await postBatch(vault, files.slice(0, 5));
      assert.deepEqual(
        (again.json as Results).results.map((r) => r.status),
        Array(5).fill('duplicate'),
        'content the vault holds is a duplicate',
      );
      assert.deepEqual(await leftoverTemps(vault.dataDir), []);
    });

    it('refuses a file whose bytes do not match its sha256, alone; the others are stored', async () => {
      const batch = await corpusFiles(6, 1, 400_000).then((f) => f.slice(0, 6));
      const fresh = batch.map((f, i) => ({
        ...f,
        data: Buffer.concat([f.data, Buffer.from([i])]),
      }));
      const bad = fresh[2]!;
      const corrupted = Buffer.from(bad.data);
      corrupted[corrupted.length >> 1]! ^= 0xff;
      const sent = fresh.map((f) =>
        f === bad ? { ...f, sha256: sha256Hex(f.data), data: corrupted } : f,
      );
      const { status, json } = await postBatch(vault, sent);
      assert.equal(status, 200);
      const { results } = json as Results;
      assert.deepEqual(
        results.map((r) => r.status),
        ['stored', 'stored', 'refused', 'stored', 'stored', 'stored'],
      );
      assert.equal(results[2]!.code, 'checksum_mismatch');
      assert.equal(results[2]!.retryable, true);
      assert.equal(await content(vault, sha256Hex(bad.data)), 404, 'nothing stored for it');
      for (const f of fresh) {
        if (f !== bad) assert.deepEqual(await content(vault, sha256Hex(f.data)), f.data);
      }
    });

    it('refuses a file with an invalid header field alone, naming the field', async () => {
      const a = { data: Buffer.from('batch header a'), filename: 'a.txt' };
      const b = {
        data: Buffer.from('batch header b'),
        filename: 'b.txt',
        header: { relpath: '../../etc/passwd' },
      };
      const c = {
        data: Buffer.from('batch header c'),
        filename: 'c.txt',
        header: { filename: 'x/y' },
      };
      const { json } = await postBatch(vault, [a, b, c]);
      const { results } = json as Results & { results: { message?: string }[] };
      assert.deepEqual(
        results.map((r) => r.status),
        ['stored', 'refused', 'refused'],
      );
      assert.equal(results[1]!.code, 'invalid_metadata');
      assert.match(results[1]!.message ?? '', /relpath/);
      assert.match(results[2]!.message ?? '', /filename/);
    });

    it('answers 400 to a body that is not a batch, and stores nothing of it', async () => {
      const before = await assetCount(vault);
      const one = { data: Buffer.from('framing 1'), filename: 'f1.txt' };
      const two = { data: Buffer.from('framing 2'), filename: 'f2.txt' };
      const body = batchBody([one, two]);
      const cases: [string, Parameters<typeof postBatch>[2]][] = [
        ['fewer frames than announced', { count: 3 }],
        ['more bytes than announced', { count: 1 }],
        [
          'a header line that is not JSON',
          { body: Buffer.concat([Buffer.from('nope\n'), body]), count: 3 },
        ],
        ['a body cut inside a frame', { body: body.subarray(0, body.length - 3) }],
      ];
      for (const [what, opts] of cases) {
        const { status, json } = await postBatch(vault, [one, two], opts);
        assert.equal(status, 400, `${what}: ${JSON.stringify(json)}`);
        assert.equal((json as { error: string }).error, 'bad_request');
      }
      const noCount = await vaultFetch(vault, '/api/v1/batch', {
        method: 'POST',
        headers: { 'Content-Type': 'application/vnd.keepsake.batch' },
        body,
      });
      assert.equal(noCount.status, 400);
      assert.equal(await assetCount(vault), before);
      assert.equal(await content(vault, sha256Hex(one.data)), 404);
      assert.deepEqual(await settled(vault.dataDir), []);
    });

    it('answers 413 batch_too_large when the sizes add up to more than 64 MiB', async () => {
      const body = Buffer.from(
        `${JSON.stringify({ sha256: 'a'.repeat(64), size: 65 * 1024 * 1024, filename: 'big.bin' })}\n`,
      );
      const { status, json } = await postBatch(vault, [], { body, count: 1 });
      assert.equal(status, 413);
      assert.equal((json as { error: string }).error, 'batch_too_large');
    });
  });
}

describe('vault: batches against quota and max size', () => {
  it('refuses the files that would exceed the quota or the max size; the rest are stored', async () => {
    const vault = await startTestVault({ quotaBytes: 50_000, maxSizeBytes: 30_000 });
    try {
      const f = (n: number, size: number): BatchFile => ({
        data: Buffer.alloc(size, n),
        filename: `q${n}.bin`,
      });
      const { json } = await postBatch(vault, [
        f(1, 20_000),
        f(2, 40_000),
        f(3, 20_000),
        f(4, 20_000),
      ]);
      const { results } = json as Results;
      assert.deepEqual(
        results.map((r) => [r.status, r.code]),
        [
          ['stored', undefined],
          ['refused', 'too_large'],
          ['stored', undefined],
          ['refused', 'quota_exceeded'],
        ],
      );
      // content already held costs nothing: it is accepted at full quota
      const again = await postBatch(vault, [f(1, 20_000)]);
      assert.equal((again.json as Results).results[0]!.status, 'duplicate');
      const usage = (await (await vaultFetch(vault, '/api/v1/usage')).json()) as { bytes: number };
      assert.equal(usage.bytes, 40_000);
    } finally {
      await vault.close();
    }
  });
});

describe('vault: a batch through a faulty link', () => {
  let vault: TestVault;
  let proxy: FaultProxy;
  let files: BatchFile[];
  before(async () => {
    vault = await startTestVault();
    proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
    files = await corpusFiles(20, 60_000, 400_000);
  });
  after(async () => {
    await proxy.close();
    await vault.close();
  });
  const viaProxy = (): VaultEndpoint => ({ url: proxy.url, token: vault.token });

  it('a batch cut mid-body leaves nothing visible, and is stored whole when sent again', async () => {
    const total = batchBody(files).length;
    proxy.setFault({ kind: 'cut', afterBytes: Math.floor(total * 0.7), once: true });
    await assert.rejects(postBatch(viaProxy(), files));
    assert.equal(await assetCount(vault), 0, 'nothing of the cut batch is in the index');
    for (const f of files.slice(0, 3)) assert.equal(await content(vault, sha256Hex(f.data)), 404);
    assert.deepEqual(await settled(vault.dataDir), [], 'its temp files are gone');
    proxy.setFault(null);
    const { status, json } = await postBatch(viaProxy(), files);
    assert.equal(status, 200);
    assert.ok((json as Results).results.every((r) => r.status === 'stored'));
    assert.equal(await assetCount(vault), files.length);
  });

  it('a batch that stalls and is given up by the client leaves nothing visible', async () => {
    const more = (await corpusFiles(40, 60_000, 400_000)).slice(20);
    const before = await assetCount(vault);
    proxy.setFault({
      kind: 'stall',
      afterBytes: Math.floor(batchBody(more).length / 2),
      once: true,
    });
    await assert.rejects(postBatch(viaProxy(), more, { signal: AbortSignal.timeout(1500) }));
    // the proxy keeps the vault's side open: the vault still waits for the rest
    assert.equal(await assetCount(vault), before);
    await proxy.close(); // the dead link finally closes
    assert.deepEqual(await settled(vault.dataDir), []);
    assert.equal(await assetCount(vault), before);
    proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
  });

  it('one byte corrupted on the wire: only the file it fell in is refused', async () => {
    const fresh = files.map((f) => ({ ...f, data: Buffer.concat([f.data, Buffer.from('x')]) }));
    const body = batchBody(fresh);
    // aim at the middle of frame 4: far from both of its ends, whatever the HTTP head's size
    let offset = 0;
    for (const f of fresh.slice(0, 3)) offset += batchBody([f]).length;
    const target = offset + (batchBody([fresh[3]!]).length >> 1);
    assert.ok(batchBody([fresh[3]!]).length > 20_000 && target < body.length);
    proxy.setFault({ kind: 'corrupt', atByte: target, once: true });
    const { status, json } = await postBatch(viaProxy(), fresh);
    assert.equal(status, 200);
    const { results } = json as Results;
    assert.deepEqual(
      results.map((r, i) => (i === 3 ? r.code : r.status)),
      fresh.map((_, i) => (i === 3 ? 'checksum_mismatch' : 'stored')),
    );
    for (const [i, f] of fresh.entries()) {
      if (i !== 3) assert.deepEqual(await content(vault, sha256Hex(f.data)), f.data);
    }
  });
});

describe('vault: killed with SIGKILL during batches', () => {
  it('restarts with every index row backed by its whole blob, and no batch leftovers', async () => {
    const temp = await makeTempDir('keepsake-vault-batch-kill-');
    try {
      let proc = await spawnVaultProcess({ dataDir: temp.dir });
      const base = await corpusFiles(60, 1, 200_000);
      const batches = [0, 1, 2, 3].map((k) =>
        base.map((f) => ({ ...f, data: Buffer.concat([f.data, Buffer.from(`kill ${k}`)]) })),
      );
      // Send the batches one after another and kill the vault while they are in flight.
      const sending = (async () => {
        for (const b of batches) await postBatch(proc, b).catch(() => undefined);
      })();
      await new Promise((r) => setTimeout(r, 400));
      await proc.kill9();
      await sending;
      proc = await spawnVaultProcess({ dataDir: temp.dir });
      try {
        let after = '';
        let rows = 0;
        for (;;) {
          const page = (await (
            await vaultFetch(proc, `/api/v1/assets?limit=1000${after ? `&after=${after}` : ''}`)
          ).json()) as { assets: { sha256: string; size: number }[]; next: string | null };
          for (const a of page.assets) {
            const bytes = await storedContent(temp.dir, a.sha256);
            assert.ok(bytes, `blob ${a.sha256} is there`);
            assert.equal(bytes.length, a.size, `blob ${a.sha256} is whole`);
            assert.equal(createHash('sha256').update(bytes).digest('hex'), a.sha256);
            rows += 1;
          }
          if (page.next === null) break;
          after = page.next;
        }
        // Batches commit whole: the rows are a whole number of batches.
        assert.equal(rows % base.length, 0, `rows ${rows} are whole batches`);
        assert.deepEqual(await leftoverTemps(temp.dir), [], 'the start-up sweep removed temps');
        for (const e of await readdir(join(temp.dir, 'blobs'), {
          recursive: true,
          withFileTypes: true,
        })) {
          if (!e.isFile()) continue;
          const path = join(e.parentPath, e.name);
          if (e.name.endsWith(COMPRESSED_SUFFIX)) {
            // stored compressed in the background: its original bytes hash to its name
            const sha = e.name.slice(0, -COMPRESSED_SUFFIX.length);
            assert.equal(sha256Hex((await storedContent(temp.dir, sha))!), sha);
            continue;
          }
          const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return null; // compressed since the listing (or now)
            throw err;
          });
          if (bytes === null) {
            assert.equal(sha256Hex((await storedContent(temp.dir, e.name))!), e.name);
            continue;
          }
          assert.equal(sha256Hex(bytes), e.name, 'no half-written blob');
          assert.ok((await stat(path)).size >= 0);
        }
        // and the vault takes the same batches afterwards
        for (const b of batches) {
          const { status, json } = await postBatch(proc, b);
          assert.equal(status, 200);
          assert.ok((json as Results).results.every((r) => r.status !== 'refused'));
        }
      } finally {
        await proc.stop();
      }
    } finally {
      await temp.cleanup();
    }
  });
});
