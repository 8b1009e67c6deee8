// The watched folders at run time: one watcher per folder (its events are hints), reconcile
// scans (the truth: at start, on request, after a watcher overflow or an offline folder
// coming back, and periodically), and the folder commands (add, remove, change rules).
//
// Invariants: at most one scan per folder runs at a time (a request during a scan queues one
// more pass, never a second concurrent scan); a watcher is started before the folder's first
// scan, so a change falls either after the watcher is ready or before the scan reads it; a
// folder whose root is gone is shown offline and its files are kept as they were; after
// close() nothing new is scanned or watched.
import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ActivityEvent, Folder } from '../../../common/contract.js';
import { KeepsakeError } from '../errors.js';
import { fsPath } from '../raw-path.js';
import { identityOf } from '../hash/index.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import type { StatPath } from '../pipeline/hash-pump.js';
import { detached } from '../pipeline/detached.js';
import { folderLabels } from '../pipeline/location-pump.js';
import {
  applyEntry,
  applyGone,
  reconcileFolder,
  relativeTo,
  type ReconcileContext,
  type ReconcileCounts,
} from '../pipeline/reconcile.js';
import type { FolderRecord, Store } from '../store/store.js';
import type {
  ChangeHint,
  Classification,
  FolderRules,
  FolderWatchStatus,
  ScanEntry,
  ScanResult,
} from '../watch/types.js';
import type { FileIdentity } from '../hash/types.js';
import { emptiedWords, folderView } from './status.js';

/** The part of a folder watcher the engine uses (watch/watcher.ts builds it). */
export interface FolderWatcherHandle {
  close(): Promise<void>;
  /** The watcher's own view (watching, polling with the reason, offline). */
  readonly status?: FolderWatchStatus;
}

export interface WatcherFactoryOptions {
  root: string;
  rules: FolderRules;
  logger: Logger;
  clock: Clock;
  onHints(hint: ChangeHint): void;
  onStatus(status: FolderWatchStatus): void;
}

