// Snapshots of a source tree, to prove Keepsake never writes, renames, creates or deletes
// anything in a watched folder (issue 3 "Source untouched"). Every end-to-end test takes one
// before and one after and asserts they are equal.
//
// Invariants:
// - reading a snapshot never changes the tree: lstat only (symlinks are recorded, never
//   followed), and only regular files are opened (a FIFO or socket is recorded by kind and
//   never opened, so a FIFO named .jpg cannot hang the snapshot);
// - directories are recorded too (mode and mtime), so a temp file created and removed inside
//   a watched folder still shows up as a changed directory mtime;
// - access times are never compared (reading a file may move them).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'other';

export interface SnapshotEntry {
  /** Relative to the snapshot root, forward slashes; '' is the root itself. */
  relPath: string;
  kind: EntryKind;
  size: number;
  /** integer ms */
  mtimeMs: number;
  /** permission bits and file type, as lstat reports them */
  mode: number;
  /** regular files only; null when the file could not be read (recorded as `readError`) */
  sha256: string | null;
  /** symlinks only: the link text */
  linkTarget: string | null;
  readError: string | null;
}

export type TreeSnapshot = Map<string, SnapshotEntry>;

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(path);
  try {
    for await (const chunk of stream) hash.update(chunk as Buffer);
  } finally {
    stream.destroy();
  }
  return hash.digest('hex');
}

function kindOf(st: import('node:fs').Stats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'other';
}

/** Walks `root` (not following symlinks) and records every entry, hashing regular files. */
export async function snapshotTree(
  root: string,
  opts: { hash?: boolean } = {},
): Promise<TreeSnapshot> {
  const hash = opts.hash ?? true;
  const out: TreeSnapshot = new Map();
  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    const kind = kindOf(st);
    const entry: SnapshotEntry = {
      relPath: rel,
      kind,
      size: kind === 'dir' ? 0 : st.size,
      mtimeMs: Math.trunc(st.mtimeMs),
      mode: st.mode,
      sha256: null,
      linkTarget: null,
      readError: null,
    };
    if (kind === 'file' && hash) {
      try {
        entry.sha256 = await sha256File(abs);
      } catch (err) {
        entry.readError = (err as NodeJS.ErrnoException).code ?? 'unknown';
      }
    } else if (kind === 'symlink') {
      entry.linkTarget = await readlink(abs);
    }
    out.set(rel, entry);
    if (kind === 'dir') {
      const names = await readdir(abs);
      names.sort();
      for (const name of names) await visit(join(abs, name), rel === '' ? name : `${rel}/${name}`);
    }
  };
  await visit(root, '');
  return out;
}

const compared: (keyof SnapshotEntry)[] = [
  'kind',
  'size',
  'mtimeMs',
  'mode',
  'sha256',
  'linkTarget',
  'readError',
];

/** Every difference between two snapshots, in words; empty when they are equal. */
export function diffSnapshots(before: TreeSnapshot, after: TreeSnapshot): string[] {
  const diffs: string[] = [];
  for (const [rel, a] of before) {
    const b = after.get(rel);
    if (!b) {
      diffs.push(`removed: ${rel || '.'}`);
      continue;
    }
    for (const key of compared) {
      if (a[key] !== b[key]) {
        diffs.push(`changed ${key}: ${rel || '.'} (${String(a[key])} -> ${String(b[key])})`);
      }
    }
  }
  for (const rel of after.keys()) if (!before.has(rel)) diffs.push(`added: ${rel}`);
  return diffs;
}

/** Throws, listing the differences, unless `root` still matches `before`. */
export async function assertTreeUntouched(root: string, before: TreeSnapshot): Promise<void> {
  const after = await snapshotTree(root);
  const diffs = diffSnapshots(before, after);
  if (diffs.length > 0) {
    throw new Error(
      `Keepsake changed the watched folder ${root}:\n  ${diffs.slice(0, 50).join('\n  ')}` +
        (diffs.length > 50 ? `\n  ... and ${diffs.length - 50} more` : ''),
    );
  }
}
