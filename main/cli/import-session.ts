// What every `keepsake import` subcommand that sends a library to the vault sets up and tears
// down around its run: the vault (--to URL --token, else the embedded vault of the data
// directory), the data directory's lock and this computer's identity on the vault (not in a
// dry run), the HTTP client and uploader, the staging folder, and Ctrl-C.
// Invariant: whatever was opened is closed on every path, the lock released last but one
// (before the embedded vault stops); an interrupted run exits 130 and says so.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultDataDir } from '../engine/data-dir.js';
import { defaultDeviceName, deviceIdOf } from '../engine/device.js';
import { type Logger, systemClock } from '../engine/ports.js';
import { openDataDir } from '../engine/runtime/recovery.js';
import type { Store } from '../engine/store/store.js';
import { createHttpClient } from '../engine/vault/http-client.js';
import { createTusUploader } from '../engine/vault/tus-uploader.js';
import type { Uploader } from '../engine/vault/types.js';
import { createVaultClient, type VaultClient } from '../engine/vault/vault-client.js';
import { startEmbeddedVault, type EmbeddedVault } from '../host/embedded-vault.js';
import { cliLogger, describeFailure, UsageError, vaultFlag } from './engine-setup.js';

export interface ImportSessionOptions {
  to?: string;
  token?: string;
  dataDir?: string;
  dryRun?: boolean;
}

export interface ImportSession {
  /** the vault's URL, null in a dry run with no vault at hand */
  vaultUrl: string | null;
  client: VaultClient | null;
  /** null in a dry run */
  uploader: Uploader | null;
  /** This computer as the vault knows it; null in a dry run. */
  device: { id: string; name: string } | null;
  /** DATA-DIR/import-staging: private to this data directory, cleared by each run */
  stagingDir: string;
  logger: Logger;
}

/**
 * Runs `body` inside an import session and answers its exit code: 130 when interrupted, the
 * code describeFailure gives for an error (a line on stderr prefixed by `command`).
 * `validate` checks the command's own input first (throwing UsageError), before anything
 * starts; `defer` registers what the body opened (an archive) to be closed at the end.
 */
export async function runInImportSession<Input>(
  command: string,
  opts: ImportSessionOptions,
  validate: () => Input,
  body: (
    session: ImportSession,
    input: Input,
    signal: AbortSignal,
    defer: (close: () => void) => void,
  ) => Promise<number>,
): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const closers: (() => void)[] = [];
  let embedded: EmbeddedVault | null = null;
  let store: Store | null = null;
  let release: (() => void) | null = null;
  try {
    const input = validate();
    const dataDir = resolve(opts.dataDir ?? process.env.KEEPSAKE_DATA_DIR ?? defaultDataDir());
    const token = opts.token ?? process.env.KEEPSAKE_TOKEN;
    let vault: { url: string; token: string } | null = null;
    if (opts.to !== undefined) vault = vaultFlag('--to', opts.to, token);
    else if (opts.token !== undefined) throw new UsageError('--token is only used with --to URL');
    else if (!opts.dryRun || existsSync(resolve(dataDir, 'vault'))) {
      embedded = await startEmbeddedVault(dataDir);
      vault = { url: embedded.url, token: embedded.token };
    }
    const logger = cliLogger('warn');
    // This computer's identity on the vault, under which every imported path is recorded.
    let device: { id: string; name: string } | null = null;
    if (!opts.dryRun) {
      const opened = await openDataDir(dataDir, systemClock, logger);
      store = opened.store;
      release = () => opened.lock.release();
      const named = store.userSettings().get('deviceName');
      device = {
        id: deviceIdOf(dataDir, store),
        name: typeof named === 'string' && named.trim() !== '' ? named : defaultDeviceName(),
      };
    }
    const http = vault ? createHttpClient({ endpoint: vault.url, idleTimeoutMs: 120_000 }) : null;
    const client =
      vault && http ? createVaultClient({ endpoint: vault.url, token: vault.token, http }) : null;
    const uploader =
      vault && http && !opts.dryRun
        ? createTusUploader({
            endpoint: vault.url,
            token: vault.token,
            http,
            logger: logger.child({ part: 'upload' }),
            clock: systemClock,
          })
        : null;
    try {
      return await body(
        {
          vaultUrl: vault?.url ?? null,
          client,
          uploader,
          device,
          stagingDir: resolve(dataDir, 'import-staging'),
          logger,
        },
        input,
        abort.signal,
        (close) => closers.push(close),
      );
    } finally {
      await uploader?.close();
      client?.close();
      http?.destroy();
    }
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write(`${command}: interrupted\n`);
      return 130;
    }
    const { code, line } = describeFailure(err);
    process.stderr.write(`${command}: ${line}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const close of closers) close();
    store?.close();
    release?.();
    await embedded?.close();
  }
}
