// The live watcher of one folder root: turns native file-system events into batched
// ChangeHints, and says how the folder is being watched (FolderWatchStatus). Events are
// hints, never the truth: the engine re-stats every hinted path, checks size/mtime
// stability and stat-before/after itself, and runs the reconcile scan (scan.ts) at start
// and periodically. Start this watcher BEFORE the start-up scan so that nothing changing
// during the scan falls between the two.
//
// Invariants:
// - An offline folder (root gone: unplugged drive, unmounted share) produces no path hints
//   at all: hints queued when the root vanished are dropped, and the engine must NOT mark
//   the folder's files missing while it is offline (they are probably fine, just not
//   mounted). When the root comes back the status returns to watching (or polling) and a
//   { rescan: true } hint follows, so the scan settles what really changed.
// - Whenever events may have been lost (watcher error, overflow of a batch, switch to
//   polling, root back), a { rescan: true } hint is sent.
// - Idle costs nothing measurable: native events only, plus one stat of the root every
//   presenceCheckMs (default 30 s). No polling of the tree in watching mode.
//
// [Note: Watching folders, not files]
// chokidar 4 on Linux opens one fs.watch (inotify watch) per watched path, files included,
// so a 100,000-photo library would need 100,000+ inotify watches (the per-user default is
// often 8,192 to ~200,000, shared by every program) and as many handles in Node. An
// inotify watch on a directory already reports creates, writes, renames and deletes of
// the files in it, so chokidar is told to ignore every non-directory (its `ignored` callback
// sees each entry's stats) and Keepsake listens to its 'raw' events, which carry the
// directory and the child's name. One watch per folder: 1,000 for the benchmark tree.
// chokidar still provides the recursive directory bookkeeping (new folders get watched,
// removed ones released) and the addDir/unlinkDir events, which become rescan hints
// (a folder moved in with 5,000 files raises no event per file).
//
// [Note: Atomic saves]
// An editor saving "write photo.jpg.tmp, rename it over photo.jpg" raises events for the
// temporary name (ignored: *.tmp, dot-files and non-media names are never hinted) and a
// rename onto photo.jpg. Events are collected for batchMs after the first one and sent
// as one hint per folder, so the save arrives as a single hint for photo.jpg. We do not
// use chokidar's awaitWriteFinish: it compares sizes only and can fire on a half-written
// file; the engine's settle check and stat-before/after are what make content trusted.
//
// [Note: Watch events for names that are not UTF-8]
// inotify reports a child's name as the bytes on disk; Node's fs.watch (under chokidar) hands
// it over decoded as UTF-8, so a byte that is not UTF-8 arrives as U+FFFD and the name in the
// event is no longer one that lstat can find ("caf\xe9.jpg" arrives as "caf\uFFFD.jpg", and so
// does "caf\xe8.jpg"). Such an event is resolved by listing its folder again with encoding
// 'buffer' and hinting every name there that Node decodes to the event's name (see [Note:
// Names that are not UTF-8] in raw-path.ts). When none is there any more (the file was deleted
// or renamed away), the folder is rescanned instead: the exact name that vanished cannot be
// told from the event. (When one of two look-alike names vanishes while the other stays, the
// next periodic reconcile scan notices.) A folder whose own name is not UTF-8 is not watched
// (chokidar lists and watches it by the decoded name, which is not there): changes in it are
// found by the reconcile scan.
//
// Falls back to polling (a rescan hint every pollIntervalMs) when the OS has no watch
// handles left (ENOSPC/EMFILE from inotify: the status detail names the sysctl to raise)
// or when the folder is on a network filesystem (see [Note: Why network shares are polled]
// in filesystem.ts). Inotify queue overflows are not reported by Node's fs.watch; the
// periodic reconcile scan is what covers them.
import type { Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import { decodeRawName, fsPath } from '../raw-path.js';
import { detectNetworkFilesystem } from './filesystem.js';
import { classifyPath, isIgnoredFolderName } from './media-types.js';
import type { ChangeHint, FolderRules, FolderWatchMode, FolderWatchStatus } from './types.js';

export interface FolderWatcherOptions {
  root: string;
  rules: FolderRules;
  logger: Logger;
  clock: Clock;
  /** Events are collected this long after the first one, then sent (default 300 ms). */
  batchMs?: number;
  onHints(hint: ChangeHint): void;
  onStatus(status: FolderWatchStatus): void;
  /** Polling mode: a rescan hint this often (default 5 minutes). */
  pollIntervalMs?: number;
  /** How often the root's presence is checked (default 30 s; offline: the same). */
  presenceCheckMs?: number;
  /** More distinct paths than this in one batch become one rescan hint (default 10,000). */
  maxPathsPerBatch?: number;
}

export interface FolderWatcher {
  close(): Promise<void>;
  readonly status: FolderWatchStatus;
}

const INOTIFY_FIX = 'sudo sysctl fs.inotify.max_user_watches=524288';

/** The status detail for running out of watch handles, with the fix. */
export function outOfWatchHandlesDetail(errno: string, pollIntervalMs: number): string {
  const every = describeInterval(pollIntervalMs);
  if (errno === 'ENOSPC') {
    return `The system ran out of file-watch handles (Linux inotify limit fs.inotify.max_user_watches), so Keepsake checks this folder for changes every ${every} instead. To fix it, raise the limit: ${INOTIFY_FIX} (add fs.inotify.max_user_watches=524288 to /etc/sysctl.conf to keep it after a restart), then restart Keepsake.`;
  }
  return `The system ran out of file-watch handles or open files (${errno}; Linux limits fs.inotify.max_user_instances and the open-file limit), so Keepsake checks this folder for changes every ${every} instead. To fix it: sudo sysctl fs.inotify.max_user_instances=1024 and ${INOTIFY_FIX}, or raise the open-file limit (ulimit -n), then restart Keepsake.`;
}

function describeInterval(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) {
    const minutes = ms / 60_000;
    return minutes === 1 ? 'minute' : `${minutes} minutes`;
  }
  if (ms >= 1000) return `${Math.round(ms / 1000)} seconds`;
  return `${ms} ms`;
}

