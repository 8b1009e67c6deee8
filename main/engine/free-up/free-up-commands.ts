// The contract's free-up commands inside a running engine (the desktop app, the daemon's web UI,
// and `keepsake free-up` beside either): the Storage page's offer (freeUp.estimate), the checks
// alone (freeUp.plan) and the free-up itself (freeUp.run). See free-up.ts.
//
// Invariant: one free-up at a time per engine; what it freed is in the activity list before it
// answers.
import type { ActivityEvent, KeepsakeApi } from '../../../common/contract.js';
import { KeepsakeError } from '../errors.js';
import { type FreeUp, freedSentence } from './free-up.js';

export type FreeUpCommands = Pick<KeepsakeApi, 'freeUp.estimate' | 'freeUp.plan' | 'freeUp.run'>;

export interface FreeUpCommandsOptions {
  freeUp: FreeUp;
  /** Aborted when the engine closes. */
  signal: AbortSignal;
  activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
  /** File states changed: the status and the folders' counts. */
  changed: () => void;
}

export function createFreeUpCommands(options: FreeUpCommandsOptions): FreeUpCommands {
  const { freeUp, signal } = options;
  let running = false;
  async function once<T>(work: () => Promise<T>): Promise<T> {
    if (running) throw new KeepsakeError('invalid_argument', 'Space is being freed up already.');
    running = true;
    try {
      return await work();
    } finally {
      running = false;
    }
  }
  return {
    'freeUp.estimate': () => Promise.resolve(freeUp.estimate()),
    'freeUp.plan': (scope) => once(() => freeUp.plan(scope, signal)),
    'freeUp.run': (scope) =>
      once(async () => {
        const result = await freeUp.run(scope, signal);
        if (result.freed.length > 0) {
          options.activity({
            level: 'info',
            message: freedSentence(result),
            path: null,
            code: 'freed_up',
          });
          options.changed();
        }
        return result;
      }),
  };
}
