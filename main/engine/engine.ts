// The composition root of the sync engine (CONVENTIONS.md "One composition root"):
// createEngine() takes the ports (clock, logger, hasher, metadata reader, uploader, scan and
// watch functions, the vault endpoint) and builds the store, the pumps and the queue around
// them, then exposes the contract's API (common/contract.ts) and events.
//
// Invariants: one engine per data directory (the lock is held from createEngine to close);
// the engine takes ownership of the hasher, metadata reader and uploader it is given and
// closes them in close(); it never writes, renames, locks or deletes anything in a watched
// folder (it only stats, lists and reads).
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type {
  ActivityEvent,
  EngineStatus,
  EventName,
  EventPayload,
  FileRow,
  Folder,
  KeepsakeApi,
  PauseReason,
  StateCounts,
  UploadProgress,
} from '../../common/contract.js';
import { fileStates } from '../../common/contract.js';
import type { Engine } from './api.js';
import { databasePath, lockDataDir, type DataDirLock } from './data-dir.js';
import { KeepsakeError } from './errors.js';
import type { FileHasher } from './hash/types.js';
import type { MetadataReader } from './metadata/types.js';
import {
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type PowerState,
  type TimerHandle,
} from './ports.js';
import { defaultBackoff, type BackoffPolicy } from './pipeline/backoff.js';
import { createHashPump, type StatPath } from './pipeline/hash-pump.js';
import { createMetadataPump, type MetadataPump } from './pipeline/metadata-pump.js';
import {
  applyEntry,
  applyGone,
  reconcileFolder,
  relativeTo,
  type ReconcileContext,
  type ReconcileCounts,
} from './pipeline/reconcile.js';
import { pendingStates, transitions } from './pipeline/transitions.js';
import { createUploadQueue } from './pipeline/upload-queue.js';
import { openDatabase, openDatabaseReadOnly } from './store/database.js';
import {
  applySettingUpdate,
  resolveSettings,
  type SettingsSource,
  type SettingValues,
} from './store/settings.js';
import { createStore, type FileRecord, type FolderRecord, type Store } from './store/store.js';
import { parseBandwidthLimit, type BandwidthPolicy } from './vault/bandwidth.js';
import { createHttpClient, type HttpClient } from './vault/http-client.js';
import type { Uploader } from './vault/types.js';
import { createTusUploader } from './vault/tus-uploader.js';
import { createVaultClient, type VaultClient } from './vault/vault-client.js';
import { createFileHasher, identityOf } from './hash/index.js';
import { createMetadataReader } from './metadata/index.js';
import { classifyPath as defaultClassifyPath } from './watch/media-types.js';
import { scanFolder as defaultScanFolder } from './watch/scan.js';
import { createFolderWatcher } from './watch/watcher.js';
import type {
  ChangeHint,
  Classification,
  FolderRules,
  FolderWatchStatus,
  ScanResult,
} from './watch/types.js';

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

