// The data sets the issue-8 target cases back up, generated under the case's workDir.
//
// Invariants:
// - every file's bytes are unique (no two files dedup against each other, in Keepsake's
//   whole-file hashing or restic's content-defined chunks of small files);
// - every file is one Keepsake backs up (a media or sidecar name by the engine's own
//   classifier), so Keepsake and restic read the same set of files and files/s compare;
// - the corpus is read, never written;
// - every file is older than Keepsake's settle time when a timed run starts (settledTree):
//   the targets measure backing up a library, not a copy still being written, which
//   Keepsake rightly waits for (it hashes a file once its mtime has held still for 2 s) and
//   restic does not.
import { randomFillSync, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { classifyPath } from '../../main/engine/watch/media-types.js';
import { corpusFile } from '../support/paths.js';
import { readManifest, uniqueVariant } from '../support/tree.js';
import { runPool } from './harness.js';

export interface Tree {
  files: number;
  bytes: number;
}

/**
 * `count` files of `minBytes`..`maxBytes` (uniform) in folders of 200: each a tiny real JPEG
 * (corpus exiftool-t-images/Writer.jpg, 251 bytes, metadata intact: exiftool reads real
 * tags from it) followed by random bytes. So the content is incompressible and unique, like
 * camera data, and the metadata reader sees a JPEG, not an error.
 */
export async function generateSmallFiles(
  root: string,
  count: number,
  minBytes = 4 * 1024,
  maxBytes = 64 * 1024,
): Promise<Tree> {
  const head = readFileSync(corpusFile('exiftool-t-images/Writer.jpg'));
  const perFolder = 200;
  const folders = Math.ceil(count / perFolder);
  let bytes = 0;
  await runPool(
    Array.from({ length: folders }, (_, i) => i),
    4,
    async (folder) => {
      const dir = join(root, `d${String(folder).padStart(4, '0')}`);
      await mkdir(dir, { recursive: true });
      for (let i = folder * perFolder; i < Math.min(count, (folder + 1) * perFolder); i++) {
        const buf = Buffer.allocUnsafe(randomInt(minBytes, maxBytes + 1));
        head.copy(buf);
        randomFillSync(buf, head.length);
        await writeFile(join(dir, `IMG_${String(i).padStart(6, '0')}.jpg`), buf);
        bytes += buf.length;
      }
    },
  );
  await settledTree(root);
  return { files: count, bytes };
}

/**
 * The shared corpus's files that Keepsake backs up (media and sidecars; 381 of its 441), copied
 * `copies` times (copy00/, copy01/, ...) with unique bytes: a line `keepsake-test-unique:TAG`
 * appended at the end of each file. Readers ignore bytes after a JPEG's EOI, a PNG's IEND, or
 * the last box/atom of HEIC/MOV/MP4; TIFF-based RAW files address their data by offset, so
 * trailing bytes are never read. (restic still dedups the unchanged leading chunks of the few
 * files above its 512 KiB minimum chunk; its "MB added" in the log shows how much.)
 */
export async function generateCameraTree(root: string, copies: number): Promise<Tree> {
  const rows = readManifest().filter((r) => {
    const kind = classifyPath(r.path, { include: [], exclude: [] }).kind;
    return kind === 'media' || kind === 'sidecar';
  });
  let files = 0;
  let bytes = 0;
  for (const row of rows) {
    const source = readFileSync(corpusFile(row.path));
    for (let i = 0; i < copies; i++) {
      const data = uniqueVariant(source, `bench:${i}:${row.path}`);
      const dest = join(root, `copy${String(i).padStart(2, '0')}`, row.path);
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, data);
      files++;
      bytes += data.length;
    }
  }
  await settledTree(root);
  return { files, bytes };
}

/** Sets every file under `root` to a modification time a day ago (see the invariants above). */
export async function settledTree(root: string): Promise<void> {
  const dayAgo = new Date(Date.now() - 24 * 3600_000);
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  await runPool(files, 8, (path) => utimes(path, dayAgo, dayAgo));
}

/** One file of `bytes` random bytes (written 4 MiB at a time). */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
  const handle = await open(path, 'w');
  try {
    for (let written = 0; written < bytes; written += chunk.length) {
      randomFillSync(chunk);
      await handle.write(chunk, 0, Math.min(chunk.length, bytes - written));
    }
  } finally {
    await handle.close();
  }
}
