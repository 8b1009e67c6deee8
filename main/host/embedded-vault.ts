// The embedded default (DESIGN.md "The vault"): with no vault configured, the host starts a
// Keepsake Vault in this process on 127.0.0.1, storing under <data-dir>/vault (the vault keeps
// its own token there, 0600). The engine never imports server/: the host composes the two.
import { join } from 'node:path';
import { startVault } from '../../server/vault.js';

export interface EmbeddedVault {
  url: string;
  token: string;
  dataDir: string;
  close(): Promise<void>;
}

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
  return { url: vault.url, token: vault.token, dataDir: vaultDir, close: () => vault.close() };
}