export interface EngineOptions {
  /** The data directory (locked for the engine's lifetime); holds keepsake.db. */
  dataDir: string;
  clock?: Clock;
  logger?: Logger;
  powerState?: PowerState;
  /** The vault this engine backs up to; omitted: index and hash only (e.g. reading a data dir). */
  vault?: {
    url: string;
    token: string;
    /** true when the CLI/shell started it in-process (shown in status). */
    embedded?: boolean;
    /** PEM bundle for TLS inspection proxies. */
    caFile?: string;
  } | null;
  /**
   * The ports below are optional: when one is omitted, createEngine builds the production one
   * (lazily, at call time, never on import). Whatever is passed or built, the engine owns and
   * closes in close().
   */
  /** Default: upload/tus-uploader.ts against vault.url with the chunk size and bandwidth settings. */
  uploader?: Uploader;
  /** Default: hash/ createFileHasher. */
  hasher?: FileHasher;
  /** Default: metadata/ createMetadataReader. null = no metadata read or sent. */
  metadataReader?: MetadataReader | null;
  /** Default: watch/scan.ts scanFolder. */
  scanFolder?: (root: string, rules: FolderRules, signal?: AbortSignal) => Promise<ScanResult>;
  /** Default: watch/media-types.ts classifyPath. */
  classifyPath?: (relPath: string, rules: FolderRules) => Classification;
  /**
   * Default: watch/watcher.ts createFolderWatcher. null = no watchers (one pass, as
   * `keepsake backup` runs; reconcile scans only).
   */
  createWatcher?: ((options: WatcherFactoryOptions) => Promise<FolderWatcherHandle>) | null;
  /** lstat port for hinted paths and folder checks (default: node:fs lstat). */
  statPath?: StatPath;
  /** How long size and mtime must hold still before hashing (default 2000 ms). */
  settleMs?: number;
  /** Periodic reconcile scan of every folder (default hourly; 0 = never). */
  reconcileIntervalMs?: number;
  /** Runtime overrides for this run (e.g. --concurrency, --bwlimit); not persisted. */
  overrides?: Partial<Pick<SettingValues, 'concurrency' | 'bandwidthLimit' | 'chunkSizeBytes'>>;
  /** Settings locked by an administrator's policy (a later issue reads policy files). */
  policy?: Partial<SettingValues>;
  /** Files above this size may hold at most concurrency-1 upload slots (default 64 MiB). */
  largeFileBytes?: number;
  backoff?: Partial<BackoffPolicy>;
  /** 460 verification failures before a file is marked failed (default 3). */
  maxVerifyFailures?: number;
  /** Hash and dedup-check, never upload or send metadata (`keepsake backup --dry-run`). */
  dryRun?: boolean;
  /** Files hashed at once (default 8). */
  hashConcurrency?: number;
  /** Metadata reads in flight (default 16: the reader batches them into exiftool calls). */
  metadataConcurrency?: number;
  /** Random source for backoff jitter (tests may seed it). */
  random?: () => number;
}

