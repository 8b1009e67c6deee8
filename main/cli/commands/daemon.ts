// `keepsake daemon`: the host (main/host/: engine, vault, and the web UI with --ui-port)
// running until SIGINT/SIGTERM, on which it stops cleanly (in-flight uploads keep their
// confirmed offsets).
import type { Command } from 'commander';
import { startHost, type Host } from '../../host/host.js';
import { watchLinuxPower, type PowerSignals } from '../../engine/power/linux-power.js';
import { watchNetworkCost } from '../../engine/power/network-cost.js';
import { enrolAsToldOrByPolicy, enrolIfAsked, rememberEnrolment } from '../enrol.js';
import {
  cliLogger,
  cliPolicy,
  describeFailure,
  UsageError,
  parseEngineCliOptions,
  type EngineCliOptions,
} from '../engine-setup.js';

export interface DaemonOptions extends EngineCliOptions {
  /** Folders to add to the watched folders before starting (kept in the data directory). */
  folder?: string[];
  uiPort?: string;
  uiToken?: string;
}

/** --ui-port: a TCP port, 0 = any free one. */
function parseUiPort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(port) || port > 65535) {
    throw new UsageError(`--ui-port: "${value}" is not a port (0-65535)`);
  }
  return port;
}

/**
 * The battery and metered signals pause-on-battery / pause-on-metered act on: read on Linux
 * (engine/power/linux-power.ts), the metered one on Windows (engine/power/network-cost.ts);
 * elsewhere the headless daemon cannot tell. A setting that is on
 * while its signal is unknown is said once on stderr (and status.power shows null).
 */
function followPowerSignals(daemon: Host): { stop(): void } {
  let warned = false;
  const feed = (s: PowerSignals) => {
    daemon.engine.setPowerState({
      onBattery: s.onBattery ?? false,
      metered: s.metered ?? false,
      batteryKnown: s.onBattery !== null,
      meteredKnown: s.metered !== null,
    });
    if (warned) return;
    warned = true;
    void daemon.engine.api['settings.get']({}).then((settings) => {
      if (settings.pauseOnBattery.value && s.onBattery === null) {
        process.stderr.write(
          'keepsake daemon: pause on battery is on, but whether this computer runs on battery is unknown here (no /sys/class/power_supply): it cannot pause for it\n',
        );
      }
      if (settings.pauseOnMetered.value && s.metered === null) {
        process.stderr.write(
          'keepsake daemon: pause on metered networks is on, but whether the network is metered is unknown here (no NetworkManager / nmcli on Linux, no Windows PowerShell on Windows, no way at all on macOS): it cannot pause for it\n',
        );
      }
    });
  };
  if (process.platform === 'linux') {
    return watchLinuxPower({
      ...(process.env.KEEPSAKE_POWER_SUPPLY_ROOT
        ? { powerSupplyRoot: process.env.KEEPSAKE_POWER_SUPPLY_ROOT }
        : {}),
      onSignals: feed,
    });
  }
  if (process.platform === 'win32') {
    // The connection cost API through PowerShell; the battery stays unknown.
    return watchNetworkCost({ onMetered: (metered) => feed({ onBattery: null, metered }) });
  }
  feed({ onBattery: null, metered: null });
  return { stop() {} };
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
    .option(
      '--enroll <code>',
      "with --to: exchange the vault administrator's one-time enrolment code for this computer's own token (remembered)",
    )
    .option('--folder <dir>', 'add a folder to watch (repeatable; remembered)', collect)
    .option('--concurrency <n>', 'files uploaded at once (1-16, default 3)')
    .option(
      '--bwlimit <rate>',
      'upload bandwidth cap in binary units, e.g. 4M (= 4 MiB/s), or a schedule "Mon-08:00,2M Mon-18:00,off"',
    )
    .option('--chunk-size <size>', 'tus PATCH chunk size, e.g. 8M (= 8 MiB)')
    .option('--ca-file <file>', 'extra CA bundle (PEM) for TLS inspection proxies')
    .option('--ui-port <port>', 'serve the web UI on 127.0.0.1:PORT (e.g. 7417; 0 = any free port)')
    .option('--ui-token <token>', 'the web UI token (default: a new random one each start)')
    .action(async (opts: DaemonOptions) => {
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
      let daemon: Host;
      let enrolled: Awaited<ReturnType<typeof enrolIfAsked>> = null;
      try {
        const uiPort = opts.uiPort === undefined ? null : parseUiPort(opts.uiPort);
        const parsed = parseEngineCliOptions(opts);
        const policy = await cliPolicy('daemon', opts);
        enrolled = await enrolAsToldOrByPolicy('daemon', parsed, policy.current);
        daemon = await startHost({
          policy,
          dataDir: parsed.dataDir,
          vault: parsed.vault,
          logger: cliLogger('info'),
          engine: { overrides: parsed.overrides },
          folders: opts.folder ?? [],
          ui:
            uiPort === null
              ? null
              : {
                  port: uiPort,
                  ...(opts.uiToken !== undefined ? { token: opts.uiToken } : {}),
                  // The e2e tests serve a renderer they built themselves.
                  ...(process.env.KEEPSAKE_RENDERER_DIR
                    ? { rendererDir: process.env.KEEPSAKE_RENDERER_DIR }
                    : {}),
                },
        });
      } catch (err) {
        const { code, line } = describeFailure(err);
        process.stderr.write(`keepsake daemon: ${line}\n`);
        process.exitCode = code;
        return;
      }
      if (enrolled !== null) {
        await rememberEnrolment(daemon.engine, enrolled, daemon.policy);
        process.stdout.write(`keepsake daemon: enrolled with the vault at ${enrolled.url}\n`);
      }
      const power = followPowerSignals(daemon);
      const folders = await daemon.engine.api['folders.list']({});
      process.stdout.write(
        `keepsake daemon ready: ${folders.length} folder(s), ${daemon.embeddedDir !== null ? `the embedded vault in ${daemon.embeddedDir} (${daemon.vaultUrl}, on this computer)` : `vault ${daemon.vaultUrl}`}, data ${daemon.dataDir}\n`,
      );
      if (daemon.ui) process.stdout.write(`ui ${daemon.ui.url}\n`);
      if (!stopRequested) {
        await new Promise<void>((resolveStop) => {
          wake = resolveStop;
        });
      }
      power.stop();
      await daemon.close();
      process.stdout.write('keepsake daemon stopped\n');
      process.exitCode = 0;
    });
}
