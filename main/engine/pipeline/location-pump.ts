// Where each file lives, told to the vault (issue 10 section 1): every backed-up and duplicate
// file's place (device, folder label, path inside the folder as raw bytes, size, mtime) is
// registered in batches of up to 1,000, and a file that went missing, or whose watched folder
// was removed (a tombstone), has its place marked gone.
// It never moves a file's state and never holds an upload up.
//
// Invariant: a file's location columns (location_sha256, location_mtime_ms) say what the
// vault was told and confirmed, never more: they are written only after the vault answered
// the batch holding the file. So a restart resends exactly what is unsent, and a crash costs
// at most the batch in flight (registering is idempotent on the vault).
//
// [Note: Location pump]
// - Work comes from two places: at start, one paged query over the store (locationsPending);
//   afterwards, the store's committed transitions (a file that became safe or missing). No
//   polling.
// - A file's place is its folder's label (the watched folder's name; see folderLabels) and its
//   path inside the folder, as raw bytes (`pathB64`: a name need not be UTF-8).
// - The vault answering as a whole with an error (down, 5xx) is retried with the shared
//   backoff; an item refused alone (not_held, size_mismatch) is left unregistered for this
//   run, logged, and kept on the file (locationRefused) as a problem the person sees in
//   status, files and the Queue: the next start offers it again, and a place the vault
//   records clears it.
import { setMaxListeners } from 'node:events';
import { basename } from 'node:path';
import type { RegisterLocationsRequest } from '../../../common/vault-protocol.js';
import type { DeviceIdentity } from '../device.js';
import { isAbortError, KeepsakeError } from '../errors.js';
import { rawPathBytes } from '../raw-path.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import type { FileRecord, FolderRecord, LocationTombstone, Store } from '../store/store.js';
import type { VaultClient } from '../vault/vault-client.js';
import { backoffDelay, defaultBackoff } from './backoff.js';
import { detached } from './detached.js';
import { safeStates } from './transitions.js';

const batchSize = 1000;

export interface LocationPumpOptions {
  store: Store;
  vault: VaultClient;
  clock: Clock;
  logger: Logger;
  /** Read on every batch, so a rename of the device applies from the next one. */
  device: () => DeviceIdentity;
  /** Do not send (paused). Read on each pass. */
  sendingAllowed: () => boolean;
  events: { pauseRequired(reason: 'sign_in_needed', message: string): void };
}

export interface LocationPump {
  kick(): void;
  /** Nothing waiting to be told to the vault, nothing in flight (held items aside). */
  drained(): boolean;
  close(): Promise<void>;
}

/**
 * Each watched folder's label on the vault: its name (the last segment of its path). Two
 * watched folders with one name are told apart by the later one's id, "Photos (7)", so a
 * label stays the same for a folder as long as it is watched.
 */
export function folderLabels(folders: readonly FolderRecord[]): Map<number, string> {
  const labels = new Map<number, string>();
  const taken = new Set<string>();
  for (const folder of [...folders].sort((a, b) => a.id - b.id)) {
    let name = basename(folder.path).replace(/\0/g, '').slice(0, 240);
    if (name === '' || name === '.' || name === '..') name = 'root';
    const label = taken.has(name) ? `${name} (${folder.id})` : name;
    taken.add(label);
    labels.set(folder.id, label);
  }
  return labels;
}

/**
 * Raw bytes of a path inside its folder, '/'-separated: the exact bytes of a name that is not
 * UTF-8 (see [Note: Names that are not UTF-8] in raw-path.ts), so restore gives it back as it was.
 */
export function relPathBytes(relPath: string): Buffer {
  return rawPathBytes(relPath.split('\\').join('/'));
}

/**
 * A photo that was backed up and is now empty (emptiedFrom) is never registered: its place on
 * the vault keeps the earlier version (registering would mark that one gone).
 */
function needsRegistering(f: FileRecord): f is FileRecord & { sha256: string } {
  return (
    safeStates.includes(f.state) &&
    f.sha256 !== null &&
    f.emptiedFrom === null &&
    (f.locationSha256 !== f.sha256 || f.locationMtimeMs !== f.mtimeMs)
  );
}

function needsGone(f: FileRecord): boolean {
  return f.state === 'missing' && f.locationSha256 !== null;
}

