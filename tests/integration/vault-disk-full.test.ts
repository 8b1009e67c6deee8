// The vault on a full disk (issue 9, item 9): a real size-limited tmpfs holds its data
// directory. Uploads that cannot fit are refused with 507 `insufficient_storage` and the
// free bytes, before a byte is stored; a disk that fills during an upload (ENOSPC) answers
// 507 too and keeps what it stored; nothing stored is damaged; and once space is freed the
// same uploads succeed. See [Note: Disk full] in server/disk-space.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '../support/cli.js';
import { fillDisk, mountSmallDisk } from '../support/small-disk.js';
import {
  type BatchFile,
  postBatch,
  sha256Hex,
  startTestVault,
  tusCreate,
  tusHead,
  tusPatch,
  TUS,
  uploadBuffer,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';

const MiB = 1024 * 1024;

interface DiskFullBody {
  error: string;
  message: string;
  freeBytes: number;
  neededBytes: number | null;
}

async function assertStoredContentIsWhole(vault: TestVault, uploads: Map<string, Buffer>) {
  for (const [sha256, data] of uploads) {
    const res = await vaultFetch(vault, `/api/v1/assets/${sha256}/content`);
    assert.equal(res.status, 200, `content of ${sha256}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, data.length);
    assert.equal(sha256Hex(body), sha256);
  }
}

describe('vault: a full disk answers 507 with the free bytes, and recovers when space is freed', () => {
  // Each test gets its own small disk and vault; `after` unmounts whatever is left.
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  async function smallDiskVault(): Promise<{ dir: string; vault: TestVault } | { skip: string }> {
    const disk = await mountSmallDisk();
    if ('skip' in disk) return disk;
    cleanups.push(disk.unmount);
    const vault = await startTestVault({ dataDir: join(disk.dir, 'vault') });
    cleanups.push(() => vault.close());
    return { dir: disk.dir, vault };
  }

  it('uploads that cannot fit are refused with 507 insufficient_storage before a byte is stored', async (t) => {
    const disk = await smallDiskVault();
    if ('skip' in disk) return t.skip(disk.skip);
    const v = disk.vault;
    const filler = join(disk.dir, 'filler.bin');
    await writeFile(filler, Buffer.alloc(6 * MiB, 1));
    const stored = new Map<string, Buffer>();
    let refused: { status: number; body: DiskFullBody; size: number } | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      const data = randomBytes(3 * MiB);
      const up = await uploadBuffer(v, data, { filename: `photo-${i}.jpg` });
      if (up.res.status === 201) stored.set(up.sha256, data);
      else
        refused = {
          status: up.res.status,
          body: JSON.parse(up.text) as DiskFullBody,
          size: 3 * MiB,
        };
    }
    assert.ok(refused, 'the disk filled up');
    assert.ok(stored.size >= 2, `some uploads fitted first (${stored.size})`);
    assert.equal(refused.status, 507);
    assert.equal(refused.body.error, 'insufficient_storage');
    assert.match(refused.body.message, /disk is full/);
    assert.equal(typeof refused.body.freeBytes, 'number');
    assert.ok(refused.body.freeBytes < refused.size, `freeBytes ${refused.body.freeBytes}`);
    assert.equal(refused.body.neededBytes, refused.size);
    // nothing of the refused upload was kept: no partial, no reservation
    assert.deepEqual(await readdir(join(v.dataDir, 'uploads')), []);
    const usage = (await (await vaultFetch(v, '/api/v1/usage')).json()) as { assets: number };
    assert.equal(usage.assets, stored.size);
    await assertStoredContentIsWhole(v, stored);

    // A smaller photo that fits in what is left is still taken.
    if (refused.body.freeBytes > 64 * 1024) {
      const small = randomBytes(32 * 1024);
      const up = await uploadBuffer(v, small, { filename: 'small.jpg' });
      assert.equal(up.res.status, 201, up.text);
      stored.set(up.sha256, small);
    }

    // Space freed: the same kind of upload succeeds again.
    await rm(filler);
    const again = randomBytes(3 * MiB);
    const up = await uploadBuffer(v, again, { filename: 'after-freeing.jpg' });
    assert.equal(up.res.status, 201, up.text);
    stored.set(up.sha256, again);
    await assertStoredContentIsWhole(v, stored);
  });

  it('a batch of small files that cannot fit is refused whole with 507 and the free bytes, and is stored once space is freed', async (t) => {
    const disk = await smallDiskVault();
    if ('skip' in disk) return t.skip(disk.skip);
    const v = disk.vault;
    // Leave less room than the batch needs (the disk is 20 MiB; the vault keeps a margin).
    const filler = join(disk.dir, 'filler-batch.bin');
    await writeFile(filler, Buffer.alloc(14 * MiB, 1));
    const files: BatchFile[] = Array.from({ length: 8 }, (_, i) => ({
      data: randomBytes(768 * 1024),
      filename: `burst-${i}.jpg`,
    }));
    const full = await postBatch(v, files);
    assert.equal(full.status, 507, JSON.stringify(full.json));
    const body = full.json as DiskFullBody;
    assert.equal(body.error, 'insufficient_storage');
    assert.equal(typeof body.freeBytes, 'number', 'the refusal says how much room is left');
    const usage = (await (await vaultFetch(v, '/api/v1/usage')).json()) as { assets: number };
    assert.equal(usage.assets, 0, 'nothing of the refused batch became visible');
    assert.deepEqual(
      (await readdir(join(v.dataDir, 'uploads'))).filter((n) => n.startsWith('batch-')),
      [],
      'no temp file of the batch is left behind',
    );

    await rm(filler);
    const again = await postBatch(v, files);
    assert.equal(again.status, 200, JSON.stringify(again.json));
    const results = (again.json as { results: { status: string }[] }).results;
    assert.deepEqual(
      results.map((r) => r.status),
      files.map(() => 'stored'),
    );
  });

  it('a disk that fills during an upload answers 507, keeps what it stored, and the upload resumes once space is freed', async (t) => {
    const disk = await smallDiskVault();
    if ('skip' in disk) return t.skip(disk.skip);
    const v = disk.vault;
    const data = randomBytes(4 * MiB);
    const sha256 = sha256Hex(data);
    const created = await tusCreate(v, {
      size: data.length,
      metadata: { filename: 'filled-mid-way.jpg', sha256 },
    });
    assert.equal(created.res.status, 201, created.text);
    const location = created.location!;
    const id = location.split('/').at(-1)!;
    const partial = join(v.dataDir, 'uploads', id);
    const filler = join(disk.dir, 'filler-mid-way.bin');

    // One PATCH: the first MiB arrives, then something else fills the disk, then the rest.
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(new URL(location, v.url), {
        method: 'PATCH',
        headers: {
          Authorization: `Bearer ${v.token}`,
          ...TUS,
          'Upload-Offset': '0',
          'Content-Type': 'application/offset+octet-stream',
          'Content-Length': String(data.length),
        },
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => (body += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', () => {}); // the vault may close the socket after answering
      req.write(data.subarray(0, MiB));
      waitFor(async () => (await stat(partial)).size >= MiB, { what: 'the first MiB on disk' })
        .then(() => fillDisk(filler))
        .then(() => req.end(data.subarray(MiB)))
        .catch(reject);
    });
    assert.equal(answer.status, 507, answer.body);
    const body = JSON.parse(answer.body) as DiskFullBody;
    assert.equal(body.error, 'insufficient_storage');
    assert.equal(typeof body.freeBytes, 'number');

    // What was stored is kept, and HEAD says exactly how much.
    const head = await tusHead(v, location);
    assert.equal(head.status, 200);
    const kept = (await stat(partial)).size;
    assert.equal(head.offset, kept);
    assert.ok(kept >= MiB && kept < data.length, `kept ${kept}`);

    await rm(filler);
    const rest = await tusPatch(v, location, kept, data.subarray(kept));
    assert.equal(rest.res.status, 204, rest.text);
    await assertStoredContentIsWhole(v, new Map([[sha256, data]]));
  });
});
