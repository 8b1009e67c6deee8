// What is particular to a vault that stores its blobs in an S3 bucket (issue 14, "Verified
// before visible, on S3 too"), against a real S3-compatible server on loopback (s3rver): a
// bucket it cannot reach stops it at start with the bucket named, credentials are never taken
// from the address, bytes that fail verification never reach the bucket, content already there
// is not put again, and compression is off with a reason. (Uploads, Ranges, batches, scrub and
// restore on S3 run in the tests parameterised over both stores: blobBackends().)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { VaultStartError } from '../../server/start-error.js';
import type { VaultLogger } from '../../server/logger.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';
import { makeTempDir } from '../support/paths.js';
import { join } from 'node:path';
import {
  sha256Hex,
  spawnVaultProcess,
  startTestVault,
  tusCreate,
  uploadBuffer,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';

const s3 = blobBackends().find((b) => b.name === 's3')!;

describe('vault on S3: verified before visible', () => {
  let blobs: BlobBackendSetup;
  let vault: TestVault;
  const said: string[] = [];
  const logger: VaultLogger = {
    debug: () => undefined,
    info: (msg) => void said.push(msg),
    warn: (msg) => void said.push(msg),
    error: (msg) => void said.push(msg),
  };

  before(async () => {
    blobs = await s3.setUp();
    vault = await startTestVault({ ...blobs.vaultOptions, compression: true, logger });
  });
  after(async () => {
    await vault.close();
    await blobs.close();
  });

  it('says at start that compression is off for content in a bucket', () => {
    assert.ok(
      said.some((m) => /compression is off/.test(m)),
      `logged: ${said.join(' | ')}`,
    );
  });

  it('an upload whose bytes do not hash to the declared SHA-256 puts nothing in the bucket', async () => {
    const data = randomBytes(300_000);
    const claimed = sha256Hex(randomBytes(16));
    const up = await tusCreate(vault, {
      size: data.length,
      metadata: { filename: 'liar.bin', sha256: claimed },
      body: data,
    });
    assert.equal(up.res.status, 460, up.text);
    assert.equal(await blobs.stored(vault.dataDir, claimed), null);
    assert.equal(await blobs.stored(vault.dataDir, sha256Hex(data)), null);
    assert.equal(await blobs.count(vault.dataDir), 0);
  });

  it('content already in the bucket is not put again: the object there is kept', async () => {
    const data = randomBytes(200_000);
    const first = await uploadBuffer(vault, data);
    assert.equal(first.res.status, 201, first.text);
    assert.deepEqual(await blobs.stored(vault.dataDir, first.sha256), data);
    // Behind the vault's back (no check has found it yet): a second upload of the same content
    // asks the bucket first, finds the object, and leaves it alone, as the filesystem store
    // keeps a blob it finds. Scrub is what finds such damage (vault-heal-scrub).
    await blobs.damage(vault.dataDir, first.sha256, 10);
    const marked = await blobs.stored(vault.dataDir, first.sha256);
    const again = await uploadBuffer(vault, data, { filename: 'again.bin' });
    assert.equal(again.res.status, 201, again.text);
    assert.deepEqual(await blobs.stored(vault.dataDir, first.sha256), marked);
    assert.equal(await blobs.count(vault.dataDir), 1);
  });

  it('a read of an object that no longer matches its hash is refused and recorded as damaged', async () => {
    const data = randomBytes(100_000);
    const up = await uploadBuffer(vault, data);
    assert.equal(up.res.status, 201, up.text);
    await blobs.damage(vault.dataDir, up.sha256, 50_000);
    // the whole-content read hashes as it sends: the damage cuts the response short
    const ending = await vaultFetch(vault, `/api/v1/assets/${up.sha256}/content`)
      .then((res) => res.arrayBuffer())
      .then(
        () => 'ended',
        () => 'cut',
      );
    assert.equal(ending, 'cut', 'a damaged whole read never ends cleanly');
    const again = await vaultFetch(vault, `/api/v1/assets/${up.sha256}/content`);
    assert.equal(again.status, 404);
    assert.equal(((await again.json()) as { error: string }).error, 'content_damaged');
  });
});

describe('vault on S3: start', () => {
  let blobs: BlobBackendSetup;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    blobs = await s3.setUp();
    temp = await makeTempDir('keepsake-vault-s3-start-');
  });
  after(async () => {
    await blobs.close();
    await temp.cleanup();
  });

  it('a bucket that does not exist stops the vault at start, naming the bucket and why', async () => {
    const address = blobs.vaultOptions.blobs!.replace(
      's3://keepsake-test/',
      's3://no-such-bucket/',
    );
    await assert.rejects(startTestVault({ dataDir: temp.dir, blobs: address }), (err: unknown) => {
      assert.ok(err instanceof VaultStartError);
      assert.equal(err.code, 'blobs_unreachable');
      assert.match(err.message, /cannot reach the blob bucket s3:\/\/no-such-bucket\//);
      assert.match(err.message, /does not exist/);
      return true;
    });
  });

  it('credentials in the address are refused: they belong in the AWS environment', async () => {
    const address = blobs.vaultOptions.blobs!.replace('s3://', 's3://AKIDEXAMPLE:hunter2@');
    await assert.rejects(startTestVault({ dataDir: temp.dir, blobs: address }), (err: unknown) => {
      assert.ok(err instanceof VaultStartError);
      assert.equal(err.code, 'invalid_option');
      assert.match(err.message, /AWS_ACCESS_KEY_ID/);
      assert.doesNotMatch(err.message, /hunter2|AKIDEXAMPLE/);
      return true;
    });
  });

  it('`keepsake vault --blobs s3://…` stores uploads in the bucket; an unreachable one exits 1 saying so', async () => {
    const address = blobs.vaultOptions.blobs!;
    const proc = await spawnVaultProcess({
      dataDir: join(temp.dir, 'cli'),
      extraArgs: ['--blobs', address],
    });
    try {
      const data = randomBytes(50_000);
      const up = await uploadBuffer({ url: proc.url, token: proc.token }, data);
      assert.equal(up.res.status, 201, up.text);
      assert.deepEqual(await blobs.stored(temp.dir, up.sha256), data);
    } finally {
      assert.equal(await proc.stop(), 0);
    }
    const missing = address.replace('s3://keepsake-test/', 's3://no-such-bucket/');
    await assert.rejects(
      spawnVaultProcess({ dataDir: join(temp.dir, 'cli'), extraArgs: ['--blobs', missing] }),
      /exited with 1 before listening[^]*keepsake vault: cannot reach the blob bucket s3:\/\/no-such-bucket/,
    );
  });
});
