// The embedded default (DESIGN.md "The vault"): with no vault configured, the host starts a
// Keepsake Vault in this process on 127.0.0.1, storing under <data-dir>/vault (the vault keeps
// its own token there, 0600). The engine never imports server/: the host composes the two.
//
// [Note: Finding a running embedded vault]
// Only one process can hold a vault directory (its vault.lock), so a second Keepsake process
// on the same data directory (`keepsake restore` beside a running daemon or the desktop app)
// cannot start the embedded vault itself; it uses the running one instead. While it runs, the
// embedded vault's address is kept in <data-dir>/vault/endpoint.json ({url, pid}, 0600,
// written whole by a rename, removed on close); the token is the vault's own token file. A
// reader trusts the file only while the process it names holds vault.lock and is alive.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startVault } from '../../server/vault.js';

export interface EmbeddedVault {
  url: string;
  token: string;
  dataDir: string;
  close(): Promise<void>;
}

const endpointFile = 'endpoint.json';

/**
 * Starts the embedded vault. The port is KEEPSAKE_EMBEDDED_VAULT_PORT when set, else an
 * ephemeral one: upload URLs from an earlier run are rebased onto the new port by the queue
 * (see rebaseLoopback in main/engine/pipeline/upload-queue.ts).
 */
export async function startEmbeddedVault(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EmbeddedVault> {
  const vaultDir = join(dataDir, 'vault');
  const portText = env.KEEPSAKE_EMBEDDED_VAULT_PORT;
  const port = portText !== undefined && /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  const vault = await startVault({ dataDir: vaultDir, host: '127.0.0.1', port });
  const endpoint = join(vaultDir, endpointFile);
  try {
    const temp = `${endpoint}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify({ url: vault.url, pid: process.pid }), { mode: 0o600 });
    renameSync(temp, endpoint);
  } catch {
    // Only other processes lose: they cannot find this vault and say so.
  }
  return {
    url: vault.url,
    token: vault.token,
    dataDir: vaultDir,
    close: async () => {
      rmSync(endpoint, { force: true });
      await vault.close();
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Who holds the data directory's embedded vault right now. See [Note: Finding a running
 * embedded vault].
 * - null: nobody (this process may start it);
 * - { url, token, pid }: a live Keepsake process serves it at url;
 * - { url: null, pid }: a live process holds it but says nowhere where (a `keepsake vault`
 *   started by hand, or an older Keepsake).
 */
export function runningEmbeddedVault(
  dataDir: string,
): { url: string; token: string; pid: number } | { url: null; pid: number } | null {
  const vaultDir = join(dataDir, 'vault');
  let holder: number;
  try {
    holder = Number.parseInt(readFileSync(join(vaultDir, 'vault.lock'), 'utf8').trim(), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid || !alive(holder)) {
    return null;
  }
  try {
    const endpoint = JSON.parse(readFileSync(join(vaultDir, endpointFile), 'utf8')) as {
      url?: unknown;
      pid?: unknown;
    };
    const token = readFileSync(join(vaultDir, 'token'), 'utf8').trim();
    if (endpoint.pid === holder && typeof endpoint.url === 'string' && token !== '') {
      return { url: endpoint.url, token, pid: holder };
    }
  } catch {
    // no endpoint written (or unreadable): fall through
  }
  return { url: null, pid: holder };
}
