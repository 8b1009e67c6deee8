// How the vault's long maintenance commands (scrub, sweep, migrate) run: Ctrl-C or SIGTERM
// aborts the work through its signal and exits 130 saying so; a failure a person can act on
// (a VaultStartError, or an error class the command names) is one line and exit 1; anything
// else is a bug and is thrown with its stack.
import { VaultStartError } from '../../../server/start-error.js';

type ErrorClass = abstract new (...args: never[]) => Error;

export async function runMaintenance(
  what: string,
  work: (signal: AbortSignal) => Promise<void>,
  opts: { interrupted?: string; errors?: readonly ErrorClass[] } = {},
): Promise<void> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await work(abort.signal);
  } catch (err) {
    if ([VaultStartError, ...(opts.errors ?? [])].some((c) => err instanceof c)) {
      console.error(`keepsake vault ${what}: ${(err as Error).message}`);
      process.exitCode = 1;
      return;
    }
    if (abort.signal.aborted) {
      console.error(`keepsake vault ${what}: ${opts.interrupted ?? 'interrupted'}`);
      process.exitCode = 130;
      return;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
