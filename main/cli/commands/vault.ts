// `keepsake vault`: runs a Keepsake Vault (server/vault.ts) in the foreground until SIGINT or
// SIGTERM. Prints `vault listening on URL` once it accepts connections, and a generated token
// once, on the first start of a data directory. Logs go to stderr as JSON lines.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DURATION_HELP, parseDuration, parseSize, SIZE_HELP } from '../../../common/size-units.js';
import {
  startVault,
  VaultStartError,
  DEFAULT_PARTIAL_TTL_MS,
  DEFAULT_VAULT_PORT,
} from '../../../server/vault.js';
import type { VaultLogger } from '../../../server/logger.js';
import { isPostgresLocation } from '../../../server/index/open-sql.js';
import { runVaultDevices, runVaultEnroll } from './vault-devices.js';
import { runVaultPreviews } from './vault-previews.js';
import { runVaultTrash } from './vault-trash.js';
import { DEFAULT_TRASH_RETENTION_DAYS } from '../../../server/trash.js';
import { runVaultScrub } from './vault-scrub.js';
import { runVaultMigrate } from './vault-migrate.js';
import { runVaultSweep } from './vault-sweep.js';

/** A size with the units of --bwlimit / --chunk-size. See [Note: Size syntax]. */
function parseBytes(value: string): number {
  const bytes = parseSize(value);
  if (bytes === null) throw new InvalidArgumentError(`expected ${SIZE_HELP}`);
  return bytes;
}

/** A duration such as 24h or 90m. See parseDuration in common/size-units.ts. */
function parseTtl(value: string): number {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new InvalidArgumentError(`expected ${DURATION_HELP}`);
  return ms;
}

/** A duration that may be 0 (sweep --grace 0: no grace). */
function parseGrace(value: string): number {
  const ms = parseDuration(value);
  if (ms === null || ms < 0) throw new InvalidArgumentError(`expected ${DURATION_HELP}`);
  return ms;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65535) {
    throw new InvalidArgumentError('expected a port number from 0 to 65535');
  }
  return n;
}

const stderrLogger = (verbose: boolean): VaultLogger => {
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    if (level === 'debug' && !verbose) return;
    process.stderr.write(
      `${JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields })}\n`,
    );
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
};

interface VaultCommandOptions {
  /** required by every action but migrate and sweep */
  dataDir?: string;
  /** migrate: the stopped single-machine vault to copy */
  fromDataDir?: string;
  /** migrate: assets per transaction (their blobs first) */
  batch?: number;
  /** sweep */
  adopt?: boolean;
  remove?: boolean;
  grace?: number;
  dryRun?: boolean;
  /** a directory or s3://BUCKET/PREFIX?endpoint=…&region=… (default <data-dir>/blobs) */
  blobs?: string;
  /** --index: a postgres:// URL (no password) or a SQLite file */
  index?: string;
  uploads?: string;
  previewsDir?: string;
  host: string;
  port: number;
  token?: string;
  quota?: number;
  maxSize?: number;
  partialTtl?: number;
  tlsCert?: string;
  tlsKey?: string;
  verbose?: boolean;
  scrubPeriodDays?: number;
  scrubRate?: number;
  json?: boolean;
  rebuild?: boolean;
  /** false with --no-previews */
  previews?: boolean;
  /** false with --no-compression */
  compression?: boolean;
  /** enroll: how long the code may be used, ms */
  ttl?: number;
  /** days a trashed content is kept before `trash empty` may remove it */
  trashRetention?: number;
  /** fleet verdicts (See server/devices.ts), ms */
  behindAfter?: number;
  silentAfter?: number;
}

/**
 * An index location as given to --index. A password in a postgres:// URL is refused: the
 * command line is visible to every user of the machine (ps), so it comes from PGPASSWORD or
 * the PGPASSFILE (~/.pgpass) that pg reads.
 */
