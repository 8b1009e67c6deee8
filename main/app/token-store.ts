// Where the desktop app keeps the vault token (DESIGN.md "Where state lives").
// With a real keyring (Keychain, DPAPI, libsecret/kwallet), safeStorage encrypts it and only
// the ciphertext is on disk. [Note: basic_text is plaintext] On Linux without a keyring
// Electron's safeStorage falls back to 'basic_text', a fixed-key obfuscation that is
// plaintext in all but name: then we say so (tokenStorage 'file' in Settings) and keep the
// token in a file only the owner can read, instead of pretending it is encrypted.
// Pure apart from node:fs: the safeStorage object is passed in, so tests run without Electron.
//
// Invariant: the token file is created with mode 0600 and never written wider.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The part of Electron's safeStorage this module uses. */
export interface SafeStoragePort {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only in Electron; absent elsewhere. */
  getSelectedStorageBackend?(): string;
}

export type TokenStorageKind = 'safe_storage' | 'file';

export function tokenStorageKind(
  safeStorage: SafeStoragePort,
  platform = process.platform,
): TokenStorageKind {
  if (!safeStorage.isEncryptionAvailable()) return 'file';
  if (platform === 'linux') {
    const backend = safeStorage.getSelectedStorageBackend?.() ?? 'unknown';
    if (backend === 'basic_text' || backend === 'unknown') return 'file';
  }
  return 'safe_storage';
}

export class TokenStore {
  readonly kind: TokenStorageKind;
  private readonly encryptedPath: string;
  private readonly plainPath: string;

  constructor(
    private readonly dataDir: string,
    private readonly safeStorage: SafeStoragePort,
    platform = process.platform,
  ) {
    this.kind = tokenStorageKind(safeStorage, platform);
    this.encryptedPath = join(dataDir, 'vault-token.enc');
    this.plainPath = join(dataDir, 'vault-token');
  }

  read(): string | null {
    if (this.kind === 'safe_storage' && existsSync(this.encryptedPath)) {
      return this.safeStorage.decryptString(readFileSync(this.encryptedPath));
    }
    if (existsSync(this.plainPath)) return readFileSync(this.plainPath, 'utf8').trim() || null;
    return null;
  }

  write(token: string | null): void {
    rmSync(this.encryptedPath, { force: true });
    rmSync(this.plainPath, { force: true });
    if (token === null) return;
    if (this.kind === 'safe_storage') {
      writeFileSync(this.encryptedPath, this.safeStorage.encryptString(token), { mode: 0o600 });
    } else {
      writeFileSync(this.plainPath, `${token}\n`, { mode: 0o600 });
      chmodSync(this.plainPath, 0o600);
    }
  }

  get path(): string {
    return this.kind === 'safe_storage' ? this.encryptedPath : this.plainPath;
  }

  get directory(): string {
    return this.dataDir;
  }
}
