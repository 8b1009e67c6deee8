// How a one-off command reaches the Keepsake that holds a data directory (the daemon or the
// desktop app): while the host runs, the address and token of its contract API (the web UI
// server of main/web/, on loopback) are kept in <data-dir>/control.json ({url, token, pid},
// 0600, written whole by a rename, removed on close). See [Note: Commands beside a running
// Keepsake].
//
// Invariant: a reader trusts control.json only while the process it names holds the data
// directory's lock (keepsake.lock) and is alive; the token never leaves the file and the
// Authorization header.
//
// [Note: Commands beside a running Keepsake]
// The running host owns the data directory (its lock, its database, its queue). A command
// such as `keepsake verify` that needs the database cannot open it beside the host, and
// should not: a verify's results belong where the person sees them (the receipt on the
// Overview, repairs queued in the running engine, a line in Activity). So the command asks
// the running host to do the work through the same contract the UI uses (`verify.run` is the
// UI's "Verify now") and prints the answer as it would have printed its own. Reading the
// database read-only beside the writer was the other way; it would keep no receipt and queue
// no repair, so the next look at the Overview would contradict what the terminal said.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import {
  commands,
  type CommandArgs,
  type CommandName,
  type CommandResult,
  ErrorInfo,
} from '../../common/contract.js';
import { lockFileName } from '../engine/data-dir.js';

const controlFile = 'control.json';

export interface ControlEndpoint {
  /** http://127.0.0.1:PORT (no path, no token) */
  url: string;
  token: string;
}

/** Writes control.json for this process; remove() takes it away (only if still ours). */
export function publishControlEndpoint(
  dataDir: string,
  endpoint: ControlEndpoint,
): { remove(): void } {
  const path = join(dataDir, controlFile);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, JSON.stringify({ ...endpoint, pid: process.pid }), { mode: 0o600 });
  renameSync(temp, path);
  return {
    remove() {
      try {
        const written = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
        if (written.pid === process.pid) rmSync(path, { force: true });
      } catch {
        // already gone
      }
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
 * The Keepsake process holding the data directory right now, if another one does:
 * - null: none (this process may take the lock);
 * - { pid, control }: a live host whose contract API answers at control.url;
 * - { pid, control: null }: a live process holds the lock without offering its API (a
 *   `keepsake backup` run, an import, or a host still starting).
 */
export function runningKeepsake(
  dataDir: string,
): { pid: number; control: ControlEndpoint | null } | null {
  let holder: number;
  try {
    holder = Number.parseInt(readFileSync(join(dataDir, lockFileName), 'utf8').trim(), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid || !alive(holder)) {
    return null;
  }
  try {
    const written = JSON.parse(readFileSync(join(dataDir, controlFile), 'utf8')) as {
      url?: unknown;
      token?: unknown;
      pid?: unknown;
    };
    if (
      written.pid === holder &&
      typeof written.url === 'string' &&
      typeof written.token === 'string' &&
      written.token !== ''
    ) {
      return { pid: holder, control: { url: written.url, token: written.token } };
    }
  } catch {
    // none written (or unreadable)
  }
  return { pid: holder, control: null };
}

export type ControlAnswer<K extends CommandName> =
  { ok: true; value: CommandResult<K> } | { ok: false; error: ErrorInfo };

/**
 * Runs one contract command in the running host and returns its envelope. No timeout: a
 * command such as verify.run answers only when its work is done (hours on a large library);
 * aborting the signal drops the connection (the host finishes the command on its own).
 */
export function invokeRunning<K extends CommandName>(
  control: ControlEndpoint,
  command: K,
  args: CommandArgs<K>,
  signal: AbortSignal,
): Promise<ControlAnswer<K>> {
  const body = JSON.stringify(args);
  return new Promise((resolveAnswer, reject) => {
    const req = request(
      `${control.url}/api/invoke/${command}`,
      {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${control.token}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`the running Keepsake answered HTTP ${res.statusCode}: ${text}`));
            return;
          }
          try {
            const envelope = JSON.parse(text) as { ok?: unknown; value?: unknown; error?: unknown };
            if (envelope.ok === true) {
              resolveAnswer({
                ok: true,
                value: commands[command].result.parse(envelope.value) as CommandResult<K>,
              });
            } else {
              resolveAnswer({ ok: false, error: ErrorInfo.parse(envelope.error) });
            }
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
