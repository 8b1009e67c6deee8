// The vault's bearer token. Without --token the vault generates one on first start and keeps
// it in DATA_DIR/token, readable by the owner alone (0600), so a restart keeps the same
// token and clients stay signed in. Never logged.
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const TOKEN_FILE = 'token';

/** The token to use, and whether it was generated just now. */
export async function loadOrCreateToken(
  dataDir: string,
  explicit: string | undefined,
): Promise<{ token: string; generated: boolean }> {
  if (explicit !== undefined) return { token: explicit, generated: false };
  const path = join(dataDir, TOKEN_FILE);
  try {
    const existing = (await readFile(path, 'utf8')).trim();
    if (existing.length > 0) {
      await chmod(path, 0o600);
      return { token: existing, generated: false };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  await chmod(path, 0o600); // the umask may have narrowed it further; never wider
  return { token, generated: true };
}

/** Constant-time check of an Authorization header against the token. */
export function isAuthorized(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m?.[1]) return false;
  const a = createHash('sha256').update(m[1]).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
