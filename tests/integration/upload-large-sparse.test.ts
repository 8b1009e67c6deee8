// A file of 4 GiB + 1 byte (sparse on disk, so the test needs no 4 GiB of source data):
// offsets past 2^32 stay exact end to end and the vault verifies the whole file.
import assert from 'node:assert/strict';
import { open, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { createTusUploader } from '../../main/engine/vault/tus-uploader.js';
import { makeTempDir } from '../support/paths.js';
import { jobFor, recordingCallbacks } from '../support/upload-fixtures.js';
import { type TestVault, startTestVault } from '../support/vault.js';

const SIZE = 2 ** 32 + 1;
const NEEDED = SIZE + 1024 ** 3; // the vault stores the bytes for real, plus headroom

describe('a file larger than 4 GiB', () => {
  let vault: TestVault | undefined;
  let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
  let skipReason: string | null = null;
  before(async () => {
    const fs = await statfs(tmpdir());
    const free = fs.bavail * fs.bsize;
    if (free < NEEDED) {
      skipReason = `needs ${(NEEDED / 1024 ** 3).toFixed(1)} GiB free under ${tmpdir()}, has ${(free / 1024 ** 3).toFixed(1)} GiB`;
      return;
    }
    tmp = await makeTempDir('keepsake-upload-4g-');
    vault = await startTestVault();
  });
  after(async () => {
    if (vault) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([vault.close(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
    await tmp?.cleanup();
  });

  it('4 GiB + 1 byte: offsets past 2^32 are exact and the vault verifies the file', async (t) => {
    if (skipReason !== null || !vault || !tmp) {
      t.skip(`skipped: not enough disk space (${skipReason})`);
      return;
    }
    const path = join(tmp.dir, 'huge.mov');
    const fh = await open(path, 'w');
    try {
      await fh.write(Buffer.from('START'), 0, 5, 0);
      await fh.write(Buffer.from('edg'), 0, 3, 2 ** 32 - 3); // the last bytes below 2^32
      await fh.write(Buffer.from('X'), 0, 1, SIZE - 1);
    } finally {
      await fh.close();
    }
    const job = await jobFor(path, { mime: 'video/quicktime' });
    assert.equal(job.size, SIZE);
    const uploader = createTusUploader({
      endpoint: vault.url,
      token: vault.token,
      chunkSizeBytes: 64 * 1024 * 1024,
      logger: silentLogger,
      clock: systemClock,
      idleTimeoutMs: 120_000,
    });
    try {
      const rec = recordingCallbacks();
      const started = performance.now();
      const result = await uploader.upload(job, rec, new AbortController().signal);
      t.diagnostic(
        `4 GiB + 1 uploaded and verified in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      assert.equal(result.sha256, job.sha256);
      assert.equal(rec.offsets.at(-1), SIZE);
      assert.ok(rec.offsets.some((o) => o > 2 ** 32 && o < SIZE) || rec.offsets.at(-2) === 2 ** 32);
      for (let i = 1; i < rec.offsets.length; i++) {
        assert.ok((rec.offsets[i] ?? 0) > (rec.offsets[i - 1] ?? 0), 'offsets only grow');
      }
      const auth = { authorization: `Bearer ${vault.token}` };
      const asset = (await (
        await fetch(`${vault.url}/api/v1/assets/${job.sha256}`, { headers: auth })
      ).json()) as { size?: number; sha256?: string };
      assert.equal(asset.size, SIZE);
      assert.equal(asset.sha256, job.sha256);
      const tail = await fetch(`${vault.url}/api/v1/assets/${job.sha256}/content`, {
        headers: { ...auth, range: `bytes=${2 ** 32 - 3}-${SIZE - 1}` },
      });
      assert.equal(tail.status, 206);
      const bytes = Buffer.from(await tail.arrayBuffer());
      assert.equal(bytes.toString(), 'edgX');
    } finally {
      await uploader.close();
    }
  });
});
