// The composition root of the sync engine (CONVENTIONS.md "One composition root"):
// createEngine() takes the ports (clock, logger, hasher, metadata reader, uploader, scan and
// watch functions, the vault endpoint), builds the store, the pipeline (pipeline/) and the
// runtime parts (runtime/) around them and wires them together. Behaviour lives in those
// parts; this file only decides what is built and who tells whom.
//
// Invariants: one engine per data directory (the lock is held from createEngine to close);
// the engine takes ownership of the hasher, metadata reader and uploader it is given and
// closes them in close(); it never writes, renames, locks or deletes anything in a watched
// folder (it only stats, lists and reads).
import { arch, platform, release } from 'node:os';
import type { ActivityEvent } from '../../common/contract.js';
import type { EngineOptions, KeepsakeEngine } from './api.js';
import { databasePath } from './data-dir.js';
import { defaultDeviceName, deviceIdOf } from './device.js';
import { KeepsakeError } from './errors.js';
import { createFileHasher } from './hash/index.js';
import { createMetadataReader } from './metadata/index.js';
import { defaultBackoff } from './pipeline/backoff.js';
import { createPipeline } from './pipeline/stages.js';
import { silentLogger, systemClock } from './ports.js';
import { bandwidthPolicyOf } from './runtime/bandwidth.js';
import { createCommands } from './runtime/commands.js';
import { coalescedEvent, createEventBus, engineNotices } from './runtime/events.js';
import { createFolders, lstatPath } from './runtime/folders.js';
import { createHeartbeat, type HeartbeatSender } from './runtime/heartbeat.js';
import { createPause } from './runtime/pause.js';
import { createUpdateGate } from './runtime/update-gate.js';
import { createRuntimePolicy } from './runtime/policy.js';
import { emptyPolicy } from '../../common/policy.js';
import {
  forgetSafetyOnVaultChange,
  openDataDir,
  recoverInterrupted,
  vaultIdentityOf,
} from './runtime/recovery.js';
import { createVaultPlace } from './runtime/vault-place.js';
import { engineStatus } from './runtime/status.js';
import { createSecretStore } from './secret-store.js';
import { markDamaged } from './store/database.js';
import { resolveSettings, type SettingsSource } from './store/settings.js';
import { createHealer } from './verify/healer.js';
import { createRestoreCommands } from './restore/restore-commands.js';
import { createDeviceOffers, noDeviceCommands } from './import/device/device-offers.js';
import { createLibraryCommands } from './library/library-commands.js';
import { createMediaSource, noVaultMedia } from './library/media.js';
import { createVerifyCommands } from './verify/verify-commands.js';
import { createFreeUp } from './free-up/free-up.js';
import { createFreeUpCommands } from './free-up/free-up-commands.js';
import { systemTrash } from './free-up/system-trash.js';
import { createTusUploader } from './vault/tus-uploader.js';
import type { Uploader } from './vault/types.js';
import { createHttpClient } from './vault/http-client.js';
import { createVaultClient } from './vault/vault-client.js';
import { classifyPath as defaultClassifyPath } from './watch/media-types.js';
import { scanFolder as defaultScanFolder } from './watch/scan.js';
import { sniffFile } from './watch/sniff.js';
import { createFolderWatcher } from './watch/watcher.js';
import { engineVersion } from './version.js';

/** The uploader of an engine with no vault: never called (the queue does not run). */
const noVaultUploader: Uploader = {
  upload: () => Promise.reject(new KeepsakeError('vault_unreachable', 'No vault is configured.')),
  abandon: () => Promise.resolve(),
  setBandwidthLimit: () => {},
  close: () => Promise.resolve(),
};

