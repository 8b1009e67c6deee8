// `keepsake free-up [--folder DIR] [--older-than DAYS] [--dry-run] [--yes] [--json]`: makes room
// on this computer by moving backed-up photos and videos to the system's trash (never deleting
// them), each only after the vault re-verified it and its bytes were read again (see [Note:
// What may be freed up] in main/engine/free-up/free-up.ts). A freed file is "on the vault
// only" (vault_only) and `keepsake restore` puts it back.
//
// Folders opt in one by one: `--allow DIR` / `--disallow DIR` (off by default).
// Without --yes (and not --dry-run) it shows what would go and asks on a terminal; with no
// terminal it refuses (exit 2) rather than act. Exit 0 when it ran (kept files are not an
// error), 1 when it could not (the vault, the organisation), 2 for bad input, 130 when
// interrupted. Beside a running daemon or desktop app, that process does the work (See [Note:
// Commands beside a running Keepsake] in host/control-endpoint.ts).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type {
  CommandArgs,
  CommandName,
  CommandResult,
  Folder,
  FreeUpResult,
  FreeUpScope,
} from '../../../common/contract.js';
import { formatSize } from '../../../common/size-units.js';
import type { Engine } from '../../engine/api.js';
import { databasePath, defaultDataDir } from '../../engine/data-dir.js';
import { KeepsakeError } from '../../engine/errors.js';
import { displayJson, displayPath } from '../../engine/raw-path.js';
import { invokeRunning, runningKeepsake } from '../../host/control-endpoint.js';
import { cliLogger, cliPolicy, describeFailure, UsageError } from '../engine-setup.js';
import { chooseVault, type ChosenVault } from './verify.js';

interface FreeUpOptions {
  folder?: string;
  olderThan?: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  allow?: string;
  disallow?: string;
  to?: string;
  token?: string;
  caFile?: string;
  dataDir?: string;
}

export function registerFreeUpCommand(program: Command): void {
  program
    .command('free-up')
    .description(
      "Free up space: move backed-up files the vault just re-verified to the system's trash (folders opt in with --allow)",
    )
    .option('--folder <dir>', 'only files under this folder')
    .option('--older-than <days>', 'only files last modified more than this many days ago')
    .option('--dry-run', 'check everything and list what would go; move nothing')
    .option('--yes', 'do not ask (needed when there is no terminal to ask on)')
    .option('--json', 'print {"candidates","freed","freedBytes","kept"} as one JSON object')
    .option('--allow <dir>', 'allow freeing up space in this watched folder (off by default)')
    .option('--disallow <dir>', 'no longer allow freeing up space in this watched folder')
    .option('--to <url>', 'vault URL (default: the vault this data directory backs up to)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--ca-file <file>', 'extra CA bundle (PEM) for TLS inspection proxies')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .action(async (opts: FreeUpOptions) => {
      process.exitCode = await runFreeUpCommand(opts);
    });
}

/** One contract command, in the running Keepsake or in an engine opened here. */
type Invoke = <K extends CommandName>(
  command: K,
  args: CommandArgs<K>,
) => Promise<CommandResult<K>>;

function parseScope(opts: FreeUpOptions): FreeUpScope {
  const scope: FreeUpScope = {};
  if (opts.folder !== undefined) scope.folder = resolve(opts.folder);
  if (opts.olderThan !== undefined) {
    if (!/^\d+$/.test(opts.olderThan)) {
      throw new UsageError(
        `--older-than: expected a whole number of days, got "${opts.olderThan}"`,
      );
    }
    scope.olderThanDays = Number(opts.olderThan);
  }
  return scope;
}

