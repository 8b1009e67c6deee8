// The stages of the pipeline (hash pump, upload queue, metadata pump, location pump) built
// together.
// They hand work to each other through the store: each transition is announced once
// committed (store.onCommitted), the hash pump and the upload queue keep ready lists fed by
// those announcements (see [Note: Ready lists] in ready-list.ts), and the metadata pump is
// woken once per committed group that hashed a file or made one safe. What happens outside
// the pipeline (status, activity, pause) goes out through `events`; the engine (engine.ts)
// only wires those.
//
// Invariant: the stages are closed in pipeline order (queue, hashes, metadata), each after
// the one that feeds it can no longer hand it anything.
import type { ActivityEvent, UploadProgress } from '../../../common/contract.js';
import type { DeviceIdentity } from '../device.js';
import type { FileHasher } from '../hash/types.js';
import type { MetadataReader } from '../metadata/types.js';
import type { Clock, Logger } from '../ports.js';
import type { FileRecord, Store } from '../store/store.js';
import type { Uploader } from '../vault/types.js';
import type { VaultClient } from '../vault/vault-client.js';
import type { BackoffPolicy } from './backoff.js';
import { createHashPump, type StatPath } from './hash-pump.js';
import { createMetadataPump, type MetadataPump } from './metadata-pump.js';
import { createLocationPump, type LocationPump } from './location-pump.js';
import { createGroupPump, type GroupPump } from './group-pump.js';
import { hashedStates } from './transitions.js';
import { createUploadQueue } from './upload-queue.js';

export interface PipelineOptions {
  store: Store;
  vault: VaultClient | null;
  uploader: Uploader;
  hasher: FileHasher;
  /** null: no metadata read or sent. */
  metadataReader: MetadataReader | null;
  statPath: StatPath;
  clock: Clock;
  logger: Logger;
  backoff: BackoffPolicy;
  /** Read on every scheduling pass, so a settings change applies live. */
  concurrency: () => number;
  settleMs: number;
  largeFileBytes: number;
  /** Files up to this size (one upload chunk) go in batches when the uploader can. */
  batchFileMaxBytes: number;
  maxVerifyFailures: number;
  hashConcurrency: number;
  metadataConcurrency: number;
  dryRun: boolean;
  random?: () => number;
  /** Whether metadata may be sent now (not paused). Read on each pass. */
  sendingAllowed: () => boolean;
  /** This computer on the vault; absent: no locations are registered (location-pump.ts). */
  device?: () => DeviceIdentity;
  events: {
    /** The metadata pump's changes (the store announces state changes itself). */
    fileChanged: (file: FileRecord) => void;
    activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
    /**
     * The vault refused us for a reason only a person can fix. `replace`: the upload queue's
     * view (a different refusal replaces the current one); the metadata pump's does not.
     */
    pauseRequired: (
      reason: 'sign_in_needed' | 'vault_full',
      message: string,
      replace: boolean,
    ) => void;
    vaultReachable: (reachable: boolean) => void;
    progress: () => void;
  };
}

export interface Pipeline {
  /** Something may have changed: every stage looks for work. */
  kickAll(): void;
  setPaused(paused: boolean): void;
  /** No new upload starts while held; those in flight finish (See runtime/update-gate.ts). */
  holdUploads(held: boolean): void;
  /** Uploads (single files or batches) in flight now. */
  uploadsInFlight(): number;
  /** Aborts the in-flight uploads of one folder's files (the folder is being removed). */
  abortFolder(folderId: number): void;
  /** Uploads in flight. */
  current(): UploadProgress[];
  /** No hash or upload in flight. */
  idle(): boolean;
  /** Metadata of every hashed file read and sent (or nothing to send). */
  metadataDrained(): boolean;
  /** Every safe file's place registered on the vault, every missing one's marked gone. */
  locationsDrained(): boolean;
  /** Every group whose members are safe declared to the vault (group-pump.ts). */
  groupsDrained(): boolean;
  /** A setting the queue reads changed (concurrency). */
  kickUploads(): void;
  bytesUploaded(): number;
  /** Upload bytes per second over the last few seconds (see [Note: One throughput]). */
  throughput(): number;
  close(): Promise<void>;
}

