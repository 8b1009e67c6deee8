// What is on a camera card (or any volume that mounts as a disk): the photos and videos under
// its DCIM folder (the Design rule for Camera File system, DCF, puts every camera's pictures
// there; phones that mount as a disk do the same). Only reads: nothing on the card is written.
// Invariant: an unreadable folder or file is reported as data, never aborts the scan and is
// never left out silently; a card without DCIM is an error a person can read.
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { KeepsakeError } from '../../errors.js';
import {
  classifyByExtension,
  isIgnoredFileName,
  isIgnoredFolderName,
} from '../../watch/media-types.js';

export interface CardFile {
  /** Absolute path on the card. */
  path: string;
  /** Path under the card's root, '/'-separated (e.g. DCIM/100CANON/IMG_0001.JPG). */
  rel: string;
  size: number;
  /** unix ms, integer */
  mtimeMs: number;
  mediaType: 'image' | 'video' | 'raw';
}

export interface CardScan {
  /** The card's DCIM folder (its real spelling: some cameras write "dcim"). */
  dcim: string;
  files: CardFile[];
  /** Files under DCIM that are neither photos nor videos (camera indexes, thumbnails .THM). */
  otherFiles: string[];
  /** Folders or files that could not be read, with why. */
  unreadable: { path: string; message: string }[];
}

/** The DCIM folder of a card root, or null when there is none. */
export async function findDcim(root: string): Promise<string | null> {
  let entries: Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new KeepsakeError('folder_not_found', `No such folder: ${root}`);
    }
    throw new KeepsakeError('permission_denied', `Cannot read ${root} (${code ?? 'error'})`);
  }
  const dcim = entries.find((e) => e.isDirectory() && e.name.toLowerCase() === 'dcim');
  return dcim ? join(root, dcim.name) : null;
}

/** Every photo and video under ROOT/DCIM, sorted by path. */
export async function scanCard(root: string, signal?: AbortSignal): Promise<CardScan> {
  const dcim = await findDcim(root);
  if (dcim === null) {
    throw new KeepsakeError(
      'invalid_argument',
      `${root} has no DCIM folder: it does not look like a camera card or a phone's storage (point at the card's top folder)`,
    );
  }
  const scan: CardScan = { dcim, files: [], otherFiles: [], unreadable: [] };
  const toRel = (p: string) => relative(root, p).split(sep).join('/');
  const walk = async (dir: string): Promise<void> => {
    signal?.throwIfAborted();
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      scan.unreadable.push({ path: dir, message: describeReadError(err, dir) });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!isIgnoredFolderName(entry.name)) await walk(path);
        continue;
      }
      if (!entry.isFile() || isIgnoredFileName(entry.name)) continue;
      const kind = classifyByExtension(entry.name);
      if (kind?.kind !== 'media') {
        scan.otherFiles.push(toRel(path));
        continue;
      }
      try {
        const st = await lstat(path);
        scan.files.push({
          path,
          rel: toRel(path),
          size: st.size,
          mtimeMs: Math.trunc(st.mtimeMs),
          mediaType: kind.mediaType,
        });
      } catch (err) {
        scan.unreadable.push({ path, message: describeReadError(err, path) });
      }
    }
  };
  await walk(dcim);
  return scan;
}

function describeReadError(err: unknown, path: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return `not allowed to read ${path}`;
  if (code === 'EIO') return `the card could not be read at ${path} (input/output error)`;
  if (code === 'ENOENT') return `gone while reading (was the card removed?): ${path}`;
  return `could not read ${path} (${code ?? 'unknown error'})`;
}
