// The one place where a command from any UI transport meets the engine's API. Both transports
// (Electron IPC in main/app/ipc.ts, the web UI in main/web/server.ts) call dispatchCommand, so
// they validate with the same schemas and answer the same Envelopes.
//
// Invariant: nothing reaches `api` unless the command name is a known contract command and its
// arguments parsed with that command's zod schema; nothing leaves except an Envelope whose
// value parsed with the command's result schema, or an error as data. Never throws.
//
// Pure module: imports zod and the contract only (no Node, no Electron).
import type { z } from 'zod';
import {
  commands,
  type CommandName,
  type Envelope,
  type ErrorInfo,
  type KeepsakeApi,
} from './contract.js';

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(commands, name);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : '(arguments)';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

export function invalidArgument(message: string): ErrorInfo {
  return { name: 'KeepsakeError', code: 'invalid_argument', message, retryable: false };
}

/** Turns anything thrown by the engine into ErrorInfo (KeepsakeError keeps code and retryable). */
export function errorInfoFrom(err: unknown): ErrorInfo {
  if (typeof err === 'object' && err !== null) {
    const e = err as { name?: unknown; code?: unknown; message?: unknown; retryable?: unknown };
    if (typeof e.code === 'string' && typeof e.retryable === 'boolean') {
      return {
        name: typeof e.name === 'string' ? e.name : 'Error',
        code: e.code,
        message: typeof e.message === 'string' ? e.message : e.code,
        retryable: e.retryable,
      };
    }
  }
  return {
    name: err instanceof Error ? err.name : 'Error',
    code: 'internal',
    message: err instanceof Error ? err.message : String(err),
    retryable: false,
  };
}

/**
 * Validates `rawArgs` for `name`, calls the engine, validates the result.
 * `onInvalidResult` hears about a result that breaks the contract (an engine bug): the caller
 * logs it; the UI gets an `internal` error rather than data it cannot trust.
 */
export async function dispatchCommand(
  api: KeepsakeApi,
  name: unknown,
  rawArgs: unknown,
  onInvalidResult?: (command: CommandName, problem: string) => void,
): Promise<Envelope<unknown>> {
  if (!isCommandName(name)) {
    return {
      ok: false,
      error: invalidArgument(`Unknown command: ${String(name).slice(0, 100)}`),
    };
  }
  const spec = commands[name];
  const parsed = spec.args.safeParse(rawArgs ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      error: invalidArgument(`Invalid arguments for ${name}: ${describeIssues(parsed.error)}`),
    };
  }
  let value: unknown;
  try {
    const method = api[name] as (args: unknown) => Promise<unknown>;
    value = await method.call(api, parsed.data);
  } catch (err) {
    return { ok: false, error: errorInfoFrom(err) };
  }
  const checked = spec.result.safeParse(value);
  if (!checked.success) {
    const problem = describeIssues(checked.error);
    onInvalidResult?.(name, problem);
    return {
      ok: false,
      error: {
        name: 'KeepsakeError',
        code: 'internal',
        message: `The engine answered ${name} with data the UI cannot use (${problem})`,
        retryable: false,
      },
    };
  }
  return { ok: true, value: checked.data };
}
