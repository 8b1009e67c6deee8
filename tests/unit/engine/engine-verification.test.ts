// Bytes corrupted on the way to the vault (a real TCP proxy flipping a bit): the vault refuses
// them (460), the engine re-hashes the file and tries again, and a file is never marked
// backed_up unless the vault verified it; corruption every time ends, after a bounded number
// of tries, in a failed file with a reason a person understands.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { KeepsakeEngine } from '../../../main/engine/api.js';
import { createEngine } from '../../../main/engine/engine.js';
import { silentLogger, systemClock } from '../../../main/engine/ports.js';
import { createTusUploader } from '../../../main/engine/vault/tus-uploader.js';
import { createVaultClient } from '../../../main/engine/vault/vault-client.js';
import type { FileRow } from '../../../common/contract.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { corpusFile, makeTempDir } from '../../support/paths.js';
import { startTestVault, type TestVault } from '../../support/vault.js';

describe('engine: content corrupted in transit', () => {
  let vault: TestVault;
  let proxy: FaultProxy;
  let engine: KeepsakeEngine | null = null;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    vault = await startTestVault();
    proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
  });
  afterEach(async () => {
    await engine?.close();
    engine = null;
    proxy.setFault(null);
  });
  after(async () => {
    await proxy.close();
    await vault.close();
    for (const c of cleanups) await c();
  });

  async function setup(name: string, maxVerifyFailures: number) {
    const src = await makeTempDir('keepsake-verify-src-');
    const data = await makeTempDir('keepsake-verify-data-');
    cleanups.push(src.cleanup, data.cleanup);
    // Unique bytes, so the vault has never seen this content.
    const bytes = Buffer.concat([
      await readFile(corpusFile('exifr-fixtures/cookiezen.jpg')),
      Buffer.from(`${name}-${process.pid}-${Date.now()}`),
    ]);
    const path = join(src.dir, `${name}.jpg`);
    await writeFile(path, bytes);
    engine = await createEngine({
      dataDir: data.dir,
      // Dedup and metadata talk to the vault directly; only the uploads cross the proxy.
      vault: { url: vault.url, token: vault.token },
      uploader: createTusUploader({
        endpoint: proxy.url,
        token: vault.token,
        logger: silentLogger,
        clock: systemClock,
        retryBaseDelayMs: 10,
      }),
      logger: silentLogger,
      metadataReader: null,
      createWatcher: null,
      settleMs: 0,
      maxVerifyFailures,
      backoff: { baseMs: 10, maxMs: 50 },
    });
    return { src: src.dir, path, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  const only = async (e: KeepsakeEngine): Promise<FileRow> => {
    const { files } = await e.api['files.list']({ limit: 10 });
    assert.equal(files.length, 1);
    return files[0]!;
  };

  it('a file corrupted once on the way is re-hashed, sent again and verified', async () => {
    const { src, sha256 } = await setup('once', 3);
    const e = engine!;
    const states: string[] = [];
    e.on('file.changed', (f) => states.push(f.state));
    // Byte 3000 of the upload: inside the file's bytes, past the request headers.
    proxy.setFault({ kind: 'corrupt', atByte: 3000, once: true });
    await e.api['folders.add']({ path: src });
    await e.start();
    await e.whenSettled(AbortSignal.timeout(60_000));
    const row = await only(e);
    assert.equal(proxy.firedCount, 1, 'the proxy really corrupted the upload');
    assert.equal(row.state, 'backed_up');
    assert.equal(row.sha256, sha256);
    assert.ok(
      states.indexOf('backed_up') > states.lastIndexOf('hashing'),
      `re-hashed before the successful upload: ${states.join(' ')}`,
    );
    assert.ok(states.filter((s) => s === 'hashing').length >= 2, states.join(' '));
    const present = await createVaultClient({ endpoint: vault.url, token: vault.token }).check([
      sha256,
    ]);
    assert.ok(present.has(sha256), 'the vault holds the right bytes');
  });

  it('corruption on every try ends in failed "corrupted in transit", never backed_up', async () => {
    const { src, sha256 } = await setup('always', 2);
    const e = engine!;
    const states: string[] = [];
    e.on('file.changed', (f) => {
      states.push(f.state);
      // Arm the fault again for every new attempt.
      if (f.state === 'queued') proxy.setFault({ kind: 'corrupt', atByte: 3000 });
    });
    proxy.setFault({ kind: 'corrupt', atByte: 3000 });
    await e.api['folders.add']({ path: src });
    await e.start();
    await e.whenSettled(AbortSignal.timeout(60_000));
    const row = await only(e);
    assert.equal(row.state, 'failed', states.join(' '));
    assert.equal(row.error?.code, 'verification_failed');
    assert.match(row.error?.message ?? '', /corrupted in transit/);
    assert.equal(row.error?.retryable, true);
    assert.ok(!states.includes('backed_up'), states.join(' '));
    const present = await createVaultClient({ endpoint: vault.url, token: vault.token }).check([
      sha256,
    ]);
    assert.equal(present.size, 0, 'the vault never accepted corrupted bytes');
  });
});
