// A vault set in Settings outlives the run that set it: the next start of the host (what the
// desktop and `keepsake daemon` start) backs up to it, not to the embedded vault. Real engine,
// real vaults on loopback, the same data directory across the restart; the desktop case with a
// stand-in for Electron's safeStorage (which needs a running Electron).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, type SecretStore } from '../../main/engine/ports.js';
import { createSecretStore, type SafeStoragePort } from '../../main/engine/secret-store.js';
import { openHost, type Host } from '../../main/host/host.js';
import { makeTempDir } from '../support/paths.js';
import { writeTreeFile } from '../support/tree.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';

/** A keyring stand-in: reversible, and visibly not the plaintext. */
const fakeSafeStorage: SafeStoragePort = {
  isEncryptionAvailable: () => true,
  encryptString: (plain) => Buffer.from(Buffer.from(plain, 'utf8').map((b) => b ^ 0x5a)),
  decryptString: (enc) => Buffer.from(enc.map((b) => b ^ 0x5a)).toString('utf8'),
};

describe('host: the vault set in Settings after a restart', () => {
  let remote: TestVault;
  before(async () => {
    remote = await startTestVault();
  });
  after(async () => {
    await remote.close();
  });

  const open = (dataDir: string, secrets?: SecretStore): Promise<Host> =>
    openHost({
      dataDir,
      logger: silentLogger,
      ...(secrets ? { secrets } : {}),
      engine: { metadataReader: null, createWatcher: null, settleMs: 0, reconcileIntervalMs: 0 },
    });

  /** First start (embedded vault): the person sets the remote vault in Settings. */
  async function configure(dataDir: string, secrets?: SecretStore): Promise<void> {
    const first = await open(dataDir, secrets);
    try {
      assert.equal(first.embedded, true, 'nothing set yet: the embedded vault');
      await first.engine.api['settings.set']({ key: 'vaultUrl', value: remote.url });
      await first.engine.api['settings.set']({ key: 'vaultToken', value: remote.token });
    } finally {
      await first.close();
    }
  }

  /** Second start: the host backs a new file up; it must land on the remote vault. */
  async function backUpAfterRestart(dataDir: string, secrets?: SecretStore): Promise<void> {
    const src = join(dataDir, '..', `${Date.now()}-photos`);
    const photo = await writeTreeFile(src, 'a.jpg', Buffer.from(`photo for ${dataDir}`));
    const second = await open(dataDir, secrets);
    try {
      assert.equal(second.embedded, false, 'the vault set in Settings, not the embedded one');
      assert.equal(second.vaultUrl, remote.url);
      const settings = await second.engine.api['settings.get']({});
      assert.equal(settings.vaultTokenSet.value, true);
      await second.engine.api['folders.add']({ path: src });
      await second.engine.start();
      await second.engine.whenSettled(AbortSignal.timeout(60_000));
      const { files } = await second.engine.api['files.list']({});
      assert.deepEqual(
        files.map((f) => f.state),
        ['backed_up'],
      );
      const res = await vaultFetch(remote, `/api/v1/assets/${photo.sha256}`);
      assert.equal(res.status, 200, 'the remote vault holds the photo');
      await res.body?.cancel();
    } finally {
      await second.close();
    }
  }

  it('a remote vault set in Settings is used after a restart (CLI and daemon: a 0600 file)', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const dataDir = join(dir, 'data');
      await configure(dataDir);
      await backUpAfterRestart(dataDir);
    } finally {
      await cleanup();
    }
  });

  it('the desktop token, encrypted by the keyring, is read back after a restart', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const dataDir = join(dir, 'data');
      const keyring = () =>
        createSecretStore(dataDir, { safeStorage: fakeSafeStorage, platform: 'darwin' });
      await configure(dataDir, keyring());
      // Only ciphertext on disk: no file in the data directory holds the token in clear.
      for (const name of await readdir(dataDir)) {
        if (!name.startsWith('vault-token')) continue;
        const bytes = await readFile(join(dataDir, name));
        assert.ok(
          !bytes.toString('utf8').includes(remote.token),
          `${name} holds the token in clear`,
        );
      }
      await backUpAfterRestart(dataDir, keyring());
      const settings = await (async () => {
        const h = await open(dataDir, keyring());
        try {
          return await h.engine.api['settings.get']({});
        } finally {
          await h.close();
        }
      })();
      assert.equal(settings.tokenStorage.value, 'safe_storage');
    } finally {
      await cleanup();
    }
  });
});
