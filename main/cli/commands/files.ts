// `keepsake files [--state STATE]... [--folder DIR] [--data-dir DIR] [--json]`: every file
// under the watched folders, skipped, excluded and missing ones included, and every folder
// that could not be read (state `unreadable`), one per line with its state and, where the
// state needs one, the reason. --json prints JSON lines {"path","state","reason","sha256",
// "size"} (and "pathB64" for a name that is not UTF-8). Reads the data directory through the
// engine's read-only snapshot (runtime/snapshot.ts), so it works beside a running daemon and
// changes nothing.
// Exit 0; 2 for bad input (an unknown state).
import { resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { fileStates } from '../../../common/contract.js';
import { displayPath, hasRawBytes, rawPathBytes } from '../../engine/raw-path.js';
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
      chunk += opts.json ? `${jsonLine(line)}\n` : `${humanLine(line)}\n`;
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

// A name that is not UTF-8 shows with U+FFFD for each byte that is not; in --json its exact
// bytes are added as "pathB64" (base64), so two names that show alike can be told apart. See
// [Note: Names that are not UTF-8] in main/engine/raw-path.ts.
function humanLine(line: FileListing): string {
  const reason = line.reason !== null ? `  (${displayPath(line.reason)})` : '';
  return `${line.state.padEnd(10)} ${displayPath(line.path)}${reason}`;
}

function jsonLine(line: FileListing): string {
  if (!hasRawBytes(line.path) && (line.reason === null || !hasRawBytes(line.reason))) {
    return JSON.stringify(line);
  }
  return JSON.stringify({
    ...line,
    path: displayPath(line.path),
    reason: line.reason === null ? null : displayPath(line.reason),
    ...(hasRawBytes(line.path) ? { pathB64: rawPathBytes(line.path).toString('base64') } : {}),
  });
}
