// The one contract between the engine and any UI (DESIGN.md "Layout"). Every command the UI
// may call and every event the engine emits is declared here as a zod schema; TypeScript
// types are inferred from the schemas, never kept by hand. Both transports (Electron IPC in
// preload/ + main/app/, and the web transport of `keepsake daemon` in main/web/) validate
// arguments and results with these same schemas.
//
// Pure module: imports zod only, so the renderer, the engine and the transports can all use it.
import { z } from 'zod';
import {
  libraryItemSchema,
  libraryTypeSchema,
  previewStatusSchema,
  similarGroupSchema,
} from './vault-protocol.js';

export const fileStates = [
  'discovered',
  'hashing',
  'queued',
  'uploading',
  'backed_up',
  'duplicate',
  'excluded',
  'failed',
  'missing',
  'skipped', // looked at: not a photo or video (excludedBy says why); never uploaded
  'vault_only', // freed up at the person's request: moved to the system's trash, kept on the vault
] as const;
export const FileState = z.enum(fileStates);
export type FileState = z.infer<typeof FileState>;

export const StateCounts = z.object(
  Object.fromEntries(fileStates.map((s) => [s, z.number().int().nonnegative()])) as Record<
    FileState,
    z.ZodNumber
  >,
);
export type StateCounts = z.infer<typeof StateCounts>;

