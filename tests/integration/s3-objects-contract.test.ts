// The contract every S3 call of the vault relies on (server/blobs/s3-objects.ts), run against a
// real S3-compatible server: s3rver on loopback by default, or the operator's own bucket
// (AWS S3, MinIO, Ceph RGW, B2, R2) when KEEPSAKE_S3_CONTRACT_URL names one:
//
//   KEEPSAKE_S3_CONTRACT_URL='s3://my-bucket/keepsake-contract?endpoint=https://minio:9000' \
//   AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… npm test -- s3-objects-contract
//
// Each run writes under a fresh prefix below the given one and removes what it wrote.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parseS3Location, type S3Location } from '../../server/blobs/s3-location.js';
import { S3CallError, S3Objects } from '../../server/blobs/s3-objects.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestS3Server, type TestS3Server } from '../support/s3-server.js';

const operatorUrl = process.env['KEEPSAKE_S3_CONTRACT_URL'];

async function bytesOf(stream: Readable | null): Promise<Buffer> {
  assert.ok(stream, 'expected an object, got none');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('S3 objects: the calls the vault makes, against a real S3-compatible server', () => {
  let server: TestS3Server | undefined;
  let location: S3Location;
  let objects: S3Objects;
  let temp: { dir: string; cleanup: () => Promise<void> };
  const run = `run-${Date.now()}-${randomBytes(3).toString('hex')}`;

  before(async () => {
    temp = await makeTempDir('keepsake-s3-contract-');
    if (operatorUrl === undefined) {
      server = await startTestS3Server();
      Object.assign(process.env, server.env);
      location = parseS3Location(server.locationOf(`contract/${run}`));
    } else {
      const base = parseS3Location(operatorUrl);
      location = { ...base, prefix: `${base.prefix}${run}/` };
    }
    // Parts of 5 MiB (S3's minimum) for anything over 6 MiB, so the multipart path runs
    // on a small file.
    objects = new S3Objects(location, { multipartAbove: 6 * 1024 ** 2, partSize: 5 * 1024 ** 2 });
  });
  after(async () => {
    if (objects !== undefined) {
      for await (const object of objects.list()) await objects.delete(object.name);
      objects.close();
    }
    await server?.close();
    await temp?.cleanup();
  });

  it('stores a real photo and gives back exactly its bytes, whole and by range', async () => {
    const path = corpusFile('osxphotos/wedding.jpg');
    const bytes = await readFile(path);
    await objects.putFile('blobs/photo', path, sha256(bytes));

    assert.equal((await objects.head('blobs/photo'))?.size, bytes.length);
    assert.ok((await bytesOf(await objects.read('blobs/photo'))).equals(bytes));
    const middle = await bytesOf(await objects.read('blobs/photo', { start: 100, end: 4195 }));
    assert.ok(middle.equals(bytes.subarray(100, 4196)), 'a range across the middle');
    const last = await bytesOf(
      await objects.read('blobs/photo', { start: bytes.length - 1, end: bytes.length - 1 }),
    );
    assert.ok(last.equals(bytes.subarray(bytes.length - 1)), 'the last byte alone');
  });

  it('stores a file larger than one part in parts, and the object is the whole file', async () => {
    const bytes = randomBytes(13 * 1024 ** 2);
    const path = join(temp.dir, 'large');
    await writeFile(path, bytes);
    await objects.putFile('blobs/large', path, sha256(bytes));
    assert.equal((await objects.head('blobs/large'))?.size, bytes.length);
    const back = await bytesOf(await objects.read('blobs/large'));
    assert.equal(sha256(back), sha256(bytes));
  });

  it('an object overwritten with other bytes has another ETag (how a replacement is noticed)', async () => {
    const path = join(temp.dir, 'replaced');
    await writeFile(path, 'first bytes');
    await objects.putFile('blobs/replaced', path, sha256(Buffer.from('first bytes')));
    const first = await objects.head('blobs/replaced');
    await writeFile(path, 'other bytes');
    await objects.putFile('blobs/replaced', path, sha256(Buffer.from('other bytes')));
    const second = await objects.head('blobs/replaced');
    assert.ok(first !== null && second !== null && first.etag !== '');
    assert.notEqual(second.etag, first.etag);
    await objects.delete('blobs/replaced');
  });

  it('answers "not there" for a key that was never stored, without an error', async () => {
    assert.equal(await objects.head('blobs/never'), null);
    assert.equal(await objects.read('blobs/never'), null);
  });

  it("lists every object under a prefix, past the server's page of 1,000", async () => {
    const path = join(temp.dir, 'tiny');
    const tiny = Buffer.from('x');
    await writeFile(path, tiny);
    const names = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 25) {
      await Promise.all(names.slice(i, i + 25).map((n) => objects.putFile(n, path, sha256(tiny))));
    }
    const listed: string[] = [];
    for await (const object of objects.list('many/')) {
      assert.equal(object.size, 1);
      listed.push(object.name);
    }
    assert.deepEqual(listed.sort(), names);
  });

  it('removes an object, and removing one that is not there is not an error', async () => {
    const path = join(temp.dir, 'gone');
    await writeFile(path, 'soon gone');
    await objects.putFile('blobs/gone', path, sha256(Buffer.from('soon gone')));
    await objects.delete('blobs/gone');
    assert.equal(await objects.head('blobs/gone'), null);
    await objects.delete('blobs/gone');
  });

  it(
    'refuses bytes that do not match the SHA-256 the vault verified',
    {
      skip:
        operatorUrl === undefined
          ? 's3rver ignores x-amz-checksum-sha256; set KEEPSAKE_S3_CONTRACT_URL to check a real server'
          : false,
    },
    async () => {
      const path = join(temp.dir, 'lie');
      await writeFile(path, 'these bytes');
      await assert.rejects(
        objects.putFile('blobs/lie', path, sha256(Buffer.from('other bytes'))),
        S3CallError,
      );
      assert.equal(await objects.head('blobs/lie'), null);
    },
  );

  it('says in words when the bucket does not exist', async () => {
    const missing = new S3Objects({ ...location, bucket: `no-such-${run}` });
    try {
      await assert.rejects(
        missing.head('x').then(() => missing.list().next()),
        (err: unknown) => {
          assert.ok(err instanceof S3CallError);
          assert.match(err.message, /does not exist|NoSuchBucket/);
          return true;
        },
      );
    } finally {
      missing.close();
    }
  });

  it(
    'says in words when the server refuses the credentials',
    { skip: operatorUrl === undefined ? false : "needs the operator's credentials swapped out" },
    async () => {
      // An access key the server does not know (s3rver knows one, and does not check a V4
      // signature's secret).
      const saved = process.env['AWS_ACCESS_KEY_ID'];
      process.env['AWS_ACCESS_KEY_ID'] = 'NOT-A-KEY';
      const refused = new S3Objects(location);
      try {
        await assert.rejects(refused.list().next(), (err: unknown) => {
          assert.ok(err instanceof S3CallError);
          assert.match(err.message, /refused the credentials/);
          return true;
        });
      } finally {
        refused.close();
        process.env['AWS_ACCESS_KEY_ID'] = saved;
      }
    },
  );

  it('names the server when it cannot be reached', async () => {
    const closed = new S3Objects({
      ...location,
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
    });
    try {
      await assert.rejects(closed.head('x'), (err: unknown) => {
        assert.ok(err instanceof S3CallError);
        assert.match(err.message, /127\.0\.0\.1:9/);
        return true;
      });
    } finally {
      closed.close();
    }
  });
});
