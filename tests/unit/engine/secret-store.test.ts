// Where the vault token set in Settings is kept: encrypted by the OS keyring when the desktop
// has one, else (the CLI and daemon, or Linux's 'basic_text') in a file only its owner can
// read; Settings says which.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  createSecretStore,
  secretStorageKind,
  type SafeStoragePort,
} from '../../../main/engine/secret-store.js';
import { makeTempDir } from '../../support/paths.js';

/** Stands in for Electron's safeStorage, which needs a running Electron: a reversible
 * transformation that is visibly not the plaintext. */
function keyring(backend: string, available = true): SafeStoragePort {
  return {
    isEncryptionAvailable: () => available,
    encryptString: (plain) => Buffer.from(Buffer.from(plain, 'utf8').map((b) => b ^ 0x5a)),
    decryptString: (enc) => Buffer.from(enc.map((b) => b ^ 0x5a)).toString('utf8'),
    getSelectedStorageBackend: () => backend,
  };
}

describe('vault token storage', () => {
  it('uses the keyring where one exists', () => {
    assert.equal(secretStorageKind(keyring('gnome_libsecret'), 'linux'), 'safe_storage');
    assert.equal(secretStorageKind(keyring('unknown'), 'darwin'), 'safe_storage');
    assert.equal(secretStorageKind(keyring('unknown'), 'win32'), 'safe_storage');
  });

  it("treats Linux's basic_text fallback, and no keyring at all, as a plain file", () => {
    assert.equal(secretStorageKind(keyring('basic_text'), 'linux'), 'file');
    assert.equal(secretStorageKind(keyring('gnome_libsecret', false), 'linux'), 'file');
    assert.equal(secretStorageKind(null, 'darwin'), 'file');
  });

  it('keeps the token encrypted on disk with a keyring, and reads it back', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const store = createSecretStore(dir, { safeStorage: keyring('kwallet5'), platform: 'linux' });
      await store.write('secret-token-123');
      const onDisk = readFileSync(join(dir, 'vault-token.enc'));
      assert.ok(!onDisk.toString('utf8').includes('secret-token-123'));
      assert.equal(existsSync(join(dir, 'vault-token')), false);
      const again = createSecretStore(dir, { safeStorage: keyring('kwallet5'), platform: 'linux' });
      assert.equal(await again.read(), 'secret-token-123');
    } finally {
      await cleanup();
    }
  });

  it('without a keyring, keeps the token in a file only its owner can read', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const store = createSecretStore(dir);
      assert.equal(store.kind, 'file');
      await store.write('secret-token-456');
      assert.equal(statSync(join(dir, 'vault-token')).mode & 0o777, 0o600);
      assert.equal(await store.read(), 'secret-token-456');
      await store.write(null);
      assert.equal(existsSync(join(dir, 'vault-token')), false);
      assert.equal(await store.read(), null);
    } finally {
      await cleanup();
    }
  });

  it('a token the CLI kept in the file is still found once the desktop has a keyring', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      await createSecretStore(dir).write('set-by-the-cli');
      const desktop = createSecretStore(dir, { safeStorage: keyring('x'), platform: 'darwin' });
      assert.equal(await desktop.read(), 'set-by-the-cli');
    } finally {
      await cleanup();
    }
  });
});
