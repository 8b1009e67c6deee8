// `keepsake vault sweep` (issue 14): objects no index row names (what a crash between an
// object's put and its row's commit leaves) are listed, kept while younger than the grace
// period and removed after it, adopted only when their bytes verify, never removed while an
// upload of their content is in progress; index rows whose object is gone are reported and
// kept. Against a real PostgreSQL and s3rver, and on a stopped single-machine vault through
// the CLI.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '../../server/blob-store.js';
import { sweepBlobs, type SweepReport } from '../../server/blob-sweep.js';
import { openBlobStore } from '../../server/blobs/open-blob-store.js';
import { parseS3Location } from '../../server/blobs/s3-location.js';
import { S3Objects } from '../../server/blobs/s3-objects.js';
import { VaultIndex } from '../../server/index/vault-index.js';
import { parseJsonOutput, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { startTestS3Server, type TestS3Server } from '../support/s3-server.js';
import {
  sha256Hex,
  startTestVault,
  tusCreate,
  uploadBuffer,
  vaultFetch,
} from '../support/vault.js';

const HOUR = 3600_000;
let postgres: TestPostgres;
let s3: TestS3Server;
let temp: { dir: string; cleanup: () => Promise<void> };

before(async () => {
  temp = await makeTempDir('keepsake-sweep-');
  postgres = await startTestPostgres();
  s3 = await startTestS3Server();
  Object.assign(process.env, s3.env);
});
after(async () => {
  await s3?.close();
  await postgres?.close();
  await temp?.cleanup();
});

async function corpus(path: string): Promise<{ data: Buffer; sha256: string; path: string }> {
  const data = await readFile(corpusFile(path));
  return { data, sha256: sha256Hex(data), path: corpusFile(path) };
}

describe('keepsake vault sweep on PostgreSQL and S3', () => {
  it('lists an object without a row, keeps it within the grace period, removes it after; a row without its object is reported and kept', async () => {
    const index = await postgres.createDatabase();
    const blobs = s3.locationOf('sweep-grace');
    const vault = await startTestVault({ index, blobs, previews: false });
    const indexed = await corpus('exifr-fixtures/cookiezen.jpg');
    const orphan = await corpus('exifr-fixtures/heic-single.heic');
    const busy = await corpus('exifr-fixtures/issue-exifr-4.jpg');
    const lost = Buffer.from('an upload whose object the bucket lost');
    const objects = new S3Objects(parseS3Location(blobs));
    const idx = await VaultIndex.open(index);
    const store = openBlobStore(blobs, vault.dataDir);
    try {
      assert.equal((await uploadBuffer(vault, indexed.data)).res.status, 201);
      const gone = await uploadBuffer(vault, lost);
      assert.equal(gone.res.status, 201);
      // What a crash between put and commit leaves: the object, no row.
      await objects.putFile(`blobs/${orphan.sha256}`, orphan.path, orphan.sha256);
      // An upload of this content is being received: its commit may reuse the object.
      const receiving = await tusCreate(vault, {
        size: busy.data.length,
        metadata: { filename: 'canon.jpg', sha256: busy.sha256 },
      });
      assert.equal(receiving.res.status, 201, receiving.text);
      await objects.putFile(`blobs/${busy.sha256}`, busy.path, busy.sha256);
      await objects.delete(`blobs/${gone.sha256}`);

      const sweep = (mode: 'report' | 'remove', now = Date.now()) =>
        sweepBlobs({ index: idx.blobReferences, blobs: store, mode, now: () => now });

      const report = await sweep('report');
      assert.deepEqual(
        report.orphans.map((o) => [o.sha256, o.outcome]),
        [[orphan.sha256, 'found']],
      );
      assert.deepEqual(report.missing, [{ sha256: gone.sha256, health: null }]);
      assert.equal(report.objects, 3);

      const fresh = await sweep('remove');
      assert.deepEqual(
        fresh.orphans.map((o) => o.outcome),
        ['kept-young'],
      );
      assert.ok(await store.has(orphan.sha256), 'a fresh orphan is kept');

      const later = await sweep('remove', Date.now() + 2 * HOUR);
      assert.deepEqual(
        later.orphans.map((o) => [o.sha256, o.outcome]),
        [[orphan.sha256, 'removed']],
      );
      assert.equal(await store.has(orphan.sha256), false, 'removed after the grace period');
      assert.ok(await store.has(busy.sha256), 'an object an upload is receiving is never removed');
      assert.ok(await store.has(indexed.sha256));
      assert.deepEqual(later.missing, [{ sha256: gone.sha256, health: null }]);
      const row = await vaultFetch(vault, `/api/v1/assets/${gone.sha256}`);
      assert.equal(row.status, 200, 'the row without its object is kept');
    } finally {
      store.close();
      objects.close();
      await idx.close();
      await vault.close();
    }
  });

  it('adopts an orphan whose bytes verify, for the next upload of that content, and removes one that does not', async () => {
    const index = await postgres.createDatabase();
    const blobs = s3.locationOf('sweep-adopt');
    const vault = await startTestVault({ index, blobs, previews: false });
    const good = await corpus('exifr-fixtures/heic-single.heic');
    const bad = await corpus('exifr-fixtures/cookiezen.jpg');
    const objects = new S3Objects(parseS3Location(blobs));
    const idx = await VaultIndex.open(index);
    const store = openBlobStore(blobs, vault.dataDir);
    try {
      await objects.putFile(`blobs/${good.sha256}`, good.path, good.sha256);
      // Other bytes under bad's name (a server that ignores checksums took them).
      const wrong = join(temp.dir, 'wrong.bin');
      await writeFile(wrong, Buffer.from('not the bytes of that photo'));
      await objects.putFile(`blobs/${bad.sha256}`, wrong, sha256Hex('not the bytes of that photo'));

      const dry = await sweepBlobs({
        index: idx.blobReferences,
        blobs: store,
        mode: 'adopt',
        dryRun: true,
      });
      assert.deepEqual(Object.fromEntries(dry.orphans.map((o) => [o.sha256, o.outcome])), {
        [good.sha256]: 'adopted',
        [bad.sha256]: 'would-remove-damaged',
      });
      assert.ok(await store.has(bad.sha256), '--dry-run removes nothing');

      const report = await sweepBlobs({ index: idx.blobReferences, blobs: store, mode: 'adopt' });
      assert.deepEqual(Object.fromEntries(report.orphans.map((o) => [o.sha256, o.outcome])), {
        [good.sha256]: 'adopted',
        [bad.sha256]: 'removed-damaged',
      });
      assert.equal(await store.has(bad.sha256), false);

      // The next uploads of both contents: each is served byte-exact afterwards.
      for (const f of [good, bad]) {
        const up = await uploadBuffer(vault, f.data);
        assert.equal(up.res.status, 201, up.text);
        const res = await vaultFetch(vault, `/api/v1/assets/${f.sha256}/content`);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(f.data));
      }
      const after = await sweepBlobs({ index: idx.blobReferences, blobs: store });
      assert.deepEqual(after.orphans, []);
      assert.deepEqual(after.missing, []);
    } finally {
      store.close();
      objects.close();
      await idx.close();
      await vault.close();
    }
  });
});

