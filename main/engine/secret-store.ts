// The SecretStore of ports.ts, on disk in the data directory: the vault token a person set
// in Settings, for the CLI, the daemon and the desktop app alike (one store, so what one
// start writes the next start reads).
//
// With a real keyring (Keychain, DPAPI, libsecret/kwallet) the desktop passes Electron's
// safeStorage and only the ciphertext is on disk. [Note: basic_text is plaintext] On Linux
// without a keyring Electron's safeStorage falls back to 'basic_text', a fixed-key
// obfuscation that is plaintext in all but name: then we say so (tokenStorage 'file' in
// Settings) and keep the token in a file only the owner can read, instead of pretending it is
// encrypted. Pure apart from node:fs: safeStorage is passed in, so this runs without Electron.
//
// Invariant: the files are created with mode 0600 and never written wider; at most one of
// the two files exists after a write.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SecretStore } from './ports.js';

/** The part of Electron's safeStorage this module uses. */
export interface SafeStoragePort {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only in Electron; absent elsewhere. */
  getSelectedStorageBackend?(): string;
}

/** The file names in the data directory (plaintext, and encrypted by safeStorage). */
const plainName = 'vault-token';
const encryptedName = 'vault-token.enc';

export function secretStorageKind(
  safeStorage: SafeStoragePort | null,
  platform: NodeJS.Platform = process.platform,
): SecretStore['kind'] {
  if (safeStorage === null || !safeStorage.isEncryptionAvailable()) return 'file';
  if (platform === 'linux') {
    const backend = safeStorage.getSelectedStorageBackend?.() ?? 'unknown';
    if (backend === 'basic_text' || backend === 'unknown') return 'file';
  }
  return 'safe_storage';
}

async function readIfThere(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export interface SecretStoreOptions {
  /** The desktop's Electron safeStorage; omitted: a 0600 file (CLI, daemon). */
  safeStorage?: SafeStoragePort | null;
  platform?: NodeJS.Platform;
}

/** The vault token's store in `dataDir`. */
export function createSecretStore(dataDir: string, options: SecretStoreOptions = {}): SecretStore {
  const safeStorage = options.safeStorage ?? null;
  const kind = secretStorageKind(safeStorage, options.platform);
  const plainPath = join(dataDir, plainName);
  const encryptedPath = join(dataDir, encryptedName);
  return {
    kind,
    async read() {
      if (kind === 'safe_storage' && safeStorage !== null) {
        const encrypted = await readIfThere(encryptedPath);
        if (encrypted !== null) return safeStorage.decryptString(encrypted) || null;
      }
      // Also where a token set before a keyring existed (or by the CLI) is found.
      const plain = await readIfThere(plainPath);
      return plain === null ? null : plain.toString('utf8').trim() || null;
    },
    async write(secret) {
      await rm(encryptedPath, { force: true });
      await rm(plainPath, { force: true });
      if (secret === null) return;
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      if (kind === 'safe_storage' && safeStorage !== null) {
        await writeFile(encryptedPath, safeStorage.encryptString(secret), { mode: 0o600 });
      } else {
        await writeFile(plainPath, `${secret}\n`, { mode: 0o600 });
        await chmod(plainPath, 0o600);
      }
    },
  };
}