type RootCheck = { present: true; stats: Stats } | { present: false; why: string };

async function checkRoot(root: string): Promise<RootCheck> {
  try {
    const stats = await stat(root);
    if (!stats.isDirectory()) return { present: false, why: 'its path is no longer a folder' };
    return { present: true, stats };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      return { present: false, why: 'Keepsake is not allowed to open it (check its permissions)' };
    }
    return {
      present: false,
      why: 'it cannot be found (an unplugged drive or an unmounted network share?)',
    };
  }
}

export async function createFolderWatcher(options: FolderWatcherOptions): Promise<FolderWatcher> {
  const root = resolve(options.root);
  const rules = options.rules;
  const clock = options.clock;
  const logger = options.logger.child({ module: 'watcher', folder: root });
  const batchMs = options.batchMs ?? 300;
  const pollIntervalMs = options.pollIntervalMs ?? 5 * 60_000;
  const presenceCheckMs = options.presenceCheckMs ?? 30_000;
  const maxPathsPerBatch = options.maxPathsPerBatch ?? 10_000;

  let status: FolderWatchStatus = { folderRoot: root, mode: 'watching', detail: null };
  let closed = false;
  let native: FSWatcher | undefined;
  let rootIdentity: { ino: number; dev: number } | undefined;
  /** Why the folder is polled, when it is (network share / no handles): survives offline. */
  let pollingReason: string | undefined;

  // batching
  const pendingByDir = new Map<string, Set<string>>();
  let pendingCount = 0;
  let pendingRescan = false;
  let flushTimer: TimerHandle | undefined;
  let flushing = false;

  // timers
  let pollTimer: TimerHandle | undefined;
  let presenceTimer: TimerHandle | undefined;
  let presenceInFlight = false;
  let presenceStartedAt = 0;
  /** Serialises mode changes (start/stop of chokidar) so they never interleave. */
  let transition: Promise<void> = Promise.resolve();
  /** Ends startNative()'s wait for chokidar's 'ready'. */
  let releaseReadyWait: (() => void) | undefined;
  /** onStatus is called only after createFolderWatcher has reported the first status. */
  let started = false;

  function setStatus(mode: FolderWatchMode, detail: string | null): void {
    if (status.mode === mode && status.detail === detail) return;
    status = { folderRoot: root, mode, detail };
    logger.info('folder watch status', { mode, detail });
    if (!closed && started) options.onStatus(status);
  }

  function emit(hint: ChangeHint): void {
    if (closed) return;
    try {
      options.onHints(hint);
    } catch (err) {
      logger.error('onHints threw', { error: String(err) });
    }
  }

  // ---- batching -------------------------------------------------------------------------

  function scheduleFlush(): void {
    if (flushTimer !== undefined || closed) return;
    flushTimer = clock.setTimeout(() => {
      flushTimer = undefined;
      void flush();
    }, batchMs);
  }

  function queuePath(path: string): void {
    if (status.mode === 'offline') return;
    const dir = dirname(path);
    let set = pendingByDir.get(dir);
    if (!set) {
      set = new Set();
      pendingByDir.set(dir, set);
    }
    if (!set.has(path)) {
      set.add(path);
      pendingCount++;
    }
    if (pendingCount > maxPathsPerBatch) pendingRescan = true;
    scheduleFlush();
  }

  function queueRescan(): void {
    if (status.mode === 'offline') return;
    pendingRescan = true;
    scheduleFlush();
  }

  async function flush(): Promise<void> {
    if (closed || flushing) return;
    flushing = true;
    try {
      const rescan = pendingRescan;
      const batches = [...pendingByDir.values()];
      pendingByDir.clear();
      pendingCount = 0;
      pendingRescan = false;
      if (!rescan && batches.length === 0) return;
      // A vanished root makes every queued path look deleted: go offline instead.
      const check = await checkRoot(root);
      if (closed) return;
      if (!check.present) {
        await goOffline(check.why);
        return;
      }
      if (rescan) {
        emit({ folderRoot: root, paths: [], rescan: true });
        return;
      }
      for (const paths of batches) emit({ folderRoot: root, paths: [...paths], rescan: false });
    } finally {
      flushing = false;
      // events that arrived while we awaited the root check
      if (!closed && (pendingRescan || pendingCount > 0)) scheduleFlush();
    }
  }

  // ---- native watching ------------------------------------------------------------------

  /**
   * chokidar sees the root's real path (see startNative); hints use the path the person
   * chose, so a root that is a symlink (~/Pictures -> /data/Pictures) keeps its own name.
   */
  let watchedRoot = root;
  function toRootPath(path: string): string {
    const p = resolve(path);
    if (watchedRoot === root) return p;
    if (p === watchedRoot) return root;
    return p.startsWith(watchedRoot + sep) ? root + p.slice(watchedRoot.length) : p;
  }

  function relativeToRoot(path: string): string {
    const rel = relative(root, path);
    return sep === '/' ? rel : rel.split(sep).join('/');
  }

  function onRaw(eventName: string, evPath: string, details: unknown): void {
    if (closed || status.mode !== 'watching') return;
    const watchedPath = (details as { watchedPath?: string } | undefined)?.watchedPath;
    if (typeof watchedPath !== 'string' || typeof evPath !== 'string' || evPath === '') return;
    const dir = toRootPath(watchedPath);
    if (dir === root && evPath === basename(watchedRoot)) {
      // the root itself was renamed or deleted (or, rarely, a child has the root's name)
      void confirmRootPresence();
    }
    void eventName; // 'rename' and 'change' are both "look at this path again"
    if (evPath.includes('\uFFFD')) {
      // maybe not the name on disk: see [Note: Watch events for names that are not UTF-8]
      void hintExactNames(dir, evPath);
      return;
    }
    hintPath(join(dir, evPath));
  }

  function hintPath(path: string): void {
    const rel = relativeToRoot(path);
    if (rel === '' || rel.startsWith('..')) return;
    if (classifyPath(rel, rules).kind === 'ignored') return;
    queuePath(path);
  }

  async function hintExactNames(dir: string, decodedName: string): Promise<void> {
    let names: Buffer[];
    try {
      names = await readdir(fsPath(dir), { encoding: 'buffer' });
    } catch {
      queueRescan(); // the folder went away, or cannot be read: the scan says which
      return;
    }
    if (closed || status.mode !== 'watching') return;
    const matches = names.filter((name) => name.toString('utf8') === decodedName);
    if (matches.length === 0) {
      queueRescan();
      return;
    }
    for (const name of matches) hintPath(join(dir, decodeRawName(name)));
  }

  function onDirEvent(kind: 'addDir' | 'unlinkDir', chokidarPath: string): void {
    if (closed || status.mode !== 'watching') return;
    const path = toRootPath(chokidarPath);
    if (path === root) {
      if (kind === 'unlinkDir') void confirmRootPresence();
      return;
    }
    const rel = relativeToRoot(path);
    if (rel.split('/').some(isIgnoredFolderName)) return;
    // A folder appeared, vanished or was renamed: the files under it raise no events.
    queueRescan();
  }

  function onNativeError(err: unknown): void {
    if (closed) return;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOSPC' || code === 'EMFILE' || code === 'ENFILE') {
      logger.warn('out of watch handles: polling instead', { code });
      releaseReadyWait?.();
      void runTransition(() => startPolling(outOfWatchHandlesDetail(code, pollIntervalMs)));
      return;
    }
    logger.warn('watcher error: rescanning', { error: String(err), code });
    queueRescan();
  }

  async function startNative(): Promise<void> {
    // chokidar with followSymlinks: false would treat a symlinked root as a link, not a
    // folder: watch the real path and translate back (toRootPath).
    watchedRoot = await realpath(root).catch(() => root);
    if (closed) return;
    const watcher = chokidar.watch(watchedRoot, {
      ignoreInitial: true,
      followSymlinks: false,
      atomic: false,
      persistent: true,
      ignorePermissionErrors: true,
      // See [Note: Watching folders, not files]. Without stats (the first look at a path)
      // nothing but hidden/system folders can be ruled out yet.
      ignored: (path: string, stats?: Stats) => {
        if (stats !== undefined && !stats.isDirectory()) return true;
        if (path === watchedRoot) return false;
        return isIgnoredFolderName(basename(path));
      },
    });
    native = watcher;
    watcher.on('raw', onRaw);
    watcher.on('addDir', (path: string) => onDirEvent('addDir', path));
    watcher.on('unlinkDir', (path: string) => onDirEvent('unlinkDir', path));
    watcher.on('error', onNativeError);
    // 'ready' means every existing folder is watched. An early error that switches us to
    // polling, or close(), ends the wait instead (chokidar may then never say 'ready').
    await new Promise<void>((resolveReady) => {
      const done = (): void => {
        watcher.off('ready', done);
        if (releaseReadyWait === done) releaseReadyWait = undefined;
        resolveReady();
      };
      releaseReadyWait = done;
      watcher.once('ready', done);
    });
  }

  async function stopNative(): Promise<void> {
    const watcher = native;
    native = undefined;
    if (watcher) {
      try {
        await watcher.close();
      } catch (err) {
        logger.warn('closing the watcher failed', { error: String(err) });
      }
    }
  }

  // ---- modes ----------------------------------------------------------------------------

  function clearPoll(): void {
    if (pollTimer !== undefined) clock.clearTimeout(pollTimer);
    pollTimer = undefined;
  }

  function schedulePoll(): void {
    clearPoll();
    if (closed || status.mode !== 'polling') return;
    pollTimer = clock.setTimeout(() => {
      pollTimer = undefined;
      queueRescan();
      schedulePoll();
    }, pollIntervalMs);
  }

  async function startPolling(reason: string): Promise<void> {
    pollingReason = reason;
    await stopNative();
    if (closed) return;
    setStatus('polling', reason);
    queueRescan(); // events may have been lost on the way here
    schedulePoll();
  }

  async function goOffline(why: string): Promise<void> {
    // a start-up still waiting for chokidar's 'ready' on a root that just vanished must not
    // hold up this transition
    releaseReadyWait?.();
    await runTransition(async () => {
      if (closed || status.mode === 'offline') return;
      clearPoll();
      await stopNative();
      pendingByDir.clear();
      pendingCount = 0;
      pendingRescan = false;
      setStatus(
        'offline',
        `The folder is offline: ${why}. Its files are not marked missing; Keepsake picks up where it left off when it is back.`,
      );
    });
  }

  /** Starts watching (native or polling) a root known to be present. */
  async function goOnline(rootStats: Stats): Promise<void> {
    rootIdentity = { ino: rootStats.ino, dev: rootStats.dev };
    const network = await detectNetworkFilesystem(root);
    if (closed) return;
    if (network !== null) {
      await startPolling(
        `This folder is on a network share (${network}); changes made by other computers raise no events here, so Keepsake checks it for changes every ${describeInterval(pollIntervalMs)}.`,
      );
      return;
    }
    if (pollingReason !== undefined) {
      // out of handles earlier: stay polling rather than fail the same way again
      await startPolling(pollingReason);
      return;
    }
    setStatus('watching', null);
    await startNative();
  }

  function runTransition(step: () => Promise<void>): Promise<void> {
    transition = transition.then(step).catch((err: unknown) => {
      logger.error('watch mode change failed', { error: String(err) });
    });
    return transition;
  }

  async function confirmRootPresence(): Promise<void> {
    if (closed) return;
    if (presenceInFlight) {
      // A stat that does not return (a hard-mounted share whose server went away) must not
      // leave the folder looking fine: after a while it counts as offline. When the stat
      // finally returns, the normal path below brings the folder back.
      if (
        clock.now() - presenceStartedAt > Math.max(presenceCheckMs, 10_000) &&
        status.mode !== 'offline'
      ) {
        await goOffline('it is not responding (a network share whose server went away?)');
      }
      return;
    }
    presenceInFlight = true;
    presenceStartedAt = clock.now();
    try {
      const check = await checkRoot(root);
      if (closed) return;
      if (!check.present) {
        if (status.mode !== 'offline') await goOffline(check.why);
        return;
      }
      const moved =
        rootIdentity !== undefined &&
        (rootIdentity.ino !== check.stats.ino || rootIdentity.dev !== check.stats.dev);
      if (status.mode === 'offline' || moved) {
        // back (or a different folder/drive now sits at the path): start over and rescan
        await runTransition(async () => {
          if (closed) return;
          clearPoll();
          await stopNative();
          await goOnline(check.stats);
          queueRescan();
        });
      }
    } finally {
      presenceInFlight = false;
    }
  }

  function schedulePresenceCheck(): void {
    if (closed) return;
    presenceTimer = clock.setTimeout(() => {
      presenceTimer = undefined;
      void confirmRootPresence().finally(schedulePresenceCheck);
    }, presenceCheckMs);
  }

  // ---- start ----------------------------------------------------------------------------

  const first = await checkRoot(root);
  if (first.present) {
    await runTransition(() => goOnline(first.stats));
    await transition; // an error during start-up (out of handles) may have queued polling
  } else {
    status = {
      folderRoot: root,
      mode: 'offline',
      detail: `The folder is offline: ${first.why}. Its files are not marked missing; Keepsake picks up where it left off when it is back.`,
    };
  }
  started = true;
  options.onStatus(status);
  schedulePresenceCheck();

  return {
    get status(): FolderWatchStatus {
      return status;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (flushTimer !== undefined) clock.clearTimeout(flushTimer);
      if (presenceTimer !== undefined) clock.clearTimeout(presenceTimer);
      clearPoll();
      releaseReadyWait?.();
      await transition;
      await stopNative();
    },
  };
}
