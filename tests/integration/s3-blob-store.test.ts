// The S3 blob store on its own (server/blobs/s3-blob-store.ts) against s3rver on loopback:
// reads at any position give the original bytes (sequential ones and jumps back and forth, as
// a Range request or a motion photo's video does), a replaced object has another version, the
// files it takes are gone afterwards, and a known-bad content is replaced and reported.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BlobContent } from '../../server/blobs/port.js';
import { S3BlobStore } from '../../server/blobs/s3-blob-store.js';
import { parseS3Location } from '../../server/blobs/s3-location.js';
import { S3Objects } from '../../server/blobs/s3-objects.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';
import { corpusFile, makeTempDir } from '../support/paths.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAt(content: BlobContent, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await content.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

describe('S3 blob store', () => {
  let setup: BlobBackendSetup;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let store: S3BlobStore;
  const bad = new Set<string>();
  const repaired: string[] = [];

  before(async () => {
    setup = (await blobBackends()
      .find((b) => b.name === 's3')!
      .setUp())!;
    temp = await makeTempDir('keepsake-s3-store-');
    store = new S3BlobStore(new S3Objects(parseS3Location(setup.vaultOptions.blobs!)), {
      knownBad: (h) => Promise.resolve(bad.has(h) ? 'damaged' : undefined),
      repaired: (h) => {
        bad.delete(h);
        repaired.push(h);
      },
    });
    await store.init();
  });
  after(async () => {
    store?.close();
    await setup?.close();
    await temp?.cleanup();
  });

  /** A copy of `bytes` in the temp dir, as the upload path hands the store a verified file. */
  async function verifiedFile(bytes: Buffer): Promise<string> {
    const path = join(temp.dir, `verified-${randomBytes(6).toString('hex')}`);
    await writeFile(path, bytes);
    return path;
  }

  it('gives back the original bytes at any position, in order and jumping around', async () => {
    const bytes = await readFile(corpusFile('metadata-extractor-images/mov/with-gps.mov'));
    const hash = sha256(bytes);
    const path = await verifiedFile(bytes);
    assert.equal(await store.adopt(path, hash), true);
    assert.equal(existsSync(path), false, 'the verified file is taken');
    const content = (await store.openContent(hash))!;
    try {
      assert.equal(content.size, bytes.length);
      assert.equal(content.encoding, 'plain');
      // in order, in chunks of odd sizes
      const whole: Buffer[] = [];
      for (let pos = 0; pos < bytes.length; pos += 65_537) {
        whole.push(await readAt(content, pos, Math.min(65_537, bytes.length - pos)));
      }
      assert.ok(Buffer.concat(whole).equals(bytes));
      // jumps: the end, the start, the middle, back again
      for (const [pos, len] of [
        [bytes.length - 100, 100],
        [0, 10],
        [bytes.length >> 1, 5000],
        [17, 1],
        [bytes.length - 1, 1],
      ] as const) {
        assert.ok((await readAt(content, pos, len)).equals(bytes.subarray(pos, pos + len)));
      }
      assert.equal((await content.read(Buffer.alloc(10), 0, 10, bytes.length)).bytesRead, 0);
    } finally {
      await content.close();
    }
  });

  it('content it already holds is kept as it is: the second file is dropped, no second object', async () => {
    const bytes = randomBytes(10_000);
    const hash = sha256(bytes);
    assert.equal(await store.adopt(await verifiedFile(bytes), hash), true);
    const version = await store.currentVersion(hash);
    const second = await verifiedFile(bytes);
    assert.equal(await store.adopt(second, hash), false);
    assert.equal(existsSync(second), false);
    assert.equal(await store.currentVersion(hash), version);
    const lister = new S3Objects(parseS3Location(setup.vaultOptions.blobs!));
    let objects = 0;
    for await (const o of lister.list('blobs/')) if (o.name.endsWith(hash)) objects++;
    lister.close();
    assert.equal(objects, 1);
  });

  it('a content known bad is put again over the object, and the repair is reported', async () => {
    const bytes = randomBytes(20_000);
    const hash = sha256(bytes);
    await store.adopt(await verifiedFile(bytes), hash);
    const opened = (await store.openContent(hash))!;
    await opened.close();
    await setup.damage(temp.dir, hash, 5);
    assert.notEqual(await store.currentVersion(hash), opened.version, 'a replacement is seen');
    bad.add(hash);
    assert.equal(await store.wantsBytes(hash, true), true);
    assert.equal(await store.adopt(await verifiedFile(bytes), hash), true);
    assert.deepEqual(repaired, [hash]);
    assert.deepEqual(await setup.stored(temp.dir, hash), bytes);
    assert.equal(await store.wantsBytes(hash, true), false);
  });

  it('places a batch of files and takes them all; a tool gets a plain copy that goes after', async () => {
    const batch = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i));
    const files = await Promise.all(
      batch.map(async (b) => ({ path: await verifiedFile(b), sha256: sha256(b) })),
    );
    await store.placeSynced(files);
    for (const [i, f] of files.entries()) {
      assert.equal(existsSync(f.path), false);
      assert.equal(await store.has(f.sha256), true);
      assert.deepEqual(await setup.stored(temp.dir, f.sha256), batch[i]);
    }
    const tools = join(temp.dir, 'tools');
    await mkdir(tools);
    const seen = await store.withPlainFile(files[3]!.sha256, tools, (p) => readFile(p));
    assert.deepEqual(seen?.value, batch[3]);
    assert.deepEqual(await readdir(tools), [], 'the plain copy is removed after');
    assert.equal(await store.withPlainFile(sha256(Buffer.from('never')), tools, readFile), null);

    await store.remove(files[0]!.sha256);
    assert.equal(await store.has(files[0]!.sha256), false);
    assert.equal(await store.openContent(files[0]!.sha256), null);
    await store.remove(files[0]!.sha256); // absent is fine
  });
});
