// What makes two looks at one file "the same file, unchanged": size, mtime, inode, device and
// ctime (the inode's change time: an in-place edit that restores the old mtime still moves it).
// Scan and hasher both derive a FileIdentity through identityOf() so that the engine can
// compare a scan entry with a hash result field by field. Invariant: mtimeMs is always
// Math.round of the same double Node reports, so one file always yields one integer.
// Rounded, not floored: a time set from a JS Date (utimes, many copy tools) is stored as
// e.g. ...986999999 ns because of binary floating point, and its owner meant ...987 ms.
import type { Stats } from 'node:fs';
import type { FileIdentity } from './types.js';

export function identityOf(stats: Stats): FileIdentity {
  return {
    size: stats.size,
    mtimeMs: Math.round(stats.mtimeMs),
    ino: stats.ino,
    dev: stats.dev,
    ctimeMs: Math.round(stats.ctimeMs),
  };
}

/** A person-readable name for a file that is not a regular file (for error messages). */
export function describeNonRegular(stats: Stats): string {
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isDirectory()) return 'a folder';
  return 'not a regular file';
}