export async function createEngine(options: EngineOptions): Promise<KeepsakeEngine> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const statPath = options.statPath ?? lstatPath;
  const dryRun = options.dryRun ?? false;

  // A storage fault may come from any write, the first ones included: it is handled once the
  // parts it stops exist (see onStorageFault below).
  let storageFaultSeen: ((fault: KeepsakeError) => void) | null = null;
  const { lock, store } = await openDataDir(options.dataDir, clock, logger, (fault) =>
    storageFaultSeen?.(fault),
  );
  const secrets = options.secrets ?? createSecretStore(options.dataDir);
  const vaultConfig = options.vault ?? null;
  const settingsSource: SettingsSource = {
    policy: {},
    overrides: { ...options.overrides },
    facts: {
      // The embedded vault's loopback URL changes every start and is no address a person
      // could use elsewhere: Settings names it as the embedded vault instead (status.vault.dir).
      vaultUrl: vaultConfig?.embedded === true ? null : (vaultConfig?.url ?? null),
      // The embedded vault's own token is not one the person set.
      vaultTokenSet: !(vaultConfig?.embedded ?? true) && vaultConfig?.token !== '',
      tokenStorage: secrets.kind,
      deviceName: defaultDeviceName(),
    },
  };
  // Early activity (policy problems found at start) goes straight to the store; see below.
  let activityOut: (event: Omit<ActivityEvent, 'id' | 'at'>) => void = (event) => {
    store.addActivity(event);
  };
  const policy = createRuntimePolicy({
    initial: options.policy ?? emptyPolicy,
    settingsSource,
    store,
    activity: (event) => activityOut(event),
  });
  const settings = () => resolveSettings(store, settingsSource);
  const deviceId = deviceIdOf(options.dataDir, store);

  // ---- ports: the ones given, or the production ones built now ----
  // One HTTP client (proxy, CA bundle, keep-alive) for every call to the vault.
  const http = vaultConfig
    ? createHttpClient({
        endpoint: vaultConfig.url,
        ...(vaultConfig.caFile ? { caFile: vaultConfig.caFile } : {}),
        idleTimeoutMs: 30_000,
      })
    : null;
  const vault =
    vaultConfig && http
      ? createVaultClient({ endpoint: vaultConfig.url, token: vaultConfig.token, http })
      : null;
  const uploader: Uploader =
    options.uploader ??
    (vaultConfig && http
      ? createTusUploader({
          endpoint: vaultConfig.url,
          token: vaultConfig.token,
          chunkSizeBytes: settings().chunkSizeBytes.value,
          bandwidth: null,
          http,
          logger: logger.child({ part: 'upload' }),
          clock,
        })
      : noVaultUploader);
  const hasher = options.hasher ?? createFileHasher({ logger: logger.child({ part: 'hash' }) });
  const metadataReader =
    options.metadataReader === undefined
      ? createMetadataReader({ logger: logger.child({ part: 'metadata' }), clock })
      : options.metadataReader;

  // ---- events ----
  const bus = createEventBus(logger);
  const statusEvent = coalescedEvent(bus, clock, 'status', () => status());
  const progressEvent = coalescedEvent(bus, clock, 'upload.progress', () => pipeline.current());
  const foldersEvent = coalescedEvent(bus, clock, 'folders.changed', () => folders.list());
  // While bytes flow, the status (speed, bytes left) is sent again about once a second, so
  // the speed chart and the counts move with "Uploading now" and not only when a file ends.
  const statusTick = coalescedEvent(bus, clock, 'status', () => status(), 1000);
  const statusSoon = () => {
    statusEvent.soon();
    heartbeat?.poke();
  };
  // Made at start (See runtime/heartbeat.ts); status changes tell it a reconcile pass ended.
  let heartbeat: HeartbeatSender | null = null;
  const { fileChanged, activity } = engineNotices(bus, store, logger, statusSoon);
  activityOut = activity;
  let vaultReachable = true;
  let closed = false;
  let started = false;
  const shutdown = new AbortController();

  // ---- pause and the pipeline ----
  const pause = createPause({
    clock,
    ...(options.powerState ? { power: options.powerState } : {}),
    pauseOnBattery: () => settings().pauseOnBattery.value,
    pauseOnMetered: () => settings().pauseOnMetered.value,
    onChange() {
      pipeline.setPaused(pause.reason() !== null);
      statusSoon();
    },
  });
  const pipeline = createPipeline({
    store,
    vault,
    uploader,
    hasher,
    metadataReader,
    statPath,
    clock,
    logger,
    backoff: { ...defaultBackoff, ...options.backoff },
    concurrency: () => settings().concurrency.value,
    settleMs: options.settleMs ?? 2000,
    largeFileBytes: options.largeFileBytes ?? 64 * 1024 * 1024,
    batchFileMaxBytes: settings().chunkSizeBytes.value,
    maxVerifyFailures: options.maxVerifyFailures ?? 3,
    hashConcurrency: options.hashConcurrency ?? 8,
    // The reader batches up to 16 files into one exiftool call, but only files that are
    // being read at the same time: a pump of 4 capped every batch at 4 files.
    metadataConcurrency: options.metadataConcurrency ?? 16,
    dryRun,
    ...(options.random ? { random: options.random } : {}),
    sendingAllowed: () => pause.reason() === null,
    device: () => ({ id: deviceId, name: settings().deviceName.value }),
    events: {
      fileChanged,
      activity,
      pauseRequired(reason, message, replace) {
        if (pause.block(reason, message, replace)) {
          activity({ level: 'error', message, path: null, code: reason });
        }
      },
      vaultReachable(reachable) {
        if (vaultReachable !== reachable) {
          vaultReachable = reachable;
          statusSoon();
        }
      },
      progress: () => {
        progressEvent.soon();
        statusTick.soon();
        for (const listener of uploadListeners) listener();
      },
    },
  });
  function kickAll(): void {
    pipeline.kickAll();
    statusSoon();
  }
  // The desktop's updater asks it for a safe point to restart at (See runtime/update-gate.ts).
  const uploadListeners = new Set<() => void>();
  const updateGate = createUpdateGate({
    holdUploads: (held) => pipeline.holdUploads(held),
    uploadsInFlight: () => pipeline.uploadsInFlight(),
    onUploadsChanged(listener) {
      uploadListeners.add(listener);
      return () => void uploadListeners.delete(listener);
    },
    say: (message) => activity({ level: 'info', message, path: null, code: 'update_pending' }),
  });

  // ---- runtime ----
  // The timetable is followed by the uploader's throttle alone; this hands it the setting.
  const applyBandwidth = () =>
    uploader.setBandwidthPolicy?.(bandwidthPolicyOf(settings().bandwidthLimit.value, logger));
  const folders = createFolders({
    store,
    clock,
    logger,
    statPath,
    scanFolder: options.scanFolder ?? defaultScanFolder,
    classifyPath: options.classifyPath ?? defaultClassifyPath,
    sniffContent: sniffFile,
    createWatcher:
      options.createWatcher === undefined ? createFolderWatcher : options.createWatcher,
    reconcileIntervalMs: options.reconcileIntervalMs ?? 3600_000,
    abandonUpload(url) {
      uploader.abandon(url).catch((err: unknown) => {
        logger.debug('abandon failed', { error: String(err) });
      });
    },
    abortFolderUploads: (id) => pipeline.abortFolder(id),
    activity,
    kickAll,
    foldersChanged: () => foldersEvent.soon(),
    statusChanged: statusSoon,
    requiredByPolicy: (path) => policy.requires(path),
  });
  const vaultPlace = createVaultPlace(
    vaultConfig?.embedded === true ? (vaultConfig.dir ?? null) : null,
    clock,
  );
  function status() {
    const st = engineStatus({
      summary: store.summary(),
      current: pipeline.current(),
      throughput: pipeline.throughput(),
      pauseReason: pause.reason(),
      pausedUntil: pause.pausedUntil(),
      vaultReachable,
      anyFolderOffline: folders.anyOffline(),
      reconciling: folders.reconciling(),
      oldestUnsafeMtimeMs: store.oldestUnsafeMtime(),
      unreadableFolders: store.folderProblems().length,
      emptyFiles: store.emptyFileCount(),
      placesNotRecorded: store.locationRefusedCount(),
      lastErrors: store.lastErrors(10),
      vault: {
        url: vault?.endpoint ?? '',
        reachable: vault !== null && vaultReachable,
        embedded: vaultConfig?.embedded ?? false,
        dir: vaultPlace.dir,
        sameDiskAs: vaultPlace.sameDiskAs(store.listFolders().map((f) => f.path)),
      },
    });
    return { ...st, power: pause.power() };
  }
  // ---- proof and healing (verify/) ----
  const healer = createHealer({
    store,
    vault: dryRun ? null : vault,
    clock,
    logger: logger.child({ part: 'heal' }),
    activity,
    kick: kickAll,
    auditIntervalMs: options.vaultAuditIntervalMs ?? 24 * 3600_000,
  });
  const verify = createVerifyCommands({
    store,
    vault,
    embedded: vaultConfig?.embedded ?? false,
    statPath,
    hasher,
    clock,
    healer,
    signal: shutdown.signal,
    activity,
    kickAll,
  });
  const restore = createRestoreCommands({
    vault,
    content:
      vaultConfig && http
        ? { http, endpoint: vault?.endpoint ?? vaultConfig.url, token: vaultConfig.token }
        : null,
    clock,
    logger: logger.child({ part: 'restore' }),
    signal: shutdown.signal,
  });
  // ---- free up space (free-up/): the one place a watched folder is touched, on request ----
  const freeUp = createFreeUpCommands({
    freeUp: createFreeUp({
      store,
      vault: dryRun ? null : vault,
      statPath,
      hashFile: (path, signal) => hasher.hashFile(path, signal),
      trash: options.moveToTrash ?? systemTrash,
      clock,
      allowed: () => {
        const setting = settings().freeUpAllowed;
        return { allowed: setting.value, lockedByPolicy: setting.locked };
      },
    }),
    signal: shutdown.signal,
    activity,
    changed: () => {
      statusSoon();
      foldersEvent.soon();
    },
  });
  const library = createLibraryCommands({ vault, signal: shutdown.signal });
  // Cards and cameras that mount as a disk (issue 12 section 4): offered, imported on consent.
  const deviceOffers = options.devices
    ? createDeviceOffers({
        source: options.devices.source,
        defaultInto: options.devices.defaultInto,
        ...(options.devices.pattern !== undefined ? { pattern: options.devices.pattern } : {}),
        store,
        vault: dryRun ? null : vault,
        hasher,
        metadata: metadataReader,
        folders,
        engineIdle: () => folders.idle() && pipeline.idle() && store.pendingCount(dryRun) === 0,
        clock,
        logger: logger.child({ part: 'devices' }),
        activity,
        changed: (offers) => bus.emit('devices.changed', offers),
        signal: shutdown.signal,
      })
    : null;
  const media =
    vaultConfig && http
      ? createMediaSource({
          http,
          endpoint: vault?.endpoint ?? vaultConfig.url,
          token: vaultConfig.token,
        })
      : noVaultMedia;
  const api = createCommands({
    store,
    clock,
    settings,
    settingsSource,
    secrets,
    pause,
    folders,
    status,
    vault,
    signal: shutdown.signal,
    activity,
    kickAll,
    statusChanged: statusSoon,
    settingChanged: (key) => (key === 'bandwidthLimit' ? applyBandwidth() : pipeline.kickUploads()),
    verify,
    restore,
    freeUp,
    library,
    devices: deviceOffers?.api ?? noDeviceCommands,
    policy,
  });

  // ---- storage faults: see [Note: Store fault mode] ----
  // The store stopped writing (every stage found no more work); the engine pauses with the
  // reason, which `keepsake backup` stops on and the UI shows. A full disk is tried again every
  // diskFullRetryMs: once a write works, what the fault cut short is put right as after a
  // crash, every folder is rescanned (rows of the rolled-back group), and work goes on.
  let diskRetryTimer: ReturnType<typeof clock.setTimeout> | null = null;
  function onStorageFault(fault: KeepsakeError): void {
    logger.error('storage fault: Keepsake stops writing', {
      code: fault.code,
      error: fault.message,
    });
    if (fault.code === 'database_corrupt') markDamaged(databasePath(options.dataDir));
    const reason = fault.code === 'database_corrupt' ? 'database_corrupt' : 'disk_full';
    if (pause.block(reason, fault.message, true)) {
      activity({ level: 'error', message: fault.message, path: null, code: fault.code });
    }
    if (reason === 'disk_full') scheduleDiskRetry();
    options.onStorageFault?.(fault);
  }
  function scheduleDiskRetry(): void {
    if (closed || diskRetryTimer !== null) return;
    diskRetryTimer = clock.setTimeout(() => {
      diskRetryTimer = null;
      if (closed) return;
      if (!store.retryAfterFault()) {
        scheduleDiskRetry();
        return;
      }
      recoverInterrupted(store);
      // Full again at once: the store is back in fault mode and the retry is scheduled.
      if (store.fault() !== null) return;
      logger.info('there is room for the database again: going on');
      pause.unblock('disk_full');
      activity({
        level: 'info',
        message: "There is room for Keepsake's database again: backing up goes on.",
        path: null,
        code: null,
      });
      for (const f of store.listFolders()) {
        folders.rescan(f.id).catch((err: unknown) => {
          logger.warn('rescan after a full disk failed', { error: String(err) });
        });
      }
      kickAll();
    }, options.diskFullRetryMs ?? 60_000);
    diskRetryTimer.unref?.();
  }
  storageFaultSeen = onStorageFault;

  // ---- before anything runs: the store put right ----
  if (vaultConfig) forgetSafetyOnVaultChange(store, vaultIdentityOf(vaultConfig));
  recoverInterrupted(store);
  const earlyFault = store.fault();
  if (earlyFault) onStorageFault(earlyFault);

  return {
    api,
    media,
    on: bus.on,
    async start() {
      if (started) return;
      started = true;
      if ((await secrets.read()) !== null) settingsSource.facts.vaultTokenSet = true;
      applyBandwidth();
      pause.recheck();
      heartbeat = createHeartbeat({
        // An embedded vault is this computer's own: no fleet to report to.
        send:
          vault?.heartbeat && !dryRun && vaultConfig?.embedded !== true
            ? (beat, signal) => vault.heartbeat!(beat, signal)
            : null,
        status,
        oldestUnsafeSince: () => store.oldestUnsafeSince(),
        reconciling: () => folders.reconciling() > 0,
        settled: () =>
          folders.idle() && healer.idle() && pipeline.idle() && store.pendingCount(dryRun) === 0,
        clock,
        logger: logger.child({ part: 'heartbeat' }),
        version: engineVersion(),
        os: `${platform()} ${release()} ${arch()}`,
        signal: shutdown.signal,
      });
      // Required folders are watched from the first scan on.
      await policy.applyFolders(folders);
      await folders.start();
      await deviceOffers?.start();
      // Content the vault lost since the last run (a scrub's finding) is uploaded again.
      if (!dryRun) healer.start();
    },
    async whenSettled(signal) {
      for (;;) {
        signal?.throwIfAborted();
        if (closed) throw new KeepsakeError('internal', 'The engine was closed.');
        const fault = store.fault();
        if (fault) throw fault;
        const blocked = pause.blocked();
        if (blocked) throw new KeepsakeError(blocked.reason, blocked.message);
        if (
          folders.idle() &&
          healer.idle() &&
          pipeline.idle() &&
          store.pendingCount(dryRun) === 0
        ) {
          // Settled means durable, and announced: the last group's changes reach the
          // listeners (queued as microtasks by the commit) before the caller goes on.
          store.commit();
          return;
        }
        await clock.sleep(20, signal);
      }
    },
    setPowerState: (state) => pause.setPower(state),
    async setPolicy(next) {
      if (closed) return;
      policy.set(next);
      applyBandwidth();
      pipeline.kickUploads();
      pause.recheck();
      if (started) await policy.applyFolders(folders);
      foldersEvent.soon();
      statusSoon();
    },
    async close() {
      if (closed) return;
      closed = true;
      heartbeat?.close();
      shutdown.abort();
      if (diskRetryTimer !== null) clock.clearTimeout(diskRetryTimer);
      for (const part of [statusEvent, statusTick, progressEvent, foldersEvent, pause]) {
        part.close();
      }
      healer.close();
      await deviceOffers?.close();
      await folders.close();
      await pipeline.close();
      await Promise.allSettled([uploader.close(), hasher.close(), metadataReader?.close()]);
      vault?.close();
      http?.destroy();
      store.close();
      lock.release();
    },
    async whenMetadataSent(signal) {
      while (!pipeline.metadataDrained()) {
        if (closed) return;
        await clock.sleep(50, signal);
      }
    },
    async whenLocationsSent(signal) {
      while (!pipeline.locationsDrained()) {
        if (closed) return;
        await clock.sleep(100, signal);
      }
    },
    async whenGroupsSent(signal) {
      while (!pipeline.groupsDrained()) {
        if (closed) return;
        await clock.sleep(100, signal);
      }
    },
    bytesUploaded: () => pipeline.bytesUploaded(),
    sendHeartbeat: (pass) => heartbeat?.send(pass) ?? Promise.resolve(),
    updateGate,
  };
}
