// `keepsake daemon`: the engine with its watchers, running until SIGINT/SIGTERM, on which it
// stops cleanly (in-flight uploads keep their confirmed offsets). runDaemon() is the seam the
// web UI attaches to (--ui-port/--ui-token, issue 5): it returns the running engine.
import type { Command } from 'commander';
import type { KeepsakeEngine } from '../../engine/api.js';
import type { Logger } from '../../engine/ports.js';
import { startWebUi, type WebUi } from '../../web/server.js';
import {
  cliLogger,
  describeFailure,
  UsageError,
  openCliEngine,
  parseEngineCliOptions,
  type EngineCliOptions,
} from '../engine-setup.js';

export interface DaemonOptions extends EngineCliOptions {
  /** Folders to add to the watched folders before starting (kept in the data directory). */
  folder?: string[];
  logger?: Logger;
  /** For tests: settle time before hashing (ms). */
  settleMs?: number;
}

export interface RunningDaemon {
  engine: KeepsakeEngine;
  dataDir: string;
  vaultUrl: string;
  embedded: boolean;
  /** Stops the engine (offsets kept), then the embedded vault. Idempotent. */
  close(): Promise<void>;
}

/** Starts the engine (and the embedded vault when no --to is given), adds folders, starts watching. */
export async function runDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const parsed = parseEngineCliOptions(options);
  const cli = await openCliEngine(parsed, {
    logger: options.logger ?? cliLogger('info'),
    ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
  });
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= cli.close());
  try {
    for (const f of options.folder ?? []) await cli.engine.api['folders.add']({ path: f });
    await cli.engine.start();
  } catch (err) {
    await close();
    throw err;
  }
  return {
    engine: cli.engine,
    dataDir: cli.dataDir,
    vaultUrl: cli.vaultUrl,
    embedded: cli.embedded,
    close,
  };
}

/** --ui-port: a TCP port, 0 = any free one. */
function parseUiPort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(port) || port > 65535) {
    throw new UsageError(`--ui-port: "${value}" is not a port (0-65535)`);
  }
  return port;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerDaemonCommand(program: Command): void {
  program
    .command('daemon')
    .description('Run the engine: watch the folders and back up every change until stopped')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--to <url>', 'vault URL (default: an embedded vault under the data directory)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--folder <dir>', 'add a folder to watch (repeatable; remembered)', collect)
    .option('--concurrency <n>', 'files uploaded at once (1-16, default 3)')
    .option(
      '--bwlimit <rate>',
      'upload bandwidth cap, e.g. 4M, or a schedule "Mon-08:00,2M Mon-18:00,off"',
    )
    .option('--chunk-size <size>', 'tus PATCH chunk size, e.g. 8M')
    .option('--ca-file <file>', 'extra CA bundle (PEM) for TLS inspection proxies')
    .option('--ui-port <port>', 'serve the web UI on 127.0.0.1:PORT (e.g. 7417; 0 = any free port)')
    .option('--ui-token <token>', 'the web UI token (default: a new random one each start)')
    .action(async (opts: DaemonOptions & { uiPort?: string; uiToken?: string }) => {
      // Listen for the stop signal from the first moment: a SIGTERM during startup must
      // still end in a clean stop (exit 0), not the default kill.
      let stopRequested = false;
      let wake: (() => void) | null = null;
      const stop = (signal: NodeJS.Signals) => {
        if (stopRequested) return;
        stopRequested = true;
        process.stderr.write(`keepsake daemon: ${signal}, stopping\n`);
        wake?.();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      let daemon: RunningDaemon;
      let ui: WebUi | null = null;
      try {
        const uiPort = opts.uiPort === undefined ? null : parseUiPort(opts.uiPort);
        daemon = await runDaemon(opts);
        if (uiPort !== null) {
          try {
            ui = await startWebUi({
              engine: daemon.engine,
              port: uiPort,
              ...(opts.uiToken !== undefined ? { token: opts.uiToken } : {}),
              logger: opts.logger ?? cliLogger('info'),
              // The e2e tests serve a renderer they built themselves.
              ...(process.env.KEEPSAKE_RENDERER_DIR
                ? { rendererDir: process.env.KEEPSAKE_RENDERER_DIR }
                : {}),
            });
          } catch (err) {
            await daemon.close();
            throw err;
          }
        }
      } catch (err) {
        const { code, line } = describeFailure(err);
        process.stderr.write(`keepsake daemon: ${line}\n`);
        process.exitCode = code;
        return;
      }
      const folders = await daemon.engine.api['folders.list']({});
      process.stdout.write(
        `keepsake daemon ready: ${folders.length} folder(s), vault ${daemon.vaultUrl}${daemon.embedded ? ' (embedded)' : ''}, data ${daemon.dataDir}\n`,
      );
      if (ui) process.stdout.write(`ui ${ui.url}\n`);
      if (!stopRequested) {
        await new Promise<void>((resolveStop) => {
          wake = resolveStop;
        });
      }
      await ui?.close();
      await daemon.close();
      process.stdout.write('keepsake daemon stopped\n');
      process.exitCode = 0;
    });
}