describe('keepsake vault sweep on a stopped single-machine vault', () => {
  it('lists a blob file without a row and removes it with --remove --grace 0, through the CLI', async () => {
    const dataDir = join(temp.dir, 'single');
    const vault = await startTestVault({ dataDir });
    const kept = await corpus('exifr-fixtures/cookiezen.jpg');
    const stray = await corpus('exifr-fixtures/heic-single.heic');
    try {
      assert.equal((await uploadBuffer(vault, kept.data)).res.status, 201);
    } finally {
      await vault.close();
    }
    const fs = new FsBlobStore(join(dataDir, 'blobs'));
    const strayCopy = join(temp.dir, 'stray.heic');
    await writeFile(strayCopy, stray.data);
    await fs.adopt(strayCopy, stray.sha256);

    const listed = await runCli(['vault', 'sweep', '--data-dir', dataDir, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const report = parseJsonOutput<SweepReport>(listed);
    assert.deepEqual(
      report.orphans.map((o) => [o.sha256, o.outcome, o.storedBytes]),
      [[stray.sha256, 'found', stray.data.length]],
    );
    assert.equal(report.objects, 2);

    const dry = await runCli([
      'vault',
      'sweep',
      '--data-dir',
      dataDir,
      '--remove',
      '--dry-run',
      '--json',
    ]);
    assert.deepEqual(
      parseJsonOutput<SweepReport>(dry).orphans.map((o) => o.outcome),
      ['kept-young'],
    );
    const removed = await runCli([
      'vault',
      'sweep',
      '--data-dir',
      dataDir,
      '--remove',
      '--grace',
      '0s',
      '--json',
    ]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(
      parseJsonOutput<SweepReport>(removed).orphans.map((o) => o.outcome),
      ['removed'],
    );
    assert.equal(await fs.has(stray.sha256), false);
    assert.ok(await fs.has(kept.sha256));
  });
});
