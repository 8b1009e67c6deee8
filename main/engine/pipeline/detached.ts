// [Note: Detached work]
// Each stage starts work nobody awaits: a file being hashed, read or uploaded, a batch being
// sent. Whatever such a task throws would be an unhandled rejection, and Node ends the process
// on one. The store throws from any read once it meets a damaged database (see [Note: Store
// fault mode]), and a task meets it after an await, wherever it happens to be: a daemon that
// met it in the metadata reader's callback died instead of rebuilding (CI, 2026-11-29). So a
// detached task ends here: the store's fault has already been told (onFault, once), so it ends
// the task quietly; anything else is a bug, logged as an error, and the other files go on.
import type { Logger } from '../ports.js';
import type { Store } from '../store/store.js';

/** Runs `task` to its end without anyone awaiting it. See [Note: Detached work]. */
export function detached(
  task: Promise<unknown>,
  context: { store: Pick<Store, 'fault'>; logger: Logger; what: string },
): Promise<void> {
  return task.then(
    () => undefined,
    (err: unknown) => {
      const fault = context.store.fault();
      if (fault !== null && err === fault) return;
      context.logger.error(`${context.what} failed`, { error: String(err) });
    },
  );
}
