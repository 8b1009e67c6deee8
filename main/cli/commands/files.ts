// `keepsake files [--state STATE]... [--folder DIR] [--data-dir DIR] [--json]`: every file
// under the watched folders, skipped, excluded and missing ones included, and every folder
// that could not be read (state `unreadable`), one per line with its state and, where the
// state needs one, the reason. --json prints JSON lines {"path","state","reason","sha256",
// "size"}. Reads the data directory through the engine's read-only snapshot
// (runtime/snapshot.ts), so it works beside a running daemon and changes nothing.
// Exit 0; 2 for bad input (an unknown state).
import { resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { fileStates } from '../../../common/contract.js';
import { listEveryFile, type FileListing } from '../../engine/runtime/snapshot.js';
import { describeFailure, parseEngineCliOptions, UsageError } from '../engine-setup.js';

interface FilesOptions {
  state?: string[];
  folder?: string;
  dataDir?: string;
  json?: boolean;
}

const listedStates: readonly string[] = [...fileStates, 'unreadable'];

export function registerFilesCommand(program: Command): void {
  program
    .command('files')
    .description(
      'List every file under the watched folders with its state and why (skipped, excluded and unreadable folders too)',
    )
    .option(
      '--state <state>',
      `only files in this state (repeatable): ${listedStates.join(', ')}`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--folder <dir>', 'only files in this folder (or below it)')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--json', 'print JSON lines {"path","state","reason","sha256","size"}')
    .action((opts: FilesOptions) => {
      process.exitCode = runFiles(opts);
    });
}

export function runFiles(opts: FilesOptions): number {
  try {
    const { dataDir } = parseEngineCliOptions({
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    });
    const states = new Set(opts.state ?? []);
    for (const s of states) {
      if (!listedStates.includes(s)) {
        throw new UsageError(`unknown state "${s}" (one of: ${listedStates.join(', ')})`);
      }
    }
    const folder = opts.folder === undefined ? null : resolve(opts.folder);
    const under = folder === null ? null : folder.endsWith(sep) ? folder : folder + sep;
    const wanted = (line: FileListing): boolean =>
      (states.size === 0 || states.has(line.state)) &&
      (folder === null || line.path === folder || line.path.startsWith(under ?? ''));
    // Written in chunks: a listing of 100,000 files is not held as one string.
    let chunk = '';
    const flush = (): void => {
      if (chunk !== '') process.stdout.write(chunk);
      chunk = '';
    };
    listEveryFile(dataDir, (line) => {
      if (!wanted(line)) return;
      chunk += opts.json ? `${JSON.stringify(line)}\n` : `${humanLine(line)}\n`;
      if (chunk.length > 64 * 1024) flush();
    });
    flush();
    return 0;
  } catch (err) {
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake files: ${line}\n`);
    return code;
  }
}

function humanLine(line: FileListing): string {
  return `${line.state.padEnd(10)} ${line.path}${line.reason !== null ? `  (${line.reason})` : ''}`;
}