export const ErrorInfo = z.object({
  name: z.string(),
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;

export const UploadProgress = z.object({
  fileId: z.number().int(),
  path: z.string(),
  bytesSent: z.number().nonnegative(),
  bytesTotal: z.number().nonnegative(),
  bytesPerSecond: z.number().nonnegative(),
  etaSeconds: z.number().nonnegative().nullable(),
});
export type UploadProgress = z.infer<typeof UploadProgress>;

export const SyncStatus = z.enum([
  'up_to_date',
  'backing_up',
  'paused',
  'offline',
  'needs_attention',
]);
export type SyncStatus = z.infer<typeof SyncStatus>;

export const PauseReason = z.enum([
  'user', // the person paused it (until resumed, or until `pausedUntil`)
  'sign_in_needed', // the vault refused the token (401/403)
  'vault_full', // the vault answered 507
  'disk_full', // no room for Keepsake's database on this machine (retried every minute)
  'database_corrupt', // Keepsake's database is damaged (set aside and rebuilt at the next start)
  'battery', // pause-on-battery setting
  'metered', // pause-on-metered-network setting
]);
export type PauseReason = z.infer<typeof PauseReason>;

export const ActivityEvent = z.object({
  id: z.number().int(),
  /** unix ms */
  at: z.number(),
  level: z.enum(['info', 'warning', 'error']),
  /** Plain words, e.g. "Backed up IMG_0001.JPG". */
  message: z.string(),
  path: z.string().nullable(),
  code: z.string().nullable(),
});
export type ActivityEvent = z.infer<typeof ActivityEvent>;

export const EngineStatus = z.object({
  status: SyncStatus,
  paused: z.boolean(),
  pauseReason: PauseReason.nullable(),
  /** unix ms; null = until resumed */
  pausedUntil: z.number().nullable(),
  counts: StateCounts,
  /** Media files known under the watched folders, excluding `excluded`, `missing`, `skipped` and `vault_only`. */
  filesTotal: z.number().int().nonnegative(),
  bytesTotal: z.number().nonnegative(),
  /** backed_up + duplicate */
  filesSafe: z.number().int().nonnegative(),
  bytesSafe: z.number().nonnegative(),
  bytesPending: z.number().nonnegative(),
  throughputBytesPerSecond: z.number().nonnegative(),
  etaSeconds: z.number().nonnegative().nullable(),
  /** mtime (unix ms) of the oldest file not yet safe, or null when everything is safe. */
  oldestUnsafeMtimeMs: z.number().nullable(),
  /** Folders (watched roots or sub-folders) the last scan could not read: see Folder.problems. */
  unreadableFolders: z.number().int().nonnegative(),
  /** Backed-up photos of 0 bytes (empty files, or possibly damaged since): see FileRow.problem. */
  emptyFiles: z.number().int().nonnegative(),
  /** Files whose place (folder, path) the vault refused to record: see FileRow.problem. */
  placesNotRecorded: z.number().int().nonnegative(),
  current: z.array(UploadProgress),
  lastErrors: z.array(ActivityEvent),
  /**
   * The battery and network signals pause-on-battery / pause-on-metered act on; null: this
   * computer cannot tell (the setting cannot act here, and Settings says so).
   */
  power: z
    .object({ onBattery: z.boolean().nullable(), metered: z.boolean().nullable() })
    .optional(),
  vault: z.object({
    url: z.string(),
    reachable: z.boolean(),
    embedded: z.boolean(),
    /** The embedded vault's storage directory (on this computer); null for any other vault. */
    dir: z.string().nullable(),
    /**
     * A watched folder on the same filesystem (the same disk) as the vault's storage, or null
     * when none is or it cannot be known (a vault elsewhere): then losing that disk loses the
     * photos and their backup together.
     */
    sameDiskAs: z.string().nullable(),
  }),
});
export type EngineStatus = z.infer<typeof EngineStatus>;

export const FileRow = z.object({
  id: z.number().int(),
  folderId: z.number().int(),
  path: z.string(),
  relPath: z.string(),
  size: z.number().nonnegative(),
  mtimeMs: z.number(),
  sha256: z.string().nullable(),
  state: FileState,
  error: ErrorInfo.nullable(),
  /** The rule that excluded it (state `excluded`), or why it was skipped (state `skipped`). */
  excludedBy: z.string().nullable(),
  /**
   * State `duplicate`: another file here with the same content, which was uploaded ("a
   * duplicate of another file here"); null when the vault had the content already.
   */
  duplicateOf: z.string().nullable(),
  attempts: z.number().int().nonnegative(),
  /** unix ms of the next retry, when one is scheduled */
  nextAttemptAt: z.number().nullable(),
  /** ISO 8601 with offset */
  captureTime: z.string().nullable(),
  mime: z.string().nullable(),
  /** Metadata problems in plain words (never a reason not to back up). */
  metadataProblems: z.array(z.string()),
  /**
   * A problem with a file that is nevertheless on the vault: 'empty_file' (a photo of 0 bytes)
   * or 'possible_damage' (it was backed up with more bytes and is now empty; the earlier
   * version stays on the vault); null when none.
   */
  problem: z.object({ code: z.string(), message: z.string() }).nullable(),
  /** unix ms */
  updatedAt: z.number(),
});
export type FileRow = z.infer<typeof FileRow>;

/** A folder under a watched folder (or the watched folder itself) that could not be read. */
export const FolderProblem = z.object({
  /** Absolute path of the folder that could not be listed. */
  path: z.string(),
  /** 'permission_denied' or 'read_error' */
  code: z.string(),
  /** Why, in words a person can act on. */
  message: z.string(),
});
export type FolderProblem = z.infer<typeof FolderProblem>;

export const FolderWatchMode = z.enum(['watching', 'polling', 'offline', 'scanning']);
export const Folder = z.object({
  id: z.number().int(),
  path: z.string(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  mode: FolderWatchMode,
  /** Why it polls or is offline, and the fix where there is one. */
  modeDetail: z.string().nullable(),
  counts: StateCounts,
  bytesTotal: z.number().nonnegative(),
  bytesSafe: z.number().nonnegative(),
  /** unix ms of the last completed reconcile scan */
  lastScanAt: z.number().nullable(),
  /** What the last scan could not read (retried by every scan); empty when all was read. */
  problems: z.array(FolderProblem),
  /** Required by the organisation's policy: it cannot be removed (see common/policy.ts). */
  requiredByPolicy: z.boolean(),
  /** The person allowed freeing up space here (off by default; see freeUp.run). */
  freeUp: z.boolean(),
});
export type Folder = z.infer<typeof Folder>;

export const SettingSource = z.enum(['default', 'user', 'policy']);
const setting = <T extends z.ZodType>(value: T) =>
  z.object({ value, source: SettingSource, locked: z.boolean() });

export const Settings = z.object({
  vaultUrl: setting(z.string().nullable()),
  /** Whether a vault token is stored; the token itself never crosses to the UI. */
  vaultTokenSet: setting(z.boolean()),
  /** Where the token is kept: 'safe_storage' (OS keychain), 'file' (owner-only file). */
  tokenStorage: setting(z.enum(['safe_storage', 'file'])),
  /** rclone style: "4M", "off", or a schedule "Mon-08:00,2M Mon-18:00,off". null = no cap. */
  bandwidthLimit: setting(z.string().nullable()),
  concurrency: setting(z.number().int().min(1).max(16)),
  chunkSizeBytes: setting(z.number().int().positive()),
  pauseOnBattery: setting(z.boolean()),
  pauseOnMetered: setting(z.boolean()),
  startAtLogin: setting(z.boolean()),
  /** This computer's name on the vault (where its files came from); the host name by default. */
  deviceName: setting(z.string()),
  /** Whether the desktop app updates itself from its feed (an organisation may turn it off). */
  updatesAllowed: setting(z.boolean()),
  /** The update channel followed: latest (stable), beta or alpha. */
  updateChannel: setting(z.enum(['latest', 'beta', 'alpha'])),
  /**
   * Whether "Free up space" may move backed-up files of the folders that allow it to the
   * system's trash (an organisation may forbid it).
   */
  freeUpAllowed: setting(z.boolean()),
});
export type Settings = z.infer<typeof Settings>;

export const SettingUpdate = z.discriminatedUnion('key', [
  z.object({ key: z.literal('vaultUrl'), value: z.string().url().nullable() }),
  z.object({ key: z.literal('vaultToken'), value: z.string().min(1).max(4096).nullable() }),
  z.object({ key: z.literal('bandwidthLimit'), value: z.string().max(500).nullable() }),
  z.object({ key: z.literal('concurrency'), value: z.number().int().min(1).max(16) }),
  z.object({
    key: z.literal('chunkSizeBytes'),
    value: z
      .number()
      .int()
      .min(65536)
      .max(1 << 30),
  }),
  z.object({ key: z.literal('pauseOnBattery'), value: z.boolean() }),
  z.object({ key: z.literal('pauseOnMetered'), value: z.boolean() }),
  z.object({ key: z.literal('startAtLogin'), value: z.boolean() }),
  z.object({
    key: z.literal('deviceName'),
    value: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .refine((s) => !s.includes('\0'), 'must not contain NUL')
      .nullable(),
  }),
  z.object({ key: z.literal('updatesAllowed'), value: z.boolean() }),
  z.object({ key: z.literal('updateChannel'), value: z.enum(['latest', 'beta', 'alpha']) }),
  z.object({ key: z.literal('freeUpAllowed'), value: z.boolean() }),
]);
export type SettingUpdate = z.infer<typeof SettingUpdate>;

export const VaultUsage = z.object({
  assets: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  dedupSavedBytes: z.number().nonnegative(),
  /** what the vault's disk holds (compressed contents count as stored); absent from older vaults */
  storedBytes: z.number().nonnegative().optional(),
  /** original minus stored bytes of contents stored compressed; absent from older vaults */
  compressionSavedBytes: z.number().nonnegative().optional(),
  byType: z.object({
    image: z.object({ assets: z.number().int(), bytes: z.number() }),
    video: z.object({ assets: z.number().int(), bytes: z.number() }),
    other: z.object({ assets: z.number().int(), bytes: z.number() }),
  }),
  quotaBytes: z.number().nullable(),
});
export type VaultUsage = z.infer<typeof VaultUsage>;

// ---- proof (issue 10 "verify"): a verify receipt, and one file's receipt ----

export const VerifyProblem = z.object({
  path: z.string(),
  sha256: z.string(),
  /**
   * damaged / missing: the vault's stored bytes no longer hash to sha256, or are gone;
   * changed: the original on this computer no longer hashes to what was backed up;
   * unreadable: the original could not be read to check it.
   */
  problem: z.enum(['damaged', 'missing', 'changed', 'unreadable']),
  message: z.string(),
  /** This computer holds the original and uploads it again (healing). */
  repairing: z.boolean(),
});
export type VerifyProblem = z.infer<typeof VerifyProblem>;

export const VerifyReceipt = z.object({
  id: z.number().int(),
  /** unix ms */
  startedAt: z.number(),
  /** unix ms: the time the receipt speaks for */
  finishedAt: z.number(),
  vault: z.object({ url: z.string(), embedded: z.boolean() }),
  /** --sample N (null: every selected file) */
  sample: z.number().int().nullable(),
  /** --folder (null: every watched folder) */
  folder: z.string().nullable(),
  files: z.number().int().nonnegative(),
  filesProven: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  bytesProven: z.number().nonnegative(),
  /** Originals hashed again because their size, mtime or inode moved. */
  localReread: z.number().int().nonnegative(),
  /** Originals no longer on this computer (the vault's copy is what counts). */
  localGone: z.number().int().nonnegative(),
  problemCount: z.number().int().nonnegative(),
  /** The problems, each with its path (at most 1,000; problemCount says how many in all). */
  problems: z.array(VerifyProblem),
});
export type VerifyReceipt = z.infer<typeof VerifyReceipt>;

export const FileReceipt = z.object({
  fileId: z.number().int(),
  path: z.string(),
  sha256: z.string().nullable(),
  state: FileState,
  /** What the vault says of this content (null: it does not hold it, or no hash yet). */
  vault: z
    .object({
      state: z.enum(['ok', 'damaged', 'missing']),
      /** unix ms the vault verified the SHA-256 of the bytes it stored */
      verifiedAt: z.number(),
      /** unix ms of the vault's last re-read (verified download, verify or scrub) */
      checkedAt: z.number().nullable(),
      problemSince: z.number().nullable(),
    })
    .nullable(),
  /** Every place the vault knows this content at (any device). */
  locations: z.array(
    z.object({
      deviceName: z.string(),
      folder: z.string(),
      path: z.string(),
      goneAt: z.number().nullable(),
    }),
  ),
  /** Every path on this computer with the same content. */
  localPaths: z.array(z.string()),
  /** unix ms of the last verify receipt that proved it; null: none yet */
  provenAt: z.number().nullable(),
  /** Why the vault part is missing (unreachable vault), when it is. */
  vaultError: z.string().nullable(),
});
export type FileReceipt = z.infer<typeof FileReceipt>;

const Empty = z.object({}).strict();
const Ok = z.object({ ok: z.literal(true) });

// ---- restore (issue 10 section 6): browse the vault's places, restore a selection ----

/** Which of the vault's places to show or restore (all of them when empty). */
export const RestoreSelection = z
  .object({
    /** a device's name or id */
    device: z.string().min(1).max(255).optional(),
    /** a watched folder's label */
    folder: z.string().min(1).max(255).optional(),
    /** a glob over the path inside the folder, e.g. "2019/**" */
    path: z.string().min(1).max(1000).optional(),
    /** capture time bounds, unix ms (since inclusive, until exclusive) */
    since: z.number().int().optional(),
    until: z.number().int().optional(),
    /** the places held at this moment, unix ms (default now) */
    at: z.number().int().optional(),
  })
  .strict();
export type RestoreSelection = z.infer<typeof RestoreSelection>;

export const RestoreItem = z.object({
  deviceName: z.string(),
  folder: z.string(),
  /** the path inside the folder, for display */
  path: z.string(),
  size: z.number().nonnegative(),
  /** unix ms */
  mtimeMs: z.number().nullable(),
});
export type RestoreItem = z.infer<typeof RestoreItem>;

export const RestoreState = z.object({
  running: z.boolean(),
  /** the destination of the current or last restore */
  to: z.string().nullable(),
  filesTotal: z.number().int(),
  filesDone: z.number().int(),
  bytesTotal: z.number(),
  bytesDone: z.number(),
  /** the last finished restore's counts */
  result: z
    .object({
      files: z.number().int(),
      restored: z.number().int(),
      skipped: z.number().int(),
      failed: z.number().int(),
      bytesDownloaded: z.number(),
      seconds: z.number(),
      failures: z.array(z.object({ path: z.string(), message: z.string() })),
    })
    .nullable(),
  /** why the last restore stopped, when it did not finish */
  error: z.string().nullable(),
});
export type RestoreState = z.infer<typeof RestoreState>;

// ---- cards and cameras that mount as a disk (issue 12 section 4) ----

/** A mounted volume with a DCIM folder, offered for import (or being imported). */
export const DeviceOffer = z.object({
  /** Stable across insertions: 'uuid:...', 'label:...' or 'name:...' */
  id: z.string(),
  /** What a person calls it, e.g. EOS_DIGITAL */
  label: z.string(),
  mountPoint: z.string(),
  /** Photos and videos on it not imported from it before (all of them at a first insertion). */
  newFiles: z.number().int(),
  /** bytes of newFiles */
  newBytes: z.number(),
  totalFiles: z.number().int(),
  /** The person ticked "always import this card": imported without asking. */
  alwaysImport: z.boolean(),
  /** Keepsake can eject it here (Linux: udisksctl is installed); else the file manager must. */
  canEject: z.boolean(),
  state: z.enum(['offered', 'importing', 'done', 'failed', 'dismissed']),
  /** Where an import copies to (folders by capture date below it). */
  into: z.string(),
  /** After an import: what `keepsake import device --json` reports. */
  result: z
    .object({
      found: z.number().int(),
      imported: z.number().int(),
      alreadyOnVault: z.number().int(),
      failed: z.number().int(),
      safeToErase: z.boolean(),
    })
    .nullable(),
  /** One line for the banner (what is happening, what went wrong, whether it is safe to erase). */
  message: z.string().nullable(),
});
export type DeviceOffer = z.infer<typeof DeviceOffer>;

// ---- the library (issue 11 section 3): what the vault holds, as a timeline ----

/** One tile of the Library: an asset (a group's primary stands for its group). */
export const LibraryTile = libraryItemSchema;
export type LibraryTile = z.infer<typeof LibraryTile>;

export const LibraryFilter = z
  .object({
    type: libraryTypeSchema.optional(),
    /** a watched folder's label */
    folder: z.string().min(1).max(255).optional(),
    /** a device's id on the vault */
    device: z.string().min(1).max(128).optional(),
    /** only assets with a problem (damaged or missing on the vault, no capture time) */
    problems: z.boolean().optional(),
  })
  .strict();
export type LibraryFilter = z.infer<typeof LibraryFilter>;

/** Everything the Library's detail view shows of one asset. */
export const LibraryAsset = z.object({
  sha256: z.string(),
  filename: z.string(),
  kind: z.enum(['image', 'video', 'other']),
  mime: z.string().nullable(),
  size: z.number(),
  /** what the client that backed it up read from the file (null: none sent) */
  metadata: z
    .object({
      /** ISO 8601 with the offset it was taken at */
      captureTime: z.string().nullable(),
      /** where the time came from, e.g. exif_original, quicktime, mtime */
      captureTimeSource: z.string().nullable(),
      timeZone: z.object({ offsetMinutes: z.number(), source: z.string() }).nullable(),
      camera: z
        .object({
          make: z.string().optional(),
          model: z.string().optional(),
          lens: z.string().optional(),
        })
        .nullable(),
      gps: z.object({ lat: z.number(), lon: z.number(), alt: z.number().optional() }).nullable(),
      width: z.number().nullable(),
      height: z.number().nullable(),
      durationSec: z.number().nullable(),
    })
    .nullable(),
  /** the vault's proof: when it verified the SHA-256, its last re-read, and what it found */
  proof: z
    .object({
      state: z.enum(['ok', 'damaged', 'missing']),
      verifiedAt: z.number(),
      checkedAt: z.number().nullable(),
    })
    .nullable(),
  /** every place it lives (any device), gone ones too */
  places: z.array(
    z.object({
      deviceId: z.string(),
      deviceName: z.string(),
      folder: z.string(),
      path: z.string(),
      goneAt: z.number().nullable(),
    }),
  ),
  /** the group it belongs to and its members (vaults that record groups), else null */
  group: z
    .object({
      id: z.string(),
      role: z.string(),
      members: z.array(z.object({ sha256: z.string(), role: z.string() })),
    })
    .nullable(),
  preview: previewStatusSchema.nullable(),
  /** an Android motion photo: its own `video` variant plays the video inside it */
  motionPhoto: z.boolean().optional(),
});
export type LibraryAsset = z.infer<typeof LibraryAsset>;

/** One group of the Similar photos review (a burst or near-copies, with the keep suggested). */
export type SimilarPhotoGroup = z.infer<typeof similarGroupSchema>;

/**
 * Where the UI finds an asset's pictures and bytes: a path relative to the page, served by the
 * transport (the daemon's loopback server, the desktop app's own scheme) from the vault. See
 * [Note: Pictures travel as URLs] in main/engine/library/media.ts. `video` plays a video asset
 * inline (ranges for seeking) and is answered only for what the vault records as video/*.
 * `jpeg` and `mp4` are the Library's "Most compatible" download (issue 15 section 4): the
 * vault's converted copy of a photo or a video, as an attachment like `original`.
 */
export const mediaVariants = ['thumbnail', 'preview', 'original', 'video', 'jpeg', 'mp4'] as const;
export type MediaVariant = (typeof mediaVariants)[number];
export function mediaPath(sha256: string, variant: MediaVariant): string {
  return `media/${sha256}/${variant}`;
}
/** The (sha256, variant) a request path names, or null when it names none. */
export function parseMediaPath(pathname: string): { sha256: string; variant: MediaVariant } | null {
  const m = /^\/media\/([0-9a-f]{64})\/(thumbnail|preview|original|video|jpeg|mp4)$/.exec(pathname);
  if (!m) return null;
  return { sha256: m[1] as string, variant: m[2] as MediaVariant };
}

/**
 * Free up space on this computer (issue 15 section 2): which backed-up files to move to the
 * system's trash. Only folders that allow it; `folder` narrows to one folder (or a sub-folder)
 * by absolute path; `olderThanDays` keeps files modified more recently.
 */
export const FreeUpScope = z
  .object({
    folder: z.string().min(1).max(4096).optional(),
    olderThanDays: z.number().int().min(0).max(100_000).optional(),
  })
  .strict();
export type FreeUpScope = z.infer<typeof FreeUpScope>;
export const FreeUpFile = z.object({ path: z.string(), bytes: z.number().nonnegative() });
export type FreeUpFile = z.infer<typeof FreeUpFile>;
/** A file that stays, and why, in words a person understands. */
export const FreeUpKept = z.object({ path: z.string(), reason: z.string() });
export type FreeUpKept = z.infer<typeof FreeUpKept>;
/**
 * What a free-up found (freeUp.plan: nothing moved, `freed` empty) or did (freeUp.run):
 * `candidates` passed every check; `freed` went to the system's trash; `kept` stayed, each with
 * its reason. The same shape as `keepsake free-up --json`.
 */
export const FreeUpResult = z.object({
  candidates: z.array(FreeUpFile),
  freed: z.array(FreeUpFile),
  freedBytes: z.number().nonnegative(),
  kept: z.array(FreeUpKept),
});
export type FreeUpResult = z.infer<typeof FreeUpResult>;
/** What the Storage page offers before anything is checked (no file read, no vault asked). */
export const FreeUpEstimate = z.object({
  /** backed-up files of the folders that allow it (before the checks a free-up makes) */
  files: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  /** folders that allow freeing up space, of all watched folders */
  foldersAllowed: z.number().int().nonnegative(),
  folders: z.number().int().nonnegative(),
  /** false: turned off (by the organisation when `lockedByPolicy`) */
  allowed: z.boolean(),
  lockedByPolicy: z.boolean(),
});
export type FreeUpEstimate = z.infer<typeof FreeUpEstimate>;

/** Every command: name -> argument and result schemas. Intent-level only. */
export const commands = {
  'status.get': { args: Empty, result: EngineStatus },
  'files.list': {
    args: z
      .object({
        state: FileState.optional(),
        folderId: z.number().int().optional(),
        /** substring of the path */
        search: z.string().max(500).optional(),
        limit: z.number().int().min(1).max(1000).default(200),
        /** opaque cursor from a previous page */
        cursor: z.string().max(200).nullable().optional(),
      })
      .strict(),
    result: z.object({
      files: z.array(FileRow),
      next: z.string().nullable(),
      total: z.number().int(),
    }),
  },
  'files.retry': { args: z.object({ id: z.number().int() }).strict(), result: Ok },
  'files.retryAll': { args: Empty, result: z.object({ retried: z.number().int() }) },
  'folders.list': { args: Empty, result: z.array(Folder) },
  'folders.add': {
    args: z
      .object({
        path: z.string().min(1).max(4096),
        include: z.array(z.string().max(500)).max(100).optional(),
        exclude: z.array(z.string().max(500)).max(100).optional(),
      })
      .strict(),
    result: Folder,
  },
  'folders.remove': { args: z.object({ id: z.number().int() }).strict(), result: Ok },
  /** Allows (or no longer allows) freeing up space in a folder; off by default. */
  'folders.setFreeUp': {
    args: z.object({ id: z.number().int(), allowed: z.boolean() }).strict(),
    result: Folder,
  },
  'folders.setRules': {
    args: z
      .object({
        id: z.number().int(),
        include: z.array(z.string().max(500)).max(100),
        exclude: z.array(z.string().max(500)).max(100),
      })
      .strict(),
    result: Folder,
  },
  'uploads.pause': {
    args: z.object({ untilMs: z.number().int().positive().nullable().optional() }).strict(),
    result: Ok,
  },
  'uploads.resume': { args: Empty, result: Ok },
  'settings.get': { args: Empty, result: Settings },
  'settings.set': { args: SettingUpdate, result: Settings },
  'vault.usage': { args: Empty, result: VaultUsage },
  'activity.list': {
    args: z
      .object({
        limit: z.number().int().min(1).max(1000).default(100),
        /** Only warnings and errors (however many files were backed up since). */
        problems: z.boolean().optional(),
      })
      .strict(),
    result: z.array(ActivityEvent),
  },
  /** Asks the vault to re-hash the selected content and checks the originals; keeps the receipt. */
  'verify.run': {
    args: z
      .object({
        /** verify this many files picked at random (omitted: every safe file) */
        sample: z.number().int().min(1).max(10_000_000).optional(),
        /** only files under this folder (absolute path) */
        folder: z.string().min(1).max(4096).optional(),
      })
      .strict(),
    result: VerifyReceipt,
  },
  /** How much a free-up could reclaim, before any check (the Storage page's offer). */
  'freeUp.estimate': { args: Empty, result: FreeUpEstimate },
  /**
   * Every check a free-up makes (the vault re-verifies what it has not in 24 hours, the
   * originals are hashed again), nothing moved: what would go and what is kept, and why.
   */
  'freeUp.plan': { args: FreeUpScope, result: FreeUpResult },
  /**
   * Frees up space: the checks again, then each file that passes is moved to the system's
   * trash (never deleted) and becomes vault_only. `only`: just these paths (what the person
   * confirmed); the rest of the scope is kept with its reason.
   */
  'freeUp.run': {
    args: FreeUpScope.extend({
      only: z.array(z.string().max(4096)).max(1_000_000).optional(),
    }).strict(),
    result: FreeUpResult,
  },
  /** The last verify receipt kept in the data directory (null: never verified). */
  'verify.last': { args: Empty, result: VerifyReceipt.nullable() },
  /** One file's receipt: the vault's word on its content and every place it lives. */
  'files.receipt': { args: z.object({ id: z.number().int() }).strict(), result: FileReceipt },
  /** The devices the vault holds files of. */
  'restore.devices': {
    args: Empty,
    result: z.array(z.object({ deviceId: z.string(), deviceName: z.string() })),
  },
  /** What a selection holds: counts, and its first files (at most 500). */
  'restore.preview': {
    args: RestoreSelection,
    result: z.object({
      files: z.number().int(),
      bytes: z.number(),
      items: z.array(RestoreItem),
    }),
  },
  /** Starts restoring a selection into a folder (one restore at a time); see restore.state. */
  'restore.start': {
    args: RestoreSelection.extend({ to: z.string().min(1).max(4096) }).strict(),
    result: Ok,
  },
  'restore.state': { args: Empty, result: RestoreState },
  /** One page of the Library's timeline, newest first; `cursor` is a previous page's `next`. */
  'library.list': {
    args: LibraryFilter.extend({
      limit: z.number().int().min(1).max(1000).default(200),
      cursor: z.string().max(100).nullable().optional(),
    }).strict(),
    result: z.object({
      tiles: z.array(LibraryTile),
      next: z.string().nullable(),
      /** how many match; on the first page only */
      total: z.number().int().nullable(),
    }),
  },
  /** The folders (per device) the vault holds files in, for the Library's filter. */
  'library.folders': {
    args: Empty,
    result: z.array(
      z.object({
        deviceId: z.string(),
        deviceName: z.string(),
        folder: z.string(),
        assets: z.number().int(),
      }),
    ),
  },
  /** One asset's metadata, proof, places and group, for the Library's detail view. */
  'library.asset': {
    args: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    result: LibraryAsset,
  },
  /**
   * One page of the vault's similar photos (issue 15; SimilarPhotoGroup): bursts and near-copies, each with the
   * member to keep suggested; `cursor` is a previous page's `next`. Totals cover every group.
   */
  'similar.list': {
    args: z
      .object({
        limit: z.number().int().min(1).max(200).default(20),
        cursor: z.string().max(100).nullable().optional(),
      })
      .strict(),
    result: z.object({
      groups: z.array(similarGroupSchema),
      next: z.string().nullable(),
      totalGroups: z.number().int(),
      totalReclaimableBytes: z.number(),
    }),
  },
  /**
   * Moves contents to the vault's trash (out of the library; restorable until an administrator
   * empties the trash past its retention). A group's primary takes its whole asset with it.
   */
  'library.trash': {
    args: z
      .object({
        sha256: z
          .array(z.string().regex(/^[0-9a-f]{64}$/))
          .min(1)
          .max(1000),
      })
      .strict(),
    result: z.object({ moved: z.array(z.string()) }),
  },
  /** Takes contents out of the vault's trash, back into the library. */
  'library.untrash': {
    args: z
      .object({
        sha256: z
          .array(z.string().regex(/^[0-9a-f]{64}$/))
          .min(1)
          .max(1000),
      })
      .strict(),
    result: z.object({ restored: z.array(z.string()) }),
  },
  /** Cards offered for import (mounted volumes with a DCIM folder), newest first. */
  'devices.list': { args: Empty, result: z.array(DeviceOffer) },
  /** Consent: import this card now; `always` remembers (or forgets) it for later insertions. */
  'devices.import': {
    args: z
      .object({
        id: z.string().min(1).max(600),
        always: z.boolean().optional(),
        /** the folder to copy into (kept for later imports); omitted: the one last chosen */
        into: z.string().min(1).max(4096).optional(),
      })
      .strict(),
    result: Ok,
  },
  /** "Not now": the offer is put away until the card is inserted again. */
  'devices.dismiss': { args: z.object({ id: z.string().min(1).max(600) }).strict(), result: Ok },
  /** Unmounts the card (and powers its reader off where it can) so it can be taken out. */
  'devices.eject': { args: z.object({ id: z.string().min(1).max(600) }).strict(), result: Ok },
  'diagnostics.export': {
    args: Empty,
    /** A JSON bundle of logs and status; never contains tokens. */
    result: z.object({ filename: z.string(), content: z.string() }),
  },
} as const;

export type CommandName = keyof typeof commands;
export type CommandArgs<K extends CommandName> = z.input<(typeof commands)[K]['args']>;
export type CommandResult<K extends CommandName> = z.infer<(typeof commands)[K]['result']>;

/** Every event the engine emits: name -> payload schema. */
export const events = {
  status: EngineStatus,
  'file.changed': FileRow,
  'upload.progress': z.array(UploadProgress),
  activity: ActivityEvent,
  'folders.changed': z.array(Folder),
  /** The cards offered or being imported changed (see devices.list). */
  'devices.changed': z.array(DeviceOffer),
} as const;
export type EventName = keyof typeof events;
export type EventPayload<K extends EventName> = z.infer<(typeof events)[K]>;

/** What crosses a transport: a result or an error as data (Electron passes only messages). */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

/** The API the engine implements and the UI calls (through `window.keepsake` or the web transport). */
export type KeepsakeApi = {
  [K in CommandName]: (args: CommandArgs<K>) => Promise<CommandResult<K>>;
};

/** What preload exposes as window.keepsake, and what the web transport provides too. */
export interface KeepsakeBridge {
  invoke<K extends CommandName>(
    command: K,
    args: CommandArgs<K>,
  ): Promise<Envelope<CommandResult<K>>>;
  /** Returns an unsubscribe function. */
  on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void): () => void;
  /** Desktop only: the system folder picker; resolves null when cancelled. Absent on the web. */
  pickFolder?(): Promise<string | null>;
}