/** The production StatPath: lstat, null when the path is not there. */
export const lstatPath: StatPath = async (path) => {
  try {
    const s = await lstat(fsPath(path));
    return {
      kind: s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other',
      identity: identityOf(s),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
};

export type ScanFolder = (
  root: string,
  rules: FolderRules,
  signal?: AbortSignal,
) => Promise<ScanResult>;
export type ClassifyPath = (relPath: string, rules: FolderRules) => Classification;
export type CreateWatcher = (options: WatcherFactoryOptions) => Promise<FolderWatcherHandle>;
/**
 * Reads a file's first bytes: a photo or video, skipped with the reason, or unreadable (a
 * failed file) with the reason (watch/sniff.ts).
 */
export type SniffContent = (
  path: string,
) => Promise<Extract<Classification, { kind: 'media' | 'skipped' | 'unreadable' }>>;

export interface FoldersOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  statPath: StatPath;
  scanFolder: ScanFolder;
  classifyPath: ClassifyPath;
  sniffContent: SniffContent;
  /** null: no watchers (one pass, as `keepsake backup` runs). */
  createWatcher: CreateWatcher | null;
  /** Periodic reconcile scan of every folder (0 = never). */
  reconcileIntervalMs: number;
  /** tus termination of an upload that will never finish. */
  abandonUpload: (url: string) => void;
  /** Stops uploads of a removed folder. */
  abortFolderUploads: (folderId: number) => void;
  activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
  /** New work may be ready: wake the pumps. */
  kickAll: () => void;
  foldersChanged: () => void;
  statusChanged: () => void;
  /** Whether the organisation's policy requires this folder (shown; removal is refused). */
  requiredByPolicy?: (path: string) => boolean;
}

export interface Folders {
  /** Starts every watcher, then scans every folder, wakes the pumps; then the periodic scans. */
  start(): Promise<void>;
  list(): Folder[];
  add(input: { path: string; include?: string[]; exclude?: string[] }): Promise<Folder>;
  remove(id: number): Promise<void>;
  setRules(id: number, include: string[], exclude: string[]): Promise<Folder>;
  /** Allows (or no longer allows) freeing up space in a folder (issue 15 section 2). */
  setFreeUp(id: number, allowed: boolean): Folder;
  /** Scans a folder and reconciles the DB with it; coalesces concurrent requests. */
  rescan(folderId: number, priority?: number): Promise<void>;
  anyOffline(): boolean;
  /** Scans or hint batches being applied right now. */
  reconciling(): number;
  /** No scan running or queued. */
  idle(): boolean;
  close(): Promise<void>;
}

interface FolderRuntime {
  mode: Folder['mode'];
  detail: string | null;
  watcher: FolderWatcherHandle | null;
  scanning: Promise<void> | null;
  rescanQueued: boolean;
}

export function createFolders(options: FoldersOptions): Folders {
  const { store, clock, logger, statPath, scanFolder, classifyPath, createWatcher } = options;
  const runtime = new Map<number, FolderRuntime>();
  const shutdown = new AbortController();
  let reconciling = 0;
  let started = false;
  let closed = false;
  let periodic: TimerHandle | null = null;

  const reconcileCtx: ReconcileContext = {
    store,
    now: () => clock.now(),
    classify: (relPath, rules) => classifyPath(relPath, rules),
    abandon: options.abandonUpload,
    emptied: (path, bytes) =>
      options.activity({
        level: 'warning',
        message: emptiedWords(bytes),
        path,
        code: 'possible_damage',
      }),
  };

  function runtimeOf(id: number): FolderRuntime {
    let r = runtime.get(id);
    if (!r) {
      r = { mode: 'scanning', detail: null, watcher: null, scanning: null, rescanQueued: false };
      runtime.set(id, r);
    }
    return r;
  }

  function view(folder: FolderRecord, summary = store.summary()): Folder {
    const r = runtime.get(folder.id);
    const fresh = store.getFolder(folder.id) ?? folder;
    return folderView(
      { ...folder, lastScanAt: fresh.lastScanAt, freeUp: fresh.freeUp },
      summary,
      r?.mode ?? (started ? 'watching' : 'scanning'),
      r?.detail ?? null,
      store.folderProblems(folder.id),
      options.requiredByPolicy?.(folder.path) ?? false,
    );
  }

  /** A rescan nobody awaits (see [Note: Detached work]). */
  function rescanDetached(folderId: number, priority = 0): void {
    void detached(rescan(folderId, priority), { store, logger, what: 'scanning a folder' });
  }

  function rescan(folderId: number, priority = 0): Promise<void> {
    const r = runtimeOf(folderId);
    if (r.scanning) {
      r.rescanQueued = true;
      return r.scanning;
    }
    reconciling++;
    const run = async (): Promise<void> => {
      try {
        do {
          r.rescanQueued = false;
          const folder = store.getFolder(folderId);
          if (!folder || closed) return;
          const previousMode = r.mode;
          if (r.mode !== 'polling') r.mode = 'scanning';
          options.foldersChanged();
          let scan: ScanResult;
          try {
            scan = await scanFolder(
              folder.path,
              { include: folder.include, exclude: folder.exclude },
              shutdown.signal,
            );
          } catch (err) {
            if (closed) return;
            logger.error('folder scan failed', { folder: folder.path, error: String(err) });
            r.mode = previousMode === 'scanning' ? 'watching' : previousMode;
            return;
          }
          if (closed || !store.getFolder(folderId)) return;
          scan = { ...scan, entries: await resolveUnknown(scan.entries) };
          if (closed || !store.getFolder(folderId)) return;
          let counts: ReconcileCounts;
          try {
            counts = await reconcileFolder(reconcileCtx, folder, scan, priority, shutdown.signal);
            if (scan.rootPresent) recordUnreadable(folder, scan);
          } catch (err) {
            // The store stopped writing (a full disk): the engine pauses on it and rescans
            // once it writes again. See [Note: Store fault mode].
            if (store.fault() === null) throw err;
            r.mode = previousMode === 'scanning' ? 'watching' : previousMode;
            return;
          }
          if (!scan.rootPresent) {
            r.mode = 'offline';
            r.detail = `The folder ${folder.path} is not there (an unplugged drive or an unmounted share?); its files are kept as they were.`;
          } else if (
            (r.mode as Folder['mode']) === 'scanning' ||
            (r.mode as Folder['mode']) === 'offline'
          ) {
            // Back from a scan (or from offline): the watcher's own mode, else watching.
            const own = r.watcher?.status;
            r.mode = own && own.mode !== 'offline' ? own.mode : 'watching';
            r.detail = own && own.mode !== 'offline' ? own.detail : null;
          }
          logger.info('reconciled folder', { folder: folder.path, ...counts });
          options.foldersChanged();
          options.kickAll();
        } while (r.rescanQueued && !closed);
      } finally {
        r.scanning = null;
        reconciling--;
        options.statusChanged();
      }
    };
    r.scanning = run();
    return r.scanning;
  }

  /**
   * What a file whose name says nothing is: what the database knows when its identity has not
   * moved (so an unchanged folder reads no file), else its first bytes.
   * See [Note: What sniffing costs] in watch/sniff.ts.
   */
  async function resolveContent(
    path: string,
    identity: FileIdentity,
  ): Promise<Extract<Classification, { kind: 'media' | 'skipped' | 'unreadable' }>> {
    const row = store.getFileByPath(path);
    if (
      row !== null &&
      row.size === identity.size &&
      row.mtimeMs === identity.mtimeMs &&
      row.ino === identity.ino &&
      row.dev === identity.dev
    ) {
      // A row skipped before unreadable files were failed ones ("could not be read to tell
      // whether..."): never known as not a photo, so looked at again.
      if (
        row.state === 'skipped' &&
        row.excludedBy !== null &&
        !row.excludedBy.startsWith('could not be read')
      ) {
        return { kind: 'skipped', reason: row.excludedBy };
      }
      if (row.mime !== null) {
        const mediaType = row.mime.startsWith('video/') ? 'video' : 'image';
        return { kind: 'media', mediaType, mime: row.mime };
      }
    }
    return options.sniffContent(path);
  }

  /** Settles every 'unknown' entry of a scan, a few files at a time. */
  async function resolveUnknown(entries: ScanEntry[]): Promise<ScanEntry[]> {
    const unknown: number[] = [];
    entries.forEach((e, i) => {
      if (e.classification.kind === 'unknown') unknown.push(i);
    });
    if (unknown.length === 0) return entries;
    const out = [...entries];
    for (let at = 0; at < unknown.length && !closed; at += 16) {
      await Promise.all(
        unknown.slice(at, at + 16).map(async (i) => {
          const e = out[i] as ScanEntry;
          out[i] = { ...e, classification: await resolveContent(e.path, e) };
        }),
      );
    }
    return out;
  }

  /**
   * What this scan could not list replaces what the last one could not (so a folder made
   * readable again drops out on the next rescan); a newly unreadable one is told once.
   */
  function recordUnreadable(folder: FolderRecord, scan: ScanResult): void {
    const added = store.setFolderProblems(folder.id, scan.unreadableFolders ?? []);
    for (const p of added) {
      options.activity({ level: 'error', message: p.message, path: p.path, code: p.code });
    }
    if (added.length > 0) logger.warn('folders could not be read', { count: added.length });
  }

  async function handleHints(folderId: number, hint: ChangeHint): Promise<void> {
    const folder = store.getFolder(folderId);
    if (!folder || closed) return;
    if (hint.rescan || hint.paths.length > 2000) {
      await rescan(folderId);
      return;
    }
    const counts: ReconcileCounts = { added: 0, changed: 0, missing: 0, failed: 0 };
    const rules: FolderRules = { include: folder.include, exclude: folder.exclude };
    let needRescan = false;
    reconciling++;
    try {
      const observed = await Promise.all(
        hint.paths.map(async (path) => {
          const st = await statPath(path).catch(() => 'error' as const);
          const rel = relativeTo(folder.path, path);
          let c = rel === null || rel === '' ? null : classifyPath(rel, rules);
          if (c?.kind === 'unknown' && st !== 'error' && st?.kind === 'file') {
            c = await resolveContent(path, st.identity);
          }
          return { path, st, rel, c };
        }),
      );
      if (closed) return;
      store.batch(() => {
        for (const { path, st, rel, c } of observed) {
          if (rel === null || rel === '' || c === null) {
            needRescan = true;
            continue;
          }
          const row = store.getFileByPath(path);
          if (st === 'error' || (st !== null && st.kind !== 'file')) {
            // A folder appeared or vanished, or something unreadable: let the scan decide.
            needRescan = true;
            continue;
          }
          if (st === null) {
            if (row) applyGone(reconcileCtx, row, counts);
            // maybe a folder went away with files under it (a short-lived file with a name
            // that says nothing, such as an editor's probe file, is not worth a rescan)
            else if (c.kind !== 'unknown') needRescan = true;
            continue;
          }
          if (c.kind === 'ignored') continue;
          applyEntry(
            reconcileCtx,
            folder,
            {
              path,
              relPath: rel,
              ...st.identity,
              ctimeMs: st.identity.ctimeMs ?? 0,
              classification: c,
            },
            row,
            0,
            counts,
          );
        }
      });
    } finally {
      reconciling--;
    }
    if (needRescan) await rescan(folderId);
    else options.kickAll();
  }

  async function startWatcher(folder: FolderRecord): Promise<void> {
    if (!createWatcher || closed) return;
    const r = runtimeOf(folder.id);
    if (r.watcher) return;
    try {
      r.watcher = await createWatcher({
        root: folder.path,
        rules: { include: folder.include, exclude: folder.exclude },
        logger: logger.child({ part: 'watch', folder: folder.path }),
        clock,
        onHints: (hint) => {
          handleHints(folder.id, hint).catch((err: unknown) => {
            logger.error('applying watcher hints failed', { error: String(err) });
          });
        },
        onStatus: (status) => {
          const wasOffline = r.mode === 'offline';
          r.mode = status.mode;
          r.detail = status.detail;
          options.foldersChanged();
          if (wasOffline && status.mode !== 'offline') rescanDetached(folder.id);
        },
      });
      if (closed) await r.watcher.close();
    } catch (err) {
      logger.error('could not watch folder; falling back to periodic scans', {
        folder: folder.path,
        error: String(err),
      });
      r.mode = 'polling';
      r.detail = `Keepsake could not watch this folder for changes (${String(err)}); it scans it periodically instead.`;
    }
  }

  async function stopWatcher(folderId: number): Promise<void> {
    const r = runtime.get(folderId);
    if (r?.watcher) {
      const w = r.watcher;
      r.watcher = null;
      await w.close();
    }
  }

  function schedulePeriodic(): void {
    if (options.reconcileIntervalMs <= 0 || closed) return;
    periodic = clock.setTimeout(() => {
      periodic = null;
      for (const f of store.listFolders()) rescanDetached(f.id);
      schedulePeriodic();
    }, options.reconcileIntervalMs);
    periodic.unref?.();
  }

  async function validateFolderPath(input: string): Promise<string> {
    const path = resolve(input);
    const st = await statPath(path).catch(() => null);
    if (st === null) {
      throw new KeepsakeError('folder_not_found', `The folder ${path} does not exist.`);
    }
    if (st.kind !== 'directory') {
      throw new KeepsakeError('folder_not_a_directory', `${path} is not a folder.`);
    }
    return path;
  }

  return {
    async start() {
      started = true;
      const folders = store.listFolders();
      await Promise.all(folders.map((f) => startWatcher(f)));
      await Promise.all(folders.map((f) => rescan(f.id)));
      options.kickAll();
      schedulePeriodic();
    },
    list() {
      const summary = store.summary();
      return store.listFolders().map((f) => view(f, summary));
    },
    async add({ path: input, include, exclude }) {
      const path = await validateFolderPath(input);
      const existing = store.getFolderByPath(path);
      let folder: FolderRecord;
      if (existing) {
        folder = existing;
        if (include !== undefined || exclude !== undefined) {
          store.setFolderRules(folder.id, include ?? folder.include, exclude ?? folder.exclude);
          folder = store.getFolder(folder.id) ?? folder;
        }
      } else {
        for (const other of store.listFolders()) {
          if (relativeTo(other.path, path) !== null || relativeTo(path, other.path) !== null) {
            throw new KeepsakeError(
              'folder_overlaps',
              `${path} overlaps the watched folder ${other.path}; watch one or the other.`,
            );
          }
        }
        folder = store.addFolder(path, include ?? [], exclude ?? []);
        options.activity({ level: 'info', message: `Added folder ${path}`, path, code: null });
      }
      if (started) {
        // Watch first, then scan: a change after the watcher is ready raises an event, one
        // before it is seen by the scan, so nothing falls in between.
        await startWatcher(folder);
        rescanDetached(folder.id, 1);
      }
      options.foldersChanged();
      return view(folder);
    },
    async remove(id) {
      const folder = store.getFolder(id);
      if (!folder) throw new KeepsakeError('not_found', `No folder with id ${id}.`);
      await stopWatcher(id);
      options.abortFolderUploads(id);
      for (const f of store.filesOfFolder(id)) {
        if (f.uploadUrl && f.state !== 'uploading') options.abandonUpload(f.uploadUrl);
      }
      // The vault is told its places are gone (by the location pump, from tombstones), never
      // left believing these files are still here.
      store.removeFolder(id, folderLabels(store.listFolders()).get(id));
      store.commit();
      runtime.delete(id);
      options.kickAll();
      options.activity({
        level: 'info',
        message: `Stopped watching ${folder.path} (what is on the vault stays there)`,
        path: folder.path,
        code: null,
      });
      options.foldersChanged();
      options.statusChanged();
    },
    async setRules(id, include, exclude) {
      const folder = store.getFolder(id);
      if (!folder) throw new KeepsakeError('not_found', `No folder with id ${id}.`);
      store.setFolderRules(id, include, exclude);
      const updated = store.getFolder(id) ?? folder;
      if (started) {
        await stopWatcher(id);
        await startWatcher(updated);
        rescanDetached(id);
      }
      options.foldersChanged();
      return view(updated);
    },
    setFreeUp(id, allowed) {
      const folder = store.getFolder(id);
      if (!folder) throw new KeepsakeError('not_found', `No folder with id ${id}.`);
      store.setFolderFreeUp(id, allowed);
      store.commit();
      options.foldersChanged();
      return view(store.getFolder(id) ?? folder);
    },
    rescan,
    anyOffline: () => [...runtime.values()].some((r) => r.mode === 'offline'),
    reconciling: () => reconciling,
    idle: () => reconciling === 0 && [...runtime.values()].every((r) => r.scanning === null),
    async close() {
      closed = true;
      shutdown.abort();
      if (periodic !== null) clock.clearTimeout(periodic);
      periodic = null;
      await Promise.allSettled([...runtime.keys()].map((id) => stopWatcher(id)));
      await Promise.allSettled([...runtime.values()].map((r) => r.scanning ?? Promise.resolve()));
    },
  };
}
