// The object the Electron shell, the CLI and the web UI server talk to. createEngine() in
// engine.ts builds it from EngineOptions; its `api` implements every command of common/contract.ts, and its
// events are the contract's events. Transports validate with the contract's schemas.
import type { EventName, EventPayload, KeepsakeApi } from '../../common/contract.js';
import type { Policy } from '../../common/policy.js';
import type { FileHasher } from './hash/types.js';
import type { MetadataReader } from './metadata/types.js';
import type { BackoffPolicy } from './pipeline/backoff.js';
import type { StatPath } from './pipeline/hash-pump.js';
import type { KeepsakeError } from './errors.js';
import type { Clock, Logger, PowerState, SecretStore } from './ports.js';
import type { ClassifyPath, CreateWatcher, ScanFolder } from './runtime/folders.js';
import type { SettingValues } from './store/settings.js';
import type { Uploader } from './vault/types.js';
import type { VolumeSource } from './import/device/volumes.js';
import type { MediaSource } from './library/media.js';
import type { MoveToTrash } from './free-up/free-up.js';
import type { UpdateGate } from './runtime/update-gate.js';

export interface Engine {
  /** Every command of the contract, as methods taking already-validated arguments. */
  readonly api: KeepsakeApi;
  /** An asset's pictures and bytes from the vault, for the UI transports to serve. */
  readonly media: MediaSource;
  /** Subscribes to an engine event; returns the unsubscribe function. */
  on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void): () => void;
  /** Reconcile-scans the folders, starts the watchers and the upload queue. */
  start(): Promise<void>;
  /** Resolves when every known file has settled (no discovered/hashing/queued/uploading left,
   * and no retry scheduled before the deadline): what `keepsake backup` waits for. */
  whenSettled(signal?: AbortSignal): Promise<void>;
  /** Battery and metered-network state from the Electron shell or the CLI. */
  setPowerState(state: PowerState): void;
  /** The organisation's policy changed (read again): applied at once, folders included. */
  setPolicy(policy: Policy): Promise<void>;
  /** Stops cleanly: watchers closed, in-flight uploads aborted with their offsets kept,
   * the database closed and the data-directory lock released. */
  close(): Promise<void>;
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
    /** The embedded vault's storage directory (to say where the backup is, and on which disk). */
    dir?: string;
    /** PEM bundle for TLS inspection proxies. */
    caFile?: string;
  } | null;
  /** Where the vault token set in Settings is kept (default: a 0600 file in dataDir). */
  secrets?: SecretStore;
  // The ports below are optional: when one is omitted, createEngine builds the production one
  // (at call time, never on import). Whatever is passed or built, the engine closes in close().
  /** Default: vault/tus-uploader.ts against vault.url with the chunk size setting. */
  uploader?: Uploader;
  hasher?: FileHasher;
  /** null = no metadata read or sent. */
  metadataReader?: MetadataReader | null;
  scanFolder?: ScanFolder;
  classifyPath?: ClassifyPath;
  /** null = no watchers (one pass, as `keepsake backup` runs; reconcile scans only). */
  createWatcher?: CreateWatcher | null;
  /** lstat port for hinted paths and folder checks (default: node:fs lstat). */
  statPath?: StatPath;
  /** How long size and mtime must hold still before hashing (default 2000 ms). */
  settleMs?: number;
  /** Periodic reconcile scan of every folder (default hourly; 0 = never). */
  reconcileIntervalMs?: number;
  /** After a full disk stopped the database: how often to try writing again (default 60 s). */
  diskFullRetryMs?: number;
  /** Runtime overrides for this run (e.g. --concurrency, --bwlimit); not persisted. */
  overrides?: Partial<Pick<SettingValues, 'concurrency' | 'bandwidthLimit' | 'chunkSizeBytes'>>;
  /** The organisation's policy as read at start (engine/policy/read-policy.ts); none: empty. */
  policy?: Policy;
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
  /**
   * How often the safe files' content is checked against the vault's dedup check, so content
   * it lost (damaged or missing) is uploaded again: at start when the last check is this old,
   * then this often (default daily; 0 = at every start). See [Note: Audit cost] in
   * verify/healer.ts.
   */
  vaultAuditIntervalMs?: number;
  /** Random source for backoff jitter (tests may seed it). */
  random?: () => number;
  /**
   * Told once when the database stops taking writes (a full disk, a damaged file: see
   * [Note: Store fault mode]); the daemon and the app rebuild a damaged one in-process
   * (host/rebuilding-engine.ts).
   */
  onStorageFault?: (fault: KeepsakeError) => void;
  /**
   * Cards and cameras that mount as a disk (issue 12 section 4): the port that lists mounted
   * volumes, and where imports copy to until the person chooses. Omitted or null: no volume is
   * watched (one-off CLI runs).
   */
  devices?: { source: VolumeSource; defaultInto: string; pattern?: string } | null;
  /** Where free-up moves files (default: the system's trash, free-up/system-trash.ts). */
  moveToTrash?: MoveToTrash;
}

/** The Engine of api.ts plus what `keepsake backup` needs for its summary (additive). */
export interface KeepsakeEngine extends Engine {
  /** Resolves once metadata of hashed files has been read and sent (the caller bounds it). */
  whenMetadataSent(signal?: AbortSignal): Promise<void>;
  /** Resolves once every safe file's place is registered on the vault (the caller bounds it). */
  whenLocationsSent(signal?: AbortSignal): Promise<void>;
  /** Resolves once every group whose members are safe is declared to the vault (bounded by the caller). */
  whenGroupsSent(signal?: AbortSignal): Promise<void>;
  /** Bytes the vault confirmed from this engine since it was created. */
  bytesUploaded(): number;
  /**
   * Tells the vault how this device is doing now (See runtime/heartbeat.ts); never throws. The
   * engine sends one by itself after each reconcile and each settled backup pass once started.
   */
  sendHeartbeat(pass: 'reconcile' | 'backup'): Promise<void>;
  /** Where an update may restart the app: never mid-upload (See runtime/update-gate.ts). */
  updateGate: UpdateGate;
}
