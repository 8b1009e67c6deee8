// Where the desktop app keeps the vault token: encrypted by the OS keyring when there is one,
// else (Linux 'basic_text') in a file only its owner can read, and Settings says which.
import assert from 'node:assert/strict';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  TokenStore,
  tokenStorageKind,
  type SafeStoragePort,
} from '../../../main/app/token-store.js';
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
    assert.equal(tokenStorageKind(keyring('gnome_libsecret'), 'linux'), 'safe_storage');
    assert.equal(tokenStorageKind(keyring('unknown'), 'darwin'), 'safe_storage');
    assert.equal(tokenStorageKind(keyring('unknown'), 'win32'), 'safe_storage');
  });

  it("treats Linux's basic_text fallback as no encryption at all", () => {
    assert.equal(tokenStorageKind(keyring('basic_text'), 'linux'), 'file');
    assert.equal(tokenStorageKind(keyring('gnome_libsecret', false), 'linux'), 'file');
  });

  it('keeps the token encrypted on disk with a keyring, and reads it back', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const store = new TokenStore(dir, keyring('kwallet5'), 'linux');
      store.write('secret-token-123');
      assert.ok(!readFileSync(store.path).toString('utf8').includes('secret-token-123'));
      assert.equal(new TokenStore(dir, keyring('kwallet5'), 'linux').read(), 'secret-token-123');
    } finally {
      await cleanup();
    }
  });

  it('without a keyring, keeps the token in a file only its owner can read', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const store = new TokenStore(dir, keyring('basic_text'), 'linux');
      store.write('secret-token-456');
      assert.equal(statSync(store.path).mode & 0o777, 0o600);
      assert.equal(store.read(), 'secret-token-456');
      store.write(null);
      assert.equal(existsSync(store.path), false);
      assert.equal(store.read(), null);
    } finally {
      await cleanup();
    }
  });
});