export function parseIndexLocation(value: string): string {
  if (isPostgresLocation(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidArgumentError('expected postgres://USER@HOST:PORT/DATABASE');
    }
    if (url.password !== '' || url.searchParams.has('password')) {
      throw new InvalidArgumentError(
        'a password does not belong on the command line, where every user of this machine can read it: put it in PGPASSWORD or ~/.pgpass (PGPASSFILE)',
      );
    }
  }
  return value;
}

function parseNonNegativeInt(value: string): number {
  if (!/^\d{1,6}$/.test(value)) throw new InvalidArgumentError('expected a whole number of days');
  return Number(value);
}

function parsePositiveInt(value: string): number {
  if (!/^[1-9]\d{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a positive whole number');
  }
  return Number(value);
}

export function registerVaultCommand(program: Command): void {
  program
    .command('vault')
    .description(
      'Run a Keepsake Vault: tus uploads at /files/, verified by SHA-256, and the JSON API at /api/v1/',
    )
    .argument(
      '[action]',
      '"scrub": re-hash everything the vault stores now, print a summary, exit; "previews --rebuild": delete every thumbnail and preview and make them again, exit; "devices add|list|revoke|rename": the devices allowed to back up, each with its own token; "enroll --ttl 7d": print a one-time enrolment code; "trash list|restore SHA256...|empty": the vault\'s trash (empty removes what is past --trash-retention and held by no device; the vault must be stopped); "migrate --from-data-dir DIR --index postgres://… --blobs s3://…": copy a stopped single-machine vault into PostgreSQL and S3, resumable; "sweep [--adopt|--remove]": list stored objects no index row names (and rows without their object), keep or remove them',
    )
    .argument('[args...]', 'devices: add NAME | list | revoke NAME | rename OLD NEW')
    .option(
      '--data-dir <dir>',
      "this vault's own directory: its lock, token and temp files, and (unless --index, --blobs, --uploads or --previews-dir say otherwise) its index, blobs, partial uploads and previews (required, except by migrate)",
    )
    .option(
      '--from-data-dir <dir>',
      'migrate: the stopped single-machine vault to copy into --index and --blobs',
    )
    .option(
      '--batch <assets>',
      'migrate: assets copied per transaction, their blobs first (default 500)',
      parsePositiveInt,
    )
    .option(
      '--blobs <where>',
      'where verified content is stored: a directory, or an S3-compatible bucket as s3://BUCKET/PREFIX?endpoint=URL&region=NAME with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE/AWS_SHARED_CREDENTIALS_FILE, never the command line (default: <data-dir>/blobs); scrub, previews and trash empty need it too',
    )
    .option(
      '--index <location>',
      'the index: postgres://USER@HOST:PORT/DB, shared by several vault nodes (password from PGPASSWORD or ~/.pgpass, never here); default: DATA-DIR/vault.db; migrate: the index to copy into',
      parseIndexLocation,
    )
    .option(
      '--uploads <dir>',
      'where partial uploads live; with several vault nodes, a directory they all share (NFS, EFS); default: DATA-DIR/uploads',
    )
    .option(
      '--previews-dir <dir>',
      'where thumbnails and previews live; with several vault nodes, a directory they all share; default: DATA-DIR/previews',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', parsePort, DEFAULT_VAULT_PORT)
    .option(
      '--token <token>',
      'bearer token clients must send (or KEEPSAKE_VAULT_TOKEN; default: generated once and stored in the data dir)',
    )
    .option(
      '--quota <size>',
      'total content the vault may hold, e.g. 500G or 2T (binary units; bare number = bytes)',
      parseBytes,
    )
    .option('--max-size <size>', 'largest single upload, e.g. 2G (as --quota)', parseBytes)
    .option(
      '--partial-ttl <duration>',
      `an upload that receives nothing for this long is deleted and its quota reservation released, e.g. 90m, 24h, 3d (default: ${DEFAULT_PARTIAL_TTL_MS / 3_600_000}h)`,
      parseTtl,
    )
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--verbose', 'log debug lines too')
    .option(
      '--scrub-period-days <days>',
      'the background scrub re-reads everything once per this many days (default 30)',
      parsePositiveInt,
    )
    .option(
      '--scrub-rate <bytes>',
      'the background scrub reads at most this many bytes per second (default 20 MiB/s)',
      parsePositiveInt,
    )
    .option('--json', 'scrub, previews, trash: print the summary as one JSON object')
    .option(
      '--no-previews',
      'make no thumbnails or previews (GET .../thumbnail answers 404 preview_pending)',
    )
    .option(
      '--no-compression',
      'store new content as it came (default: compressible formats such as TIFF, BMP, uncompressed RAW are stored compressed, losslessly, in the background; reads are unaffected)',
    )
    .option('--rebuild', 'previews: delete every thumbnail and preview and make them all again')
    .option(
      '--adopt',
      'sweep: keep stored objects no index row names, once read back and verified, for the next upload of their content (one that does not verify is removed)',
    )
    .option('--remove', 'sweep: remove stored objects no index row names, older than --grace')
    .option(
      '--grace <duration>',
      'sweep --remove: an object younger than this may be an upload committing now, and is kept (default 1h)',
      parseGrace,
    )
    .option('--dry-run', 'sweep: say what --adopt or --remove would remove, remove nothing')
    .option(
      '--ttl <duration>',
      'enroll: how long the enrolment code may be used, e.g. 7d or 12h (default 7d)',
      parseTtl,
    )
    .option(
      '--trash-retention <days>',
      `days a content stays in the vault's trash before "trash empty" may remove it (default ${DEFAULT_TRASH_RETENTION_DAYS}; 0 = at the next empty)`,
      parseNonNegativeInt,
    )
    .option(
      '--behind-after <duration>',
      'fleet health: a device whose oldest unsafe file waited longer is "behind" (default 3d)',
      parseTtl,
    )
    .option(
      '--silent-after <duration>',
      'fleet health: a device with no heartbeat for longer is "silent" (default 7d)',
      parseTtl,
    )
    .action(async (action: string | undefined, args: string[], opts: VaultCommandOptions) => {
      const fleet = {
        ...(opts.behindAfter !== undefined ? { behindAfterMs: opts.behindAfter } : {}),
        ...(opts.silentAfter !== undefined ? { silentAfterMs: opts.silentAfter } : {}),
      };
      if (action === 'migrate') {
        return runVaultMigrate({
          fromDataDir: opts.fromDataDir,
          index: opts.index,
          blobs: opts.blobs,
          json: opts.json === true,
          ...(opts.batch !== undefined ? { assetPage: opts.batch } : {}),
        });
      }
      if (opts.dataDir === undefined) {
        console.error("keepsake vault: required option '--data-dir <dir>' not specified");
        process.exitCode = 2;
        return;
      }
      // Where the vault's parts are, for the maintenance actions (as for the vault itself).
      const where = {
        dataDir: opts.dataDir,
        ...(opts.index !== undefined ? { index: opts.index } : {}),
        ...(opts.blobs !== undefined ? { blobs: opts.blobs } : {}),
        ...(opts.previewsDir !== undefined ? { previewsDir: opts.previewsDir } : {}),
      };
      if (action === 'sweep') {
        return runVaultSweep({
          ...where,
          adopt: opts.adopt === true,
          remove: opts.remove === true,
          dryRun: opts.dryRun === true,
          ...(opts.grace !== undefined ? { graceMs: opts.grace } : {}),
          json: opts.json === true,
        });
      }
      if (action === 'devices') {
        return runVaultDevices({ ...where, args, json: opts.json === true, fleet });
      }
      if (action === 'trash') {
        return runVaultTrash({
          ...where,
          args,
          json: opts.json === true,
          retentionDays: opts.trashRetention ?? DEFAULT_TRASH_RETENTION_DAYS,
        });
      }
      if (action === 'enroll') {
        return runVaultEnroll({
          ...where,
          ttlMs: opts.ttl ?? 7 * 24 * 3600 * 1000,
          json: opts.json === true,
        });
      }
      if (action !== undefined && args.length > 0) {
        console.error(`keepsake vault ${action}: unexpected arguments ${args.join(' ')}`);
        process.exitCode = 2;
        return;
      }
      if (action !== undefined) {
        if (action === 'previews') {
          return runVaultPreviews({
            ...where,
            rebuild: opts.rebuild === true,
            json: opts.json === true,
          });
        }
        if (action !== 'scrub') {
          console.error(
            `keepsake vault: unknown action ${action} ("scrub", "previews", "devices" or "enroll")`,
          );
          process.exitCode = 2;
          return;
        }
        return runVaultScrub({
          ...where,
          json: opts.json === true,
        });
      }
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        console.error('keepsake vault: --tls-cert and --tls-key go together (HTTPS needs both)');
        process.exitCode = 2;
        return;
      }
      // Signals are caught from the start, so one that arrives while the vault starts (or
      // right after the listening line) still closes it cleanly.
      let stopSignal: NodeJS.Signals | undefined;
      let wake: (() => void) | undefined;
      const onSignal = (signal: NodeJS.Signals) => {
        stopSignal ??= signal;
        wake?.();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        let vault;
        try {
          vault = await startVault({
            dataDir: opts.dataDir,
            ...(opts.blobs !== undefined ? { blobs: opts.blobs } : {}),
            ...(opts.index !== undefined ? { index: opts.index } : {}),
            ...(opts.uploads !== undefined ? { uploadsDir: opts.uploads } : {}),
            ...(opts.previewsDir !== undefined ? { previewsDir: opts.previewsDir } : {}),
            host: opts.host,
            port: opts.port,
            token: opts.token ?? process.env.KEEPSAKE_VAULT_TOKEN,
            quotaBytes: opts.quota ?? null,
            maxSizeBytes: opts.maxSize ?? null,
            partialTtlMs: opts.partialTtl,
            ...(opts.tlsCert !== undefined && opts.tlsKey !== undefined
              ? { tls: { certFile: opts.tlsCert, keyFile: opts.tlsKey } }
              : {}),
            scrub: {
              ...(opts.scrubPeriodDays !== undefined
                ? { periodMs: opts.scrubPeriodDays * 24 * 60 * 60 * 1000 }
                : {}),
              ...(opts.scrubRate !== undefined ? { maxBytesPerSecond: opts.scrubRate } : {}),
            },
            ...(opts.previews === false ? { previews: false as const } : {}),
            ...(opts.compression === false ? { compression: false } : {}),
            fleet,
            ...(opts.trashRetention !== undefined
              ? { trashRetentionDays: opts.trashRetention }
              : {}),
            logger: stderrLogger(opts.verbose === true),
          });
        } catch (err) {
          if (err instanceof VaultStartError) {
            console.error(`keepsake vault: ${err.message}`);
            process.exitCode = 1;
            return;
          }
          throw err;
        }
        if (vault.tokenGenerated) {
          console.log(`generated a token (stored in ${opts.dataDir}/token, shown only this once)`);
          console.log(`token: ${vault.token}`);
        }
        for (const warning of vault.warnings) console.error(`keepsake vault: warning: ${warning}`);
        console.log(`vault listening on ${vault.url}`);
        if (stopSignal === undefined) await new Promise<void>((resolve) => (wake = resolve));
        console.error(`keepsake vault: ${stopSignal ?? 'signal'}, closing`);
        try {
          await vault.close();
        } catch (err) {
          console.error(`keepsake vault: error while closing: ${String(err)}`);
          process.exitCode = 1;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
