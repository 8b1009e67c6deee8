// `keepsake verify [--all | --sample N] [--folder DIR] [--to URL --token TOKEN] [--data-dir DIR]
// [--json]`: proof that what this data directory backed up is on the vault, byte for byte
// (main/engine/verify/verify-run.ts). Without --to, the vault the data directory last backed
// up to (its remembered identity: the embedded vault, the one another Keepsake process serves
// or else started here, or a vault URL with the token from --token, KEEPSAKE_TOKEN or
// Settings). Prints a receipt (files and bytes proven,
// when, by which vault, each problem with its path); --json prints it as one object. Exit 0
// when everything selected was proven, 1 on any problem, 2 for bad input. Beside a running
// daemon or desktop app, that process runs it (See [Note: Commands beside a running Keepsake]).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { VerifyReceipt } from '../../../common/contract.js';
import { databasePath, defaultDataDir } from '../../engine/data-dir.js';
import { KeepsakeError } from '../../engine/errors.js';
import { createFileHasher } from '../../engine/hash/index.js';
import type { FileHasher } from '../../engine/hash/types.js';
import { lstatPath } from '../../engine/runtime/folders.js';
import {
  openDataDir,
  rememberedVaultIdentity,
  vaultIdentityOf,
} from '../../engine/runtime/recovery.js';
import { systemClock } from '../../engine/ports.js';
import { createSecretStore } from '../../engine/secret-store.js';
import type { Store } from '../../engine/store/store.js';
import { queueRepair } from '../../engine/verify/healer.js';
import { runVerify, type VerifyProgress } from '../../engine/verify/verify-run.js';
import { createHttpClient } from '../../engine/vault/http-client.js';
import { createVaultClient } from '../../engine/vault/vault-client.js';
import { invokeRunning, runningKeepsake } from '../../host/control-endpoint.js';
import type { EmbeddedVault } from '../../host/embedded-vault.js';
import {
  cliLogger,
  describeFailure,
  UsageError,
  usageErrorCodes,
  useEmbeddedVault,
  vaultFlag,
} from '../engine-setup.js';
import { displayJson } from '../../engine/raw-path.js';

interface VerifyOptions {
  all?: boolean;
  sample?: string;
  folder?: string;
  to?: string;
  token?: string;
  caFile?: string;
  dataDir?: string;
  json?: boolean;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'Prove the backup: the vault re-hashes what it stores, the originals are checked; exit 1 on any problem',
    )
    .option('--all', 'every backed-up file (the default)')
    .option('--sample <n>', 'this many files picked at random')
    .option('--folder <dir>', 'only files under this folder')
    .option('--to <url>', 'vault URL (default: the vault this data directory backs up to)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--ca-file <file>', 'extra CA bundle (PEM) for TLS inspection proxies')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--json', 'print the receipt as one JSON object')
    .action(async (opts: VerifyOptions) => {
      process.exitCode = await runVerifyCommand(opts);
    });
}

export interface ChosenVault {
  url: string;
  token: string;
  caFile?: string;
  /** the data directory's embedded vault, whoever serves it */
  isEmbedded: boolean;
  /** set when this process started it (and closes it) */
  embedded: EmbeddedVault | null;
}

function parseSample(opts: VerifyOptions): number | null {
  if (opts.sample === undefined) return null;
  if (opts.all) throw new UsageError('--all and --sample N exclude each other');
  if (!/^\d+$/.test(opts.sample) || Number(opts.sample) < 1) {
    throw new UsageError(`--sample: expected a whole number of files, got "${opts.sample}"`);
  }
  return Number(opts.sample);
}

/** The vault to ask: --to, else the one this data directory remembers backing up to. */
export async function chooseVault(
  opts: Pick<VerifyOptions, 'to' | 'token' | 'caFile'>,
  dataDir: string,
  remembered: string | null,
): Promise<ChosenVault> {
  const token = opts.token ?? process.env.KEEPSAKE_TOKEN;
  const caFile = opts.caFile !== undefined ? { caFile: resolve(opts.caFile) } : {};
  if (opts.to !== undefined) {
    return { ...vaultFlag('--to', opts.to, token), ...caFile, isEmbedded: false, embedded: null };
  }
  if (remembered === null) {
    throw new UsageError(
      `nothing has been backed up from ${dataDir} yet: run keepsake backup first, or give --to URL --token TOKEN`,
    );
  }
  if (remembered === 'embedded') {
    // The vault another Keepsake process serves for this data directory, if one does.
    return { ...(await useEmbeddedVault(dataDir, '--to URL --token TOKEN')), isEmbedded: true };
  }
  const stored =
    token !== undefined && token !== '' ? token : await createSecretStore(dataDir).read();
  if (!stored) {
    throw new UsageError(
      `this data directory backs up to ${remembered}: give its token with --token TOKEN (or KEEPSAKE_TOKEN)`,
    );
  }
  return { url: remembered, token: stored, ...caFile, isEmbedded: false, embedded: null };
}

