// Opening a data directory, and what the engine puts right in the store before anything runs:
// a damaged database (set aside and rebuilt, with the person's folders and settings put back),
// a vault other than last time's, and work a crash or a kill cut short.
//
// Invariants: after recoverInterrupted nothing is left hashing or uploading; after a vault
// change nothing counts as safe until the new vault said it has it (the stored hashes stand:
// every such file is only asked about again, and uploaded only if the new vault lacks it).
import { mkdir } from 'node:fs/promises';
import { databasePath, lockDataDir, type DataDirLock } from '../data-dir.js';
import type { Clock, Logger } from '../ports.js';
import type { KeepsakeError } from '../errors.js';
import { openDatabase } from '../store/database.js';
import { transitions } from '../pipeline/transitions.js';
import {
  readChoices,
  restoreChoices,
  salvageChoices,
  saveChoices,
  savingChoices,
} from '../store/person-choices.js';
import { createStore, type Store } from '../store/store.js';

/** Settings-table key remembering which vault the safe states refer to (not a user setting). */
const vaultIdentityKey = 'engine.vaultIdentity';

/**
 * The identity of the vault for "is it the same one as last time": an embedded vault changes
 * port every run, so it is one identity.
 */
export function vaultIdentityOf(vault: { url: string; embedded?: boolean }): string {
  return vault.embedded ? 'embedded' : vault.url.replace(/\/+$/, '');
}

/** The identity of the vault this data directory last backed up to (vaultIdentityOf), if any. */
export function rememberedVaultIdentity(store: Store): string | null {
  const v = store.userSettings().get(vaultIdentityKey);
  return typeof v === 'string' && v !== '' ? v : null;
}

/** A different vault than last time: what was safe there is not known to be safe here. */
export function forgetSafetyOnVaultChange(store: Store, identity: string): void {
  const previous = store.userSettings().get(vaultIdentityKey);
  if (previous !== undefined && previous !== identity) {
    let n = 0;
    store.batch(() => {
      for (const id of store.safeFileIds()) {
        if (store.apply(id, transitions.vaultChanged())) n++;
      }
    });
    if (n > 0) {
      store.addActivity({
        level: 'info',
        message: `The vault changed: checking ${n} files against the new vault (only what it lacks is uploaded)`,
        path: null,
        code: null,
      });
    }
  }
  if (previous !== identity) store.setSetting(vaultIdentityKey, identity);
}

/** Recover from a crash: nothing stays hashing or uploading. */
export function recoverInterrupted(store: Store): void {
  store.batch(() => {
    for (const f of store.interruptedFiles()) {
      // An upload cut by a crash may have completed on the vault before its answer arrived:
      // ask the vault again (dedup) before sending anything; the URL and offset stay for a resume.
      store.apply(
        f.id,
        f.state === 'hashing' ? transitions.hashInterrupted() : transitions.uploadInterrupted(),
      );
    }
  });
}

/**
 * Locks the data directory (made if need be) and opens its store; a damaged database is set
 * aside and said so. The lock is released again if the store cannot be opened.
 */
export async function openDataDir(
  dataDir: string,
  clock: Clock,
  logger: Logger,
  onFault?: (fault: KeepsakeError) => void,
): Promise<{ lock: DataDirLock; store: Store }> {
  // Make the directory first (async), so the lock and database land in it.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = lockDataDir(dataDir);
  try {
    return { lock, store: openStore(dataDir, clock, logger, onFault) };
  } catch (err) {
    lock.release();
    throw err;
  }
}

function openStore(
  dataDir: string,
  clock: Clock,
  logger: Logger,
  onFault?: (fault: KeepsakeError) => void,
): Store {
  const file = databasePath(dataDir);
  const opened = openDatabase(file, { logger, clock });
  const base = createStore(opened.db, clock, { file, ...(onFault ? { onFault } : {}) });
  // The person's folders and settings outlive a rebuilt database: See [Note: Choices outlive a
  // rebuilt database] in store/person-choices.ts.
  let kept = '';
  if (opened.setAside) {
    const choices = readChoices(dataDir) ?? salvageChoices(opened.setAside);
    if (choices !== null) {
      const restored = restoreChoices(base, choices);
      kept = ` Your ${restored.folders} watched folder${restored.folders === 1 ? '' : 's'} and ${restored.settings} setting${restored.settings === 1 ? '' : 's'} were kept.`;
      logger.info('watched folders and settings restored after the rebuild', restored);
    } else {
      logger.error('no copy of the watched folders and settings to restore after the rebuild');
      kept = ' Its watched folders and settings could not be recovered: add your folders again.';
    }
  }
  const onSaveFailed = (err: unknown) =>
    logger.warn('could not keep a copy of the watched folders and settings', {
      error: String(err),
    });
  try {
    saveChoices(dataDir, base);
  } catch (err) {
    onSaveFailed(err);
  }
  const store = savingChoices(base, dataDir, onSaveFailed);
  if (opened.setAside) {
    store.addActivity({
      level: 'warning',
      message: `The database was damaged; it was set aside as ${opened.setAside} and rebuilt from disk and the vault.${kept}`,
      path: opened.setAside,
      code: 'internal',
    });
  }
  return store;
}