export async function runFreeUpCommand(opts: FreeUpOptions): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let engine: Engine | null = null;
  let vault: ChosenVault | null = null;
  try {
    const scope = parseScope(opts);
    if (opts.allow !== undefined && opts.disallow !== undefined) {
      throw new UsageError('--allow and --disallow exclude each other');
    }
    const dataDir = resolve(opts.dataDir ?? process.env.KEEPSAKE_DATA_DIR ?? defaultDataDir());
    if (!existsSync(databasePath(dataDir))) {
      throw new UsageError(`no Keepsake data in ${dataDir} (nothing backed up from here yet)`);
    }
    let invoke: Invoke;
    const running = runningKeepsake(dataDir);
    if (running !== null) {
      const { control, pid } = running;
      if (control === null) {
        throw new UsageError(
          `another Keepsake (pid ${pid}) is using the data directory ${dataDir} (a backup or an import, or one still starting): run free-up again once it has finished`,
        );
      }
      invoke = async (command, args) => {
        const answer = await invokeRunning(control, command, args, abort.signal);
        if (!answer.ok) {
          throw new KeepsakeError(answer.error.code as KeepsakeError['code'], answer.error.message);
        }
        return answer.value;
      };
    } else {
      const { current: policy } = await cliPolicy('free-up', {});
      const { openDataDir, rememberedVaultIdentity } =
        await import('../../engine/runtime/recovery.js');
      const { systemClock } = await import('../../engine/ports.js');
      // Which vault it backs up to: asked of the data directory before the engine opens it.
      const peek = await openDataDir(dataDir, systemClock, cliLogger('warn'));
      const remembered = rememberedVaultIdentity(peek.store);
      peek.store.close();
      peek.lock.release();
      const needsVault = opts.allow === undefined && opts.disallow === undefined;
      vault = needsVault ? await chooseVault(opts, dataDir, remembered) : null;
      const { createEngine } = await import('../../engine/engine.js');
      engine = await createEngine({
        dataDir,
        logger: cliLogger('warn'),
        policy,
        createWatcher: null,
        metadataReader: null,
        vault:
          vault === null
            ? null
            : {
                url: vault.url,
                token: vault.token,
                embedded: vault.isEmbedded,
                ...(vault.caFile ? { caFile: vault.caFile } : {}),
              },
      });
      const api = engine.api;
      invoke = (command, args) =>
        (api[command] as (a: typeof args) => Promise<CommandResult<typeof command>>)(args);
    }

    if (opts.allow !== undefined || opts.disallow !== undefined) {
      const allowed = opts.allow !== undefined;
      const folder = await findFolder(invoke, resolve((opts.allow ?? opts.disallow)!));
      const updated = await invoke('folders.setFreeUp', { id: folder.id, allowed });
      const line = updated.freeUp
        ? `Freeing up space is allowed in ${updated.path}: keepsake free-up may move its backed-up files to the system's trash when you ask.`
        : `Freeing up space is not allowed in ${updated.path}: nothing there is ever moved.`;
      if (opts.json) {
        process.stdout.write(`${displayJson({ folder: updated.path, freeUp: updated.freeUp })}\n`);
      } else {
        process.stdout.write(`${line}\n`);
      }
      return 0;
    }

    if (opts.dryRun) {
      const plan = await invoke('freeUp.plan', scope);
      print(plan, opts, true);
      return 0;
    }
    let only: string[] | undefined;
    if (!opts.yes) {
      if (!process.stdin.isTTY || !process.stdout.isTTY) {
        throw new UsageError(
          'free-up moves files to the trash only when you confirm it: run it on a terminal, or give --yes (see what would go with --dry-run)',
        );
      }
      const plan = await invoke('freeUp.plan', scope);
      print(plan, { ...opts, json: false }, true);
      if (plan.candidates.length === 0) return 0;
      const total = formatSize(plan.candidates.reduce((n, c) => n + c.bytes, 0));
      const ask = createInterface({ input: process.stdin, output: process.stdout });
      let answer: string;
      try {
        // The end of the input (Ctrl-D) is a no, never a wait that does not end.
        const ended = new Promise<string>((resolveEnd) => ask.once('close', () => resolveEnd('')));
        answer = await Promise.race([
          ask.question(
            `Move ${plan.candidates.length === 1 ? 'this file' : `these ${files(plan.candidates.length)}`} (${total}) to the system's trash? They stay on the vault. [y/N] `,
          ),
          ended,
        ]);
      } finally {
        ask.close();
      }
      if (!/^y(es)?$/i.test(answer.trim())) {
        process.stdout.write('Nothing was moved.\n');
        return 0;
      }
      only = plan.candidates.map((c) => c.path);
    }
    const result = await invoke('freeUp.run', { ...scope, ...(only ? { only } : {}) });
    print(result, opts, false);
    return 0;
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write('keepsake free-up: interrupted\n');
      return 130;
    }
    if (err instanceof KeepsakeError && err.code === 'setting_locked') {
      process.stderr.write(`keepsake free-up: ${err.message}\n`);
      return 1;
    }
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake free-up: ${line}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await engine?.close();
    await vault?.embedded?.close();
  }
}

async function findFolder(invoke: Invoke, path: string): Promise<Folder> {
  const folders = await invoke('folders.list', {});
  const folder = folders.find((f) => f.path === path);
  if (folder === undefined) {
    const known = folders.map((f) => f.path).join(', ') || 'none';
    throw new UsageError(`${path} is not a watched folder (watched: ${known})`);
  }
  return folder;
}

/** "1 file", "12 files". */
function files(n: number): string {
  return `${n.toLocaleString('en-US')} file${n === 1 ? '' : 's'}`;
}

function print(r: FreeUpResult, opts: FreeUpOptions, planOnly: boolean): void {
  if (opts.json) {
    process.stdout.write(`${displayJson(r)}\n`);
    return;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  // Files of folders that did not opt in are told per folder, not one line each.
  const perReason = new Map<string, number>();
  for (const k of r.kept) perReason.set(k.reason, (perReason.get(k.reason) ?? 0) + 1);
  for (const k of r.kept) {
    if ((perReason.get(k.reason) ?? 0) > 20) continue;
    out(`kept   ${displayPath(k.path)}: ${k.reason}`);
  }
  for (const [reason, n] of perReason) {
    if (n > 20) out(`kept   ${files(n)}: ${reason}`);
  }
  if (planOnly) {
    for (const c of r.candidates)
      out(`would free  ${displayPath(c.path)} (${formatSize(c.bytes)})`);
    const bytes = r.candidates.reduce((n, c) => n + c.bytes, 0);
    out(
      `${files(r.candidates.length)} (${formatSize(bytes)}) can be freed up; ${r.kept.length.toLocaleString('en-US')} kept. Nothing was moved.`,
    );
    return;
  }
  for (const f of r.freed) out(`freed  ${displayPath(f.path)} (${formatSize(f.bytes)})`);
  out(
    `Freed up ${files(r.freed.length)} (${formatSize(r.freedBytes)}): moved to the system's trash, kept on the vault; ${r.kept.length.toLocaleString('en-US')} kept.`,
  );
}
