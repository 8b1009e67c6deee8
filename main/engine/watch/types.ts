// What the watch layer tells the engine. Watcher events are hints; the reconcile scan is
// the truth (CONVENTIONS.md "Watcher events are hints, the scan is the truth").

export type FolderWatchMode =
  | 'watching' // native events (inotify, FSEvents, ReadDirectoryChangesW)
  | 'polling' // periodic scans only: network share or out of watch handles
  | 'offline'; // the root is gone (unplugged drive, unmounted share)

export type Classification =
  | { kind: 'media'; mediaType: 'image' | 'video' | 'raw'; mime: string }
  | { kind: 'sidecar'; mime: string } // .xmp, .aae: travel with their media
  | { kind: 'unknown' } // no or an unknown extension: its first bytes decide (sniff.ts)
  | { kind: 'skipped'; reason: string } // looked at, not a photo or video: shown, never uploaded
  | { kind: 'unreadable'; code: string; message: string } // its first bytes could not be read: failed, retried by every scan
  | { kind: 'excluded'; rule: string } // a user glob, shown to the user
  | { kind: 'ignored' }; // hidden, system or temporary: never recorded

export interface ScanEntry {
  /** Absolute path. */
  path: string;
  /** Relative to the folder root, forward slashes. */
  relPath: string;
  size: number;
  /** unix ms, integer */
  mtimeMs: number;
  ino: number;
  dev: number;
  /** inode change time, unix ms, integer (see FileIdentity) */
  ctimeMs: number;
  classification: Exclude<Classification, { kind: 'ignored' }>;
}

export interface ScanProblem {
  path: string;
  /** e.g. permission_denied on a sub-folder, symlink loop: reported, never aborts the scan. */
  code: string;
  message: string;
}

/** A folder (the root or a sub-folder) the scan could not list: a visible problem. */
export interface UnreadableFolder {
  /** Absolute path of the folder. */
  path: string;
  /** Relative to the folder root, forward slashes; '' is the root itself. */
  relPath: string;
  /** 'permission_denied' or 'read_error'. */
  code: string;
  /** Why, in words a person can act on. */
  message: string;
}

export interface ScanResult {
  entries: ScanEntry[];
  problems: ScanProblem[];
  /**
   * false when the root itself is missing (offline), in which case entries is empty. A root
   * that is there but cannot be listed (permissions) is present, with '' in unreadableDirs.
   */
  rootPresent: boolean;
  /**
   * Sub-folders (relative to the root, forward slashes; '' is the root) that could not be
   * listed: their files are absent from entries but NOT gone, so never mark them missing.
   * (Added by B2; always set by scanFolder.)
   */
  unreadableDirs?: string[];
  /** The same folders with their reasons (always set by scanFolder): shown to the person. */
  unreadableFolders?: UnreadableFolder[];
}

export interface FolderRules {
  include: string[];
  exclude: string[];
}

/** A batch of paths that may have changed under one folder: the engine re-stats them. */
export interface ChangeHint {
  folderRoot: string;
  paths: string[];
  /** true when the watcher overflowed or lost track: rescan the whole folder. */
  rescan: boolean;
}

export interface FolderWatchStatus {
  folderRoot: string;
  mode: FolderWatchMode;
  /** Why it is polling or offline, with the fix where there is one (e.g. the sysctl to raise). */
  detail: string | null;
}