export async function runVerifyCommand(opts: VerifyOptions): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let store: Store | null = null;
  let release: (() => void) | null = null;
  let vault: ChosenVault | null = null;
  let hasher: FileHasher | null = null;
  try {
    const sample = parseSample(opts);
    const dataDir = resolve(opts.dataDir ?? process.env.KEEPSAKE_DATA_DIR ?? defaultDataDir());
    if (!existsSync(databasePath(dataDir))) {
      throw new UsageError(`no Keepsake data in ${dataDir} (nothing backed up from here yet)`);
    }
    const running = runningKeepsake(dataDir);
    if (running !== null) {
      return await verifyThroughRunning(running, dataDir, opts, sample, abort.signal);
    }
    const logger = cliLogger('warn');
    const opened = await openDataDir(dataDir, systemClock, logger);
    store = opened.store;
    release = () => opened.lock.release();
    const remembered = rememberedVaultIdentity(store);
    vault = await chooseVault(opts, dataDir, remembered);
    const identity = vaultIdentityOf({ url: vault.url, embedded: vault.isEmbedded });
    const http = createHttpClient({
      endpoint: vault.url,
      ...(vault.caFile ? { caFile: vault.caFile } : {}),
      idleTimeoutMs: 120_000,
    });
    // Verifying a batch re-reads up to 1,000 blobs before the vault answers: a long wait.
    const client = createVaultClient({
      endpoint: vault.url,
      token: vault.token,
      http,
      timeoutMs: 30 * 60_000,
    });
    const s = store;
    try {
      const receipt = await runVerify(
        {
          store: s,
          vault: client,
          vaultInfo: { url: vault.url, embedded: vault.isEmbedded },
          statPath: lstatPath,
          hashFile: (path, signal) => {
            hasher ??= createFileHasher({ logger: logger.child({ part: 'hash' }) });
            return hasher.hashFile(path, signal);
          },
          clock: systemClock,
          ...(process.stderr.isTTY && !opts.json ? { onProgress: showProgress } : {}),
          // Only the vault this data directory backs up to is healed from here.
          repair:
            remembered === identity
              ? (request) =>
                  queueRepair(s, request, (event) => {
                    s.addActivity(event);
                  })
              : null,
        },
        {
          sample,
          folder: opts.folder !== undefined ? resolve(opts.folder) : null,
        },
        abort.signal,
      );
      if (receipt.problemCount > 0 || receipt.files > 0) {
        s.addActivity({
          level: receipt.problemCount > 0 ? 'error' : 'info',
          message: receiptSentence(receipt),
          path: null,
          code: null,
        });
      }
      if (process.stderr.isTTY && !opts.json) process.stderr.write('\r\x1b[K');
      if (opts.json) process.stdout.write(`${displayJson(receiptJson(receipt))}\n`);
      else printReceipt(receipt);
      return receipt.problemCount > 0 ? 1 : 0;
    } finally {
      client.close();
      http.destroy();
    }
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write('keepsake verify: interrupted\n');
      return 130;
    }
    if (err instanceof RunningVerifyError) {
      process.stderr.write(`keepsake verify: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof KeepsakeError && err.code === 'vault_unreachable' && vault) {
      process.stderr.write(`keepsake verify: cannot reach the vault at ${vault.url}\n`);
      return 1;
    }
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake verify: ${line}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await (hasher as FileHasher | null)?.close();
    store?.close();
    release?.();
    await vault?.embedded?.close();
  }
}

/** What the running Keepsake answered instead of a receipt, with the exit code it means. */
class RunningVerifyError extends Error {
  override name = 'RunningVerifyError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * verify beside the daemon or the desktop app: the running Keepsake runs it (its "Verify now")
 * and this prints its receipt as a verify of its own would, with the same exit codes. See
 * [Note: Commands beside a running Keepsake] in host/control-endpoint.ts. Ctrl-C only stops
 * waiting: the running Keepsake finishes the verify and keeps its receipt.
 */
async function verifyThroughRunning(
  running: NonNullable<ReturnType<typeof runningKeepsake>>,
  dataDir: string,
  opts: VerifyOptions,
  sample: number | null,
  signal: AbortSignal,
): Promise<number> {
  const { control, pid } = running;
  if (control === null) {
    throw new UsageError(
      `another Keepsake (pid ${pid}) is using the data directory ${dataDir} (a backup or an import, or one still starting): run verify again once it has finished`,
    );
  }
  if (opts.to !== undefined) {
    // The running Keepsake verifies the vault it backs up to, and only that one.
    const status = await invokeRunning(control, 'status.get', {}, signal);
    if (!status.ok) throw new RunningVerifyError(status.error.message, 1);
    const same =
      !status.value.vault.embedded &&
      status.value.vault.url.replace(/\/+$/, '') === opts.to.replace(/\/+$/, '');
    if (!same) {
      throw new UsageError(
        `the Keepsake running on ${dataDir} (pid ${pid}) backs up to ${status.value.vault.embedded ? 'the embedded vault' : status.value.vault.url}, not ${opts.to}: verify that one without --to, or stop it first`,
      );
    }
  }
  if (process.stderr.isTTY && !opts.json) {
    process.stderr.write(`the running Keepsake (pid ${pid}) is verifying…`);
  }
  const answer = await invokeRunning(
    control,
    'verify.run',
    {
      ...(sample !== null ? { sample } : {}),
      ...(opts.folder !== undefined ? { folder: resolve(opts.folder) } : {}),
    },
    signal,
  );
  if (process.stderr.isTTY && !opts.json) process.stderr.write('\r\x1b[K');
  if (!answer.ok) {
    const { code, message } = answer.error;
    if (code === 'vault_unreachable') throw new RunningVerifyError(message, 1);
    throw new RunningVerifyError(message, usageErrorCodes.has(code) ? 2 : 1);
  }
  const receipt = answer.value;
  if (opts.json) process.stdout.write(`${displayJson(receiptJson(receipt))}\n`);
  else printReceipt(receipt);
  return receipt.problemCount > 0 ? 1 : 0;
}

/** "1,204 of 1,204 files (3.1 GiB) proven on the vault at …". */
export function receiptSentence(r: VerifyReceipt): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const where = r.vault.embedded ? 'the embedded vault' : `the vault at ${r.vault.url}`;
  const base = `${n(r.filesProven)} of ${n(r.files)} files (${formatBytes(r.bytesProven)}) proven on ${where}`;
  return r.problemCount === 0
    ? base
    : `${base}; ${n(r.problemCount)} problem${r.problemCount === 1 ? '' : 's'}`;
}

function receiptJson(r: VerifyReceipt) {
  return {
    ok: r.problemCount === 0,
    files: r.files,
    filesProven: r.filesProven,
    bytes: r.bytes,
    bytesProven: r.bytesProven,
    verifiedAt: new Date(r.finishedAt).toISOString(),
    seconds: Math.round((r.finishedAt - r.startedAt) / 10) / 100,
    vault: r.vault.url,
    embedded: r.vault.embedded,
    sample: r.sample,
    folder: r.folder,
    localReread: r.localReread,
    localGone: r.localGone,
    problemCount: r.problemCount,
    problems: r.problems,
  };
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** One line on a terminal, rewritten in place. */
function showProgress(p: VerifyProgress): void {
  const line =
    p.phase === 'originals'
      ? `checking the originals: ${p.done} of ${p.total}`
      : `the vault is re-hashing: ${p.done} of ${p.total} (${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)})`;
  process.stderr.write(`\r\x1b[K${line}`);
}

function printReceipt(r: VerifyReceipt): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`${receiptSentence(r)}, ${new Date(r.finishedAt).toISOString()}.`);
  if (r.files === 0 && r.folder === null) {
    out('Nothing to prove yet: no file in the watched folders has been backed up.');
  }
  if (r.localReread > 0) out(`${r.localReread} originals had moved and were read again.`);
  if (r.localGone > 0) out(`${r.localGone} originals are no longer on this computer.`);
  for (const p of r.problems) out(`${p.problem.padEnd(10)} ${p.path}: ${p.message}`);
  const unlisted = r.problemCount - r.problems.length;
  if (unlisted > 0) out(`…and ${unlisted.toLocaleString('en-US')} more problems (see Activity).`);
}