export function createLocationPump(options: LocationPumpOptions): LocationPump {
  const { store, vault, clock, logger } = options;
  const controller = new AbortController();
  setMaxListeners(20, controller.signal);
  /** File ids that may need telling, in no order; checked against the store when sent. */
  const pending = new Set<number>();
  /** Refused by the vault this run (offered again on the next start). */
  const held = new Set<number>();
  let loaded = false;
  let sending = false;
  let queued = false;
  let closed = false;
  let retryTimer: TimerHandle | null = null;
  let failures = 0;
  let labels = new Map<number, string>();

  const unsubscribe = store.onCommitted((changes) => {
    let any = false;
    for (const { file } of changes) {
      if (needsRegistering(file) || needsGone(file)) {
        pending.add(file.id);
        held.delete(file.id);
        any = true;
      }
    }
    if (any) kick();
  });

  function loadBacklog(): void {
    let after = 0;
    for (;;) {
      const rows = store.locationsPending(after, 5000);
      for (const r of rows) pending.add(r.id);
      const last = rows.at(-1);
      if (last === undefined || rows.length < 5000) break;
      after = last.id;
    }
    loaded = true;
  }

  function kick(): void {
    if (closed || queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      void detached(sendAll(), { store, logger, what: 'sending places' });
    });
  }

  function labelOf(folderId: number): string | null {
    if (!labels.has(folderId)) labels = folderLabels(store.listFolders());
    return labels.get(folderId) ?? null;
  }

  async function sendAll(): Promise<void> {
    if (sending || closed || retryTimer !== null || !options.sendingAllowed()) return;
    sending = true;
    try {
      if (!loaded) loadBacklog();
      while (!closed && options.sendingAllowed() && pending.size > 0) {
        const ids = [...pending].slice(0, batchSize);
        for (const id of ids) pending.delete(id);
        if (!(await sendBatch(ids))) {
          for (const id of ids) pending.add(id);
          return;
        }
      }
      while (!closed && options.sendingAllowed()) {
        const tombstones = store.locationTombstones(batchSize);
        if (tombstones.length === 0 || !(await sendTombstones(tombstones))) return;
      }
    } finally {
      sending = false;
    }
  }

  /** One batch of files: false when the vault failed as a whole (retry scheduled) or paused. */
  async function sendBatch(ids: number[]): Promise<boolean> {
    const register: { file: FileRecord & { sha256: string }; label: string }[] = [];
    const gone: { file: FileRecord; label: string }[] = [];
    for (const id of ids) {
      const file = store.getFile(id);
      if (file === null) continue;
      const label = labelOf(file.folderId);
      if (label === null) continue; // the folder was removed meanwhile
      if (needsRegistering(file)) register.push({ file, label });
      else if (needsGone(file)) gone.push({ file, label });
    }
    const device = options.device();
    return guarded(async () => {
      if (register.length > 0) {
        const items: RegisterLocationsRequest['locations'] = register.map(({ file, label }) => ({
          sha256: file.sha256,
          folder: label,
          pathB64: relPathBytes(file.relPath).toString('base64'),
          size: file.size,
          mtimeMs: file.mtimeMs,
        }));
        const results = await vault.registerLocations(device, items, controller.signal);
        register.forEach(({ file }, i) => {
          const result = results[i];
          if (result?.ok === true) {
            settle(file.id, file.sha256, file.mtimeMs);
          } else {
            held.add(file.id);
            const words = result?.message ?? result?.error ?? 'no answer for this file';
            if (store.getFile(file.id) !== null) store.update(file.id, { locationRefused: words });
            logger.warn('the vault did not record where a file is kept', {
              path: file.path,
              error: result?.error,
              message: result?.message,
            });
          }
        });
      }
      if (gone.length > 0) {
        await vault.markLocationsGone(
          device.id,
          gone.map(({ file, label }) => ({
            folder: label,
            pathB64: relPathBytes(file.relPath).toString('base64'),
            ...(file.locationSha256 !== null ? { sha256: file.locationSha256 } : {}),
          })),
          controller.signal,
        );
        for (const { file } of gone) settle(file.id, null, null);
      }
    });
  }

  /**
   * Places of a removed folder's files: marked gone on the vault (only where it still holds
   * the content we told it), then forgotten. false when the vault failed (retry scheduled).
   */
  async function sendTombstones(tombstones: readonly LocationTombstone[]): Promise<boolean> {
    const device = options.device();
    const ok = await guarded(() =>
      vault.markLocationsGone(
        device.id,
        tombstones.map((t) => ({
          folder: t.folder,
          pathB64: t.path.toString('base64'),
          sha256: t.sha256,
        })),
        controller.signal,
      ),
    );
    if (ok) store.dropLocationTombstones(tombstones.map((t) => t.id));
    return ok;
  }

  /**
   * Runs one request to the vault: false when it failed as a whole (a retry is scheduled with
   * the shared backoff, or the engine pauses on a refused token) or the pump is closing.
   */
  async function guarded(request: () => Promise<unknown>): Promise<boolean> {
    try {
      await request();
    } catch (err) {
      if (isAbortError(err) || closed) return false;
      if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
        options.events.pauseRequired('sign_in_needed', err.message);
        return false;
      }
      failures++;
      const delay = backoffDelay(defaultBackoff, failures);
      logger.warn('registering file locations failed; will retry', {
        error: String(err),
        delay,
      });
      retryTimer = clock.setTimeout(() => {
        retryTimer = null;
        kick();
      }, delay);
      retryTimer.unref?.();
      return false;
    }
    failures = 0;
    return true;
  }

  /**
   * Records what the vault now holds at the file's place (only one batch is ever in flight,
   * so nothing newer can be overwritten), and looks at the file again if it moved on.
   */
  function settle(id: number, sha256: string | null, mtimeMs: number | null): void {
    if (store.getFile(id) === null) return;
    store.update(id, { locationSha256: sha256, locationMtimeMs: mtimeMs, locationRefused: null });
    const now = store.getFile(id);
    if (now === null) return;
    // Only what moved since the batch was built (never the same registration again).
    const moved = now.sha256 !== sha256 || now.mtimeMs !== mtimeMs;
    if ((needsRegistering(now) && moved) || (needsGone(now) && sha256 !== null)) pending.add(id);
  }

  return {
    kick,
    drained() {
      if (sending || queued) return false;
      if (!options.sendingAllowed()) return true;
      return (
        loaded &&
        pending.size === 0 &&
        retryTimer === null &&
        store.locationTombstones(1).length === 0
      );
    },
    async close() {
      closed = true;
      unsubscribe();
      if (retryTimer !== null) clock.clearTimeout(retryTimer);
      controller.abort();
      // a batch in flight ends on the abort; its files stay unsent for the next start
      while (sending) await clock.sleep(10);
    },
  };
}