const idleMetadataPump: MetadataPump = {
  kick: () => {},
  drained: () => true,
  close: () => Promise.resolve(),
};

export function createPipeline(options: PipelineOptions): Pipeline {
  const { store, vault, clock, logger, events, dryRun } = options;
  const queue = createUploadQueue({
    store,
    vault,
    uploader: options.uploader,
    clock,
    logger: logger.child({ part: 'queue' }),
    backoff: options.backoff,
    concurrency: options.concurrency,
    largeFileBytes: options.largeFileBytes,
    batchFileMaxBytes: options.batchFileMaxBytes,
    maxVerifyFailures: options.maxVerifyFailures,
    dryRun,
    ...(options.random ? { random: options.random } : {}),
    events: {
      activity: events.activity,
      pauseRequired: (reason, message) => events.pauseRequired(reason, message, true),
      vaultReachable: events.vaultReachable,
      progress: events.progress,
    },
  });
  const hashPump = createHashPump({
    store,
    hasher: options.hasher,
    statPath: options.statPath,
    clock,
    logger: logger.child({ part: 'hash' }),
    settleMs: options.settleMs,
    // A dry run reports what the dedup check says, and without a vault hashing is the job.
    hashWhileSendingAbove: dryRun || vault === null ? null : options.batchFileMaxBytes,
    concurrency: options.hashConcurrency,
    events: { activity: events.activity },
  });
  // Groups are decided from what metadata says, and told to the vault: neither without both.
  const groups: Pick<GroupPump, 'kick' | 'drained' | 'close'> =
    vault === null || dryRun || options.metadataReader === null
      ? idleMetadataPump
      : createGroupPump({
          store,
          vault,
          clock,
          logger: logger.child({ part: 'groups' }),
          sendingAllowed: options.sendingAllowed,
          events: {
            pauseRequired: (reason, message) => events.pauseRequired(reason, message, false),
          },
        });
  // A dry run reads no metadata: nothing would be sent, and exiftool would be most of its cost.
  const metadata =
    options.metadataReader === null || dryRun
      ? idleMetadataPump
      : createMetadataPump({
          store,
          reader: options.metadataReader,
          vault,
          clock,
          logger: logger.child({ part: 'metadata' }),
          concurrency: options.metadataConcurrency,
          sendingAllowed: () => !dryRun && options.sendingAllowed(),
          engineBusy: () => !(hashPump.idle() && queue.idle()),
          events: {
            fileChanged: (file) => {
              events.fileChanged(file);
              groups.kick(file.folderId);
            },
            pauseRequired: (reason, message) => events.pauseRequired(reason, message, false),
          },
        });
  const locations: Pick<LocationPump, 'kick' | 'drained' | 'close'> =
    vault === null || dryRun || options.device === undefined
      ? idleMetadataPump
      : createLocationPump({
          store,
          vault,
          clock,
          logger: logger.child({ part: 'locations' }),
          device: options.device,
          sendingAllowed: options.sendingAllowed,
          events: {
            pauseRequired: (reason, message) => events.pauseRequired(reason, message, false),
          },
        });
  const unsubscribe = store.onCommitted((changes) => {
    if (changes.some((c) => hashedStates.includes(c.file.state))) metadata.kick();
  });
  return {
    kickAll() {
      hashPump.kick();
      queue.kick();
      metadata.kick();
      locations.kick();
      groups.kick();
    },
    setPaused(paused) {
      queue.setPaused(paused);
      if (!paused) {
        metadata.kick();
        locations.kick();
        groups.kick();
      }
    },
    holdUploads: (held) => queue.setHeld(held),
    uploadsInFlight: () => queue.inFlight(),
    abortFolder: (id) => queue.abortFolder(id),
    current: () => queue.current(),
    idle: () => hashPump.idle() && queue.idle(),
    metadataDrained: () => metadata.drained(),
    locationsDrained: () => locations.drained(),
    groupsDrained: () => groups.drained(),
    kickUploads: () => queue.kick(),
    bytesUploaded: () => queue.bytesUploaded(),
    throughput: () => queue.throughput(),
    async close() {
      unsubscribe();
      await queue.close();
      await hashPump.close();
      await metadata.close();
      await locations.close();
      await groups.close();
    },
  };
}