const defaultStatPath: StatPath = async (path) => {
  try {
    const s = await lstat(path);
    return {
      kind: s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other',
      identity: identityOf(s),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
};

function emptyCounts(): StateCounts {
  return Object.fromEntries(fileStates.map((s) => [s, 0])) as StateCounts;
}

function toFileRow(f: FileRecord): FileRow {
  return {
    id: f.id,
    folderId: f.folderId,
    path: f.path,
    relPath: f.relPath,
    size: f.size,
    mtimeMs: f.mtimeMs,
    sha256: f.sha256,
    state: f.state,
    error: f.error ? { name: 'KeepsakeError', ...f.error } : null,
    excludedBy: f.excludedBy,
    attempts: f.attempts,
    nextAttemptAt: f.nextAttemptAt,
    captureTime: f.captureTime,
    mime: f.mime,
    metadataProblems: f.metadataProblems,
    updatedAt: f.updatedAt,
  };
}

interface FolderRuntime {
  mode: Folder['mode'];
  detail: string | null;
  watcher: FolderWatcherHandle | null;
  scanning: Promise<void> | null;
  rescanQueued: boolean;
}

type Listener = (payload: unknown) => void;

/** The uploader of an engine with no vault: never called (the queue does not run). */
const noVaultUploader: Uploader = {
  upload: () => Promise.reject(new KeepsakeError('vault_unreachable', 'No vault is configured.')),
  abandon: () => Promise.resolve(),
  setBandwidthLimit: () => {},
  close: () => Promise.resolve(),
};

const idleMetadataPump: MetadataPump = {
  kick: () => {},
  drained: () => true,
  close: () => Promise.resolve(),
};

/** Settings-table key remembering which vault the safe states refer to (not a user setting). */
const vaultIdentityKey = 'engine.vaultIdentity';

/** File in the data directory holding the vault token set through settings.set (mode 0600). */
export const vaultTokenFileName = 'vault-token';

/**
 * The vault a person configured through settings.set (vaultUrl + vaultToken), read without
 * starting an engine (the CLI decides between it and the embedded vault). null when unset.
 */
export function storedVaultConfig(dataDir: string): { url: string; token: string } | null {
  const dbFile = databasePath(dataDir);
  if (!existsSync(dbFile)) return null;
  let url: unknown = null;
  try {
    const db = openDatabaseReadOnly(dbFile);
    try {
      url = createStore(db, systemClock).userSettings().get('vaultUrl') ?? null;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
  if (typeof url !== 'string' || url === '') return null;
  let token = '';
  try {
    token = readFileSync(join(dataDir, vaultTokenFileName), 'utf8').trim();
  } catch {
    return null;
  }
  return token ? { url, token } : null;
}

/** The Engine of api.ts plus what `keepsake backup` needs for its summary (additive). */
export interface KeepsakeEngine extends Engine {
  /** Resolves once metadata of hashed files has been read and sent (the caller bounds it). */
  whenMetadataSent(signal?: AbortSignal): Promise<void>;
  /** Bytes the vault confirmed from this engine since it was created. */
  bytesUploaded(): number;
}

export async function createEngine(options: EngineOptions): Promise<KeepsakeEngine> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const statPath = options.statPath ?? defaultStatPath;
  const settleMs = options.settleMs ?? 2000;
  const dryRun = options.dryRun ?? false;
  const reconcileIntervalMs = options.reconcileIntervalMs ?? 3600_000;
  const backoff: BackoffPolicy = { ...defaultBackoff, ...options.backoff };

  // Make the directory first (async), so the lock and database land in it.
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const lock: DataDirLock = lockDataDir(options.dataDir);
  let store: Store;
  try {
    const opened = openDatabase(databasePath(options.dataDir), { logger, clock });
    store = createStore(opened.db, clock);
    if (opened.setAside) {
      store.addActivity({
        level: 'warning',
        message: `The database was damaged; it was set aside as ${opened.setAside} and rebuilt from disk and the vault.`,
        path: opened.setAside,
        code: 'internal',
      });
    }
  } catch (err) {
    lock.release();
    throw err;
  }

  const tokenFile = join(options.dataDir, vaultTokenFileName);
  const settingsSource: SettingsSource = {
    policy: { ...options.policy },
    overrides: { ...options.overrides },
    facts: {
      vaultUrl: options.vault?.url ?? null,
      vaultTokenSet: (options.vault?.token ?? '') !== '',
    },
  };
  const settings = () => resolveSettings(store, settingsSource);

  // ---- ports: the ones given, or the production ones built now ----
  const vaultConfig = options.vault ?? null;
  // One HTTP client (proxy, CA bundle, keep-alive) for every call to the vault.
  const vaultHttp: HttpClient | null = vaultConfig
    ? createHttpClient({
        endpoint: vaultConfig.url,
        ...(vaultConfig.caFile ? { caFile: vaultConfig.caFile } : {}),
        idleTimeoutMs: 30_000,
      })
    : null;
  const vault: VaultClient | null =
    vaultConfig && vaultHttp
      ? createVaultClient({ endpoint: vaultConfig.url, token: vaultConfig.token, http: vaultHttp })
      : null;
  const uploader: Uploader =
    options.uploader ??
    (vaultConfig
      ? createTusUploader({
          endpoint: vaultConfig.url,
          token: vaultConfig.token,
          chunkSizeBytes: settings().chunkSizeBytes.value,
          bandwidth: null,
          ...(vaultHttp ? { http: vaultHttp } : {}),
          logger: logger.child({ part: 'upload' }),
          clock,
        })
      : noVaultUploader);
  const hasher: FileHasher =
    options.hasher ?? createFileHasher({ logger: logger.child({ part: 'hash' }) });
  const metadataReader: MetadataReader | null =
    options.metadataReader === undefined
      ? createMetadataReader({ logger: logger.child({ part: 'metadata' }), clock })
      : options.metadataReader;
  const scanFolder = options.scanFolder ?? defaultScanFolder;
  const classifyPath = options.classifyPath ?? defaultClassifyPath;
  const createWatcher =
    options.createWatcher === undefined ? createFolderWatcher : options.createWatcher;

  // ---- events ----
  const listeners = new Map<EventName, Set<Listener>>();
  function emit<K extends EventName>(event: K, payload: EventPayload<K>): void {
    const set = listeners.get(event);
    if (!set) return;
    for (const l of set) {
      try {
        l(payload);
      } catch (err) {
        logger.error('event listener threw', { event, error: String(err) });
      }
    }
  }
  let statusTimer: TimerHandle | null = null;
  function statusSoon(): void {
    if (statusTimer !== null || closed || !listeners.get('status')?.size) return;
    statusTimer = clock.setTimeout(() => {
      statusTimer = null;
      if (!closed) emit('status', computeStatus());
    }, 250);
    statusTimer.unref?.();
  }
  let progressTimer: TimerHandle | null = null;
  function progressSoon(): void {
    if (progressTimer !== null || closed) return;
    progressTimer = clock.setTimeout(() => {
      progressTimer = null;
      if (!closed) emit('upload.progress', queue.current());
    }, 250);
    progressTimer.unref?.();
  }
  function fileChanged(f: FileRecord): void {
    if (listeners.get('file.changed')?.size) emit('file.changed', toFileRow(f));
    statusSoon();
  }
  // The UI hears of a state change once it is durable (see [Note: Group commit] in store.ts).
  store.onCommitted((changes) => {
    for (const c of changes) fileChanged(c.file);
  });
  function activity(event: Omit<ActivityEvent, 'id' | 'at'>): void {
    const e = store.addActivity(event);
    emit('activity', e);
    if (event.level !== 'info') {
      logger.info('activity', { level: event.level, message: event.message, code: event.code });
    }
  }

  // ---- pause state ----
  let userPause: { until: number | null } | null = null;
  let userPauseTimer: TimerHandle | null = null;
  let blockedBy: 'sign_in_needed' | 'vault_full' | null = null;
  let blockedMessage = '';
  let power: PowerState = options.powerState ?? { onBattery: false, metered: false };
  let vaultReachable = true;
  let closed = false;
  let started = false;

  function pauseReason(): PauseReason | null {
    if (blockedBy) return blockedBy;
    if (userPause) return 'user';
    const s = settings();
    if (power.onBattery && s.pauseOnBattery.value) return 'battery';
    if (power.metered && s.pauseOnMetered.value) return 'metered';
    return null;
  }
  function applyPause(): void {
    const paused = pauseReason() !== null;
    queue.setPaused(paused);
    if (!paused) metadata.kick();
    statusSoon();
  }

  // ---- parts ----
  const concurrency = () => settings().concurrency.value;
  const queue = createUploadQueue({
    store,
    vault,
    uploader,
    clock,
    logger: logger.child({ part: 'queue' }),
    backoff,
    concurrency,
    largeFileBytes: options.largeFileBytes ?? 64 * 1024 * 1024,
    maxVerifyFailures: options.maxVerifyFailures ?? 3,
    dryRun,
    ...(options.random ? { random: options.random } : {}),
    events: {
      activity,
      pauseRequired(reason, message) {
        if (blockedBy === reason) return;
        blockedBy = reason;
        blockedMessage = message;
        activity({ level: 'error', message, path: null, code: reason });
        applyPause();
      },
      vaultReachable(reachable) {
        if (vaultReachable !== reachable) {
          vaultReachable = reachable;
          statusSoon();
        }
      },
      needsHash: () => hashPump.kick(),
      safe: () => metadata.kick(),
      progress: progressSoon,
    },
  });
  const hashPump = createHashPump({
    store,
    hasher,
    statPath,
    clock,
    logger: logger.child({ part: 'hash' }),
    settleMs,
    concurrency: options.hashConcurrency ?? 8,
    events: {
      hashed() {
        queue.kickSoon();
        metadata.kick();
      },
      activity,
    },
  });
  const metadata =
    metadataReader === null
      ? idleMetadataPump
      : createMetadataPump({
          store,
          reader: metadataReader,
          vault,
          clock,
          logger: logger.child({ part: 'metadata' }),
          // The reader batches up to 16 files into one exiftool call, but only files that are
          // being read at the same time: a pump of 4 capped every batch at 4 files.
          concurrency: options.metadataConcurrency ?? 16,
          sendingAllowed: () => !dryRun && pauseReason() === null,
          events: {
            fileChanged,
            pauseRequired(reason, message) {
              if (blockedBy) return;
              blockedBy = reason;
              blockedMessage = message;
              activity({ level: 'error', message, path: null, code: reason });
              applyPause();
            },
          },
        });

  // ---- bandwidth ----
  // The timetable is followed by the uploader's throttle alone (setBandwidthPolicy); this
  // only hands it the setting, parsed, whenever the setting changes.
  function applyBandwidth(): void {
    const text = settings().bandwidthLimit.value;
    let policy: BandwidthPolicy | null = null;
    try {
      policy = text === null ? null : parseBandwidthLimit(text);
    } catch (err) {
      logger.warn('ignoring an invalid bandwidth limit', { error: String(err) });
    }
    uploader.setBandwidthPolicy?.(policy);
  }

  // ---- folders, reconcile, watchers ----
  const runtime = new Map<number, FolderRuntime>();
  let reconciling = 0;
  const reconcileCtx: ReconcileContext = {
    store,
    now: () => clock.now(),
    classify: (relPath, rules) => classifyPath(relPath, rules),
    abandon(url) {
      uploader.abandon(url).catch((err: unknown) => {
        logger.debug('abandon failed', { error: String(err) });
      });
    },
  };

  function runtimeOf(id: number): FolderRuntime {
    let r = runtime.get(id);
    if (!r) {
      r = { mode: 'scanning', detail: null, watcher: null, scanning: null, rescanQueued: false };
      runtime.set(id, r);
    }
    return r;
  }

  function kickAll(): void {
    hashPump.kick();
    queue.kick();
    metadata.kick();
    statusSoon();
  }

  /** Scans a folder and reconciles the DB with it; coalesces concurrent requests. */
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
          emitFolders();
          let scan: ScanResult;
          try {
            scan = await scanFolder(
              folder.path,
              {
                include: folder.include,
                exclude: folder.exclude,
              },
              shutdown.signal,
            );
          } catch (err) {
            if (closed) return;
            logger.error('folder scan failed', { folder: folder.path, error: String(err) });
            r.mode = previousMode === 'scanning' ? 'watching' : previousMode;
            return;
          }
          if (closed || !store.getFolder(folderId)) return;
          const counts: ReconcileCounts = reconcileFolder(reconcileCtx, folder, scan, priority);
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
          emitFolders();
          kickAll();
        } while (r.rescanQueued && !closed);
      } finally {
        r.scanning = null;
        reconciling--;
        statusSoon();
      }
    };
    r.scanning = run();
    return r.scanning;
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
        hint.paths.map(async (path) => ({
          path,
          st: await statPath(path).catch(() => 'error' as const),
        })),
      );
      if (closed) return;
      store.batch(() => {
        for (const { path, st } of observed) {
          const rel = relativeTo(folder.path, path);
          if (rel === null || rel === '') {
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
            else needRescan = true; // maybe a folder went away with files under it
            continue;
          }
          const c = classifyPath(rel, rules);
          if (c.kind === 'ignored') continue;
          applyEntry(
            reconcileCtx,
            folder,
            { path, relPath: rel, ...st.identity, classification: c },
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
    else kickAll();
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
          emitFolders();
          if (wasOffline && status.mode !== 'offline') void rescan(folder.id);
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

  function folderView(folder: FolderRecord, summary = store.summary()): Folder {
    const counts = emptyCounts();
    let bytesTotal = 0;
    let bytesSafe = 0;
    for (const row of summary) {
      if (row.folderId !== folder.id) continue;
      counts[row.state] += row.files;
      if (row.state !== 'excluded' && row.state !== 'missing') bytesTotal += row.bytes;
      if (row.state === 'backed_up' || row.state === 'duplicate') bytesSafe += row.bytes;
    }
    const r = runtime.get(folder.id);
    return {
      id: folder.id,
      path: folder.path,
      include: folder.include,
      exclude: folder.exclude,
      mode: r?.mode ?? (started ? 'watching' : 'scanning'),
      modeDetail: r?.detail ?? null,
      counts,
      bytesTotal,
      bytesSafe,
      lastScanAt: store.getFolder(folder.id)?.lastScanAt ?? folder.lastScanAt,
    };
  }
  function listFolders(): Folder[] {
    const summary = store.summary();
    return store.listFolders().map((f) => folderView(f, summary));
  }
  let foldersTimer: TimerHandle | null = null;
  function emitFolders(): void {
    if (foldersTimer !== null || closed || !listeners.get('folders.changed')?.size) return;
    foldersTimer = clock.setTimeout(() => {
      foldersTimer = null;
      if (!closed) emit('folders.changed', listFolders());
    }, 250);
    foldersTimer.unref?.();
  }

  // ---- status ----
  function computeStatus(): EngineStatus {
    const counts = emptyCounts();
    let filesTotal = 0;
    let bytesTotal = 0;
    let filesSafe = 0;
    let bytesSafe = 0;
    let bytesPending = 0;
    for (const row of store.summary()) {
      counts[row.state] += row.files;
      if (row.state === 'excluded' || row.state === 'missing') continue;
      filesTotal += row.files;
      bytesTotal += row.bytes;
      if (row.state === 'backed_up' || row.state === 'duplicate') {
        filesSafe += row.files;
        bytesSafe += row.bytes;
      }
      if (pendingStates.includes(row.state)) bytesPending += row.bytes;
    }
    const current: UploadProgress[] = queue.current();
    const sentInFlight = current.reduce((n, c) => n + c.bytesSent, 0);
    bytesPending = Math.max(0, bytesPending - sentInFlight);
    const throughput = current.reduce((n, c) => n + c.bytesPerSecond, 0);
    const reason = pauseReason();
    const anyOffline = [...runtime.values()].some((r) => r.mode === 'offline');
    let status: EngineStatus['status'];
    if (reason !== null)
      status =
        reason === 'sign_in_needed' || reason === 'vault_full' ? 'needs_attention' : 'paused';
    else if (!vaultReachable || anyOffline) status = 'offline';
    else if (
      counts.failed > 0 &&
      counts.discovered + counts.hashing + counts.queued + counts.uploading === 0
    )
      status = 'needs_attention';
    else if (
      counts.discovered + counts.hashing + counts.queued + counts.uploading > 0 ||
      reconciling > 0
    )
      status = 'backing_up';
    else if (counts.failed > 0) status = 'needs_attention';
    else status = 'up_to_date';
    return {
      status,
      paused: reason !== null,
      pauseReason: reason,
      pausedUntil: reason === 'user' ? (userPause?.until ?? null) : null,
      counts,
      filesTotal,
      bytesTotal,
      filesSafe,
      bytesSafe,
      bytesPending,
      throughputBytesPerSecond: throughput,
      etaSeconds: throughput > 0 ? Math.round(bytesPending / throughput) : null,
      oldestUnsafeMtimeMs: store.oldestUnsafeMtime(),
      current,
      lastErrors: store.lastErrors(10),
      vault: {
        url: vault?.endpoint ?? '',
        reachable: vault !== null && vaultReachable,
        embedded: options.vault?.embedded ?? false,
      },
    };
  }

  // ---- a different vault than last time: what was safe there is not known to be safe here ----
  // (The stored hashes stand: every such file is only asked about again, and uploaded only if
  // the new vault lacks it. An embedded vault changes port every run, so it is one identity.)
  const vaultIdentity = vaultConfig
    ? vaultConfig.embedded
      ? 'embedded'
      : vaultConfig.url.replace(/\/+$/, '')
    : null;
  if (vaultIdentity !== null) {
    const previous = store.userSettings().get(vaultIdentityKey);
    if (previous !== undefined && previous !== vaultIdentity) {
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
    if (previous !== vaultIdentity) store.setSetting(vaultIdentityKey, vaultIdentity);
  }

  // ---- recover from a crash: nothing stays hashing or uploading ----
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

  const shutdown = new AbortController();
  let periodic: TimerHandle | null = null;
  function schedulePeriodic(): void {
    if (reconcileIntervalMs <= 0 || closed) return;
    periodic = clock.setTimeout(() => {
      periodic = null;
      for (const f of store.listFolders()) void rescan(f.id);
      schedulePeriodic();
    }, reconcileIntervalMs);
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

  function retryFile(f: FileRecord): boolean {
    if (f.state !== 'failed') return false;
    return store.apply(f.id, transitions.manualRetry(f.error)) !== null;
  }

  const api: KeepsakeApi = {
    'status.get': () => Promise.resolve(computeStatus()),
    'files.list': (args) => {
      const afterId = args.cursor ? Number.parseInt(args.cursor, 10) : 0;
      const limit = args.limit ?? 200;
      const { files, total } = store.listFiles({
        ...(args.state !== undefined ? { state: args.state } : {}),
        ...(args.folderId !== undefined ? { folderId: args.folderId } : {}),
        ...(args.search !== undefined ? { search: args.search } : {}),
        limit,
        afterId: Number.isFinite(afterId) ? afterId : 0,
      });
      const last = files[files.length - 1];
      return Promise.resolve({
        files: files.map(toFileRow),
        next: files.length === limit && last ? String(last.id) : null,
        total,
      });
    },
    'files.retry': ({ id }) => {
      const f = store.getFile(id);
      if (!f) return Promise.reject(new KeepsakeError('not_found', `No file with id ${id}.`));
      retryFile(f);
      kickAll();
      return Promise.resolve({ ok: true as const });
    },
    'files.retryAll': () => {
      let retried = 0;
      store.batch(() => {
        for (const id of store.failedFileIds()) {
          const f = store.getFile(id);
          if (f && retryFile(f)) retried++;
        }
      });
      kickAll();
      return Promise.resolve({ retried });
    },
    'folders.list': () => Promise.resolve(listFolders()),
    'folders.add': async ({ path: input, include, exclude }) => {
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
        activity({ level: 'info', message: `Added folder ${path}`, path, code: null });
      }
      if (started) {
        // Watch first, then scan: a change after the watcher is ready raises an event, one
        // before it is seen by the scan, so nothing falls in between.
        await startWatcher(folder);
        void rescan(folder.id, 1);
      }
      emitFolders();
      return folderView(folder);
    },
    'folders.remove': async ({ id }) => {
      const folder = store.getFolder(id);
      if (!folder) throw new KeepsakeError('not_found', `No folder with id ${id}.`);
      await stopWatcher(id);
      queue.abortFolder(id);
      for (const f of store.filesOfFolder(id)) {
        if (f.uploadUrl && f.state !== 'uploading') reconcileCtx.abandon(f.uploadUrl);
      }
      store.removeFolder(id);
      runtime.delete(id);
      activity({
        level: 'info',
        message: `Stopped watching ${folder.path} (what is on the vault stays there)`,
        path: folder.path,
        code: null,
      });
      emitFolders();
      statusSoon();
      return { ok: true as const };
    },
    'folders.setRules': async ({ id, include, exclude }) => {
      const folder = store.getFolder(id);
      if (!folder) throw new KeepsakeError('not_found', `No folder with id ${id}.`);
      store.setFolderRules(id, include, exclude);
      const updated = store.getFolder(id) ?? folder;
      if (started) {
        await stopWatcher(id);
        await startWatcher(updated);
        void rescan(id);
      }
      emitFolders();
      return folderView(updated);
    },
    'uploads.pause': ({ untilMs }) => {
      userPause = { until: untilMs ?? null };
      if (userPauseTimer !== null) clock.clearTimeout(userPauseTimer);
      userPauseTimer = null;
      if (untilMs) {
        userPauseTimer = clock.setTimeout(
          () => {
            userPauseTimer = null;
            userPause = null;
            applyPause();
          },
          Math.max(0, untilMs - clock.now()),
        );
        userPauseTimer.unref?.();
      }
      activity({ level: 'info', message: 'Paused uploads', path: null, code: null });
      applyPause();
      return Promise.resolve({ ok: true as const });
    },
    'uploads.resume': () => {
      userPause = null;
      if (userPauseTimer !== null) clock.clearTimeout(userPauseTimer);
      userPauseTimer = null;
      // Resuming is also how a person says "I fixed the token / made room": try again.
      blockedBy = null;
      activity({ level: 'info', message: 'Resumed uploads', path: null, code: null });
      applyPause();
      return Promise.resolve({ ok: true as const });
    },
    'settings.get': () => Promise.resolve(settings()),
    'settings.set': async (update) => {
      if (update.key === 'vaultToken') {
        if ('vaultTokenSet' in settingsSource.policy) {
          throw new KeepsakeError('setting_locked', 'The vault token is set by policy.');
        }
        if (update.value === null) await rm(tokenFile, { force: true });
        else {
          await mkdir(options.dataDir, { recursive: true });
          await writeFile(tokenFile, update.value, { mode: 0o600 });
        }
        settingsSource.facts.vaultTokenSet = update.value !== null;
      } else {
        applySettingUpdate(store, settingsSource, update);
        if (update.key === 'bandwidthLimit') applyBandwidth();
        if (update.key === 'concurrency') queue.kick();
        if (update.key === 'pauseOnBattery' || update.key === 'pauseOnMetered') applyPause();
      }
      statusSoon();
      return settings();
    },
    'vault.usage': () =>
      vault
        ? vault.usage(shutdown.signal)
        : Promise.reject(new KeepsakeError('vault_unreachable', 'No vault is configured.')),
    'activity.list': ({ limit }) => Promise.resolve(store.listActivity(limit ?? 100)),
    'diagnostics.export': () => {
      const s = settings();
      const bundle = {
        generatedAt: new Date(clock.now()).toISOString(),
        status: computeStatus(),
        folders: listFolders(),
        settings: s,
        activity: store.listActivity(500),
        platform: { os: process.platform, arch: process.arch, node: process.version },
      };
      return Promise.resolve({
        filename: `keepsake-diagnostics-${clock.now()}.json`,
        content: JSON.stringify(bundle, null, 2),
      });
    },
  };

  async function closeEngine(): Promise<void> {
    if (closed) return;
    closed = true;
    shutdown.abort();
    for (const t of [statusTimer, progressTimer, foldersTimer, periodic, userPauseTimer]) {
      if (t !== null) clock.clearTimeout(t);
    }
    await Promise.allSettled([...runtime.keys()].map((id) => stopWatcher(id)));
    await Promise.allSettled([...runtime.values()].map((r) => r.scanning ?? Promise.resolve()));
    await queue.close();
    await hashPump.close();
    await metadata.close();
    await Promise.allSettled([uploader.close(), hasher.close(), metadataReader?.close()]);
    vault?.close();
    vaultHttp?.destroy();
    store.close();
    lock.release();
  }

  const engine: KeepsakeEngine = {
    api,
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
      }
      const l = listener as Listener;
      set.add(l);
      return () => set.delete(l);
    },
    async start() {
      if (started) return;
      started = true;
      try {
        const token = (await readFile(tokenFile, 'utf8').catch(() => '')).trim();
        if (token) settingsSource.facts.vaultTokenSet = true;
      } catch {
        // no stored token
      }
      applyBandwidth();
      applyPause();
      const folders = store.listFolders();
      await Promise.all(folders.map((f) => startWatcher(f)));
      await Promise.all(folders.map((f) => rescan(f.id)));
      kickAll();
      schedulePeriodic();
    },
    async whenSettled(signal) {
      for (;;) {
        signal?.throwIfAborted();
        if (closed) throw new KeepsakeError('internal', 'The engine was closed.');
        if (blockedBy) throw new KeepsakeError(blockedBy, blockedMessage);
        if (
          reconciling === 0 &&
          hashPump.idle() &&
          queue.idle() &&
          store.pendingCount(dryRun) === 0 &&
          [...runtime.values()].every((r) => r.scanning === null)
        ) {
          return;
        }
        await clock.sleep(100, signal);
      }
    },
    setPowerState(state) {
      power = { ...state };
      applyPause();
    },
    close: closeEngine,
    async whenMetadataSent(signal) {
      while (!metadata.drained()) {
        if (closed) return;
        await clock.sleep(200, signal);
      }
    },
    bytesUploaded: () => queue.bytesUploaded(),
  };
  return engine;
}
