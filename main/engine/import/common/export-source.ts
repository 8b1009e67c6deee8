// Where an export's files come from (Google Takeout, Apple's iCloud Photos copy): an unpacked
// folder, or the .zip parts the service hands out, read in place (yauzl: the central
// directory for the listing, one entry's bytes streamed when asked). Every part is listed
// into one tree of paths inside the export, so a sidecar in takeout-002.zip meets its photo
// from takeout-001.zip.
// Invariant: nothing here writes anything, anywhere; a name that would leave the export
// (absolute, "..", NUL) is refused as a problem, never opened.
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';

export interface ExportEntry {
  /** '/'-separated path inside the export, without a leading "Takeout/". */
  path: string;
  /** bytes */
  size: number;
  /** unix ms, as the folder or the zip recorded it */
  mtimeMs: number;
  /** Where it came from, for messages: the folder or .zip given. */
  part: string;
  /** The file itself when it is on disk (an unpacked folder); null inside an archive. */
  diskPath: string | null;
  /** Its bytes, from the start. The caller consumes or destroys the stream. */
  open(): Promise<Readable>;
  /** Its SHA-256 when the listing already read it (an archive read only in order). */
  sha256?: string;
}

export interface ExportSource {
  readonly part: string;
  entries: ExportEntry[];
  /** Names refused (see the invariant above), with why. */
  refused: { path: string; message: string }[];
  /**
   * For an archive read only in order (.tgz): one pass that hands out the bytes of the
   * `wanted` paths as it meets them; each body must be consumed before the next is asked.
   */
  scan?(
    wanted: ReadonlySet<string>,
    signal: AbortSignal,
  ): AsyncIterable<{ path: string; body: Readable }>;
  close(): void;
}

/**
 * The path inside the export: '/'-separated, a leading "Takeout/" dropped (a zip part and
 * the folder it unpacks to then name a file alike), or null when it would leave the export.
 */
export function exportPath(raw: string): string | null {
  const parts = raw.replace(/\\/g, '/').split('/');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw) || raw.includes('\0')) return null;
  const kept = parts.filter((p) => p !== '' && p !== '.');
  if (kept.some((p) => p === '..')) return null;
  if (kept[0] === 'Takeout' && kept.length > 1) kept.shift();
  return kept.length === 0 ? null : kept.join('/');
}

/**
 * Every regular file under `root` (symlinks are not followed). `keepRootName`: the folder's
 * own name leads every path, so that a part given as its folder names its files as its zip
 * (or the export's root) does. By default for Takeout's "Google Photos" folder.
 */
export async function openFolderSource(
  root: string,
  keepRootName: boolean = /^Google (Photos|Fotos)$/i.test(basename(root)),
): Promise<ExportSource> {
  const lead = keepRootName ? `${basename(root)}/` : '';
  const entries: ExportEntry[] = [];
  const refused: ExportSource['refused'] = [];
  const names = await readdir(root, { recursive: true, withFileTypes: true });
  for (const d of names) {
    if (!d.isFile()) continue;
    const full = join(d.parentPath, d.name);
    const rel = full.slice(root.length).replace(/^[/\\]+/, '');
    const path = exportPath(`${lead}${rel}`);
    if (path === null) {
      refused.push({ path: rel, message: 'the name leaves the export' });
      continue;
    }
    const st = await stat(full);
    entries.push({
      path,
      size: st.size,
      mtimeMs: Math.trunc(st.mtimeMs),
      part: root,
      diskPath: full,
      open: () => Promise.resolve(createReadStream(full)),
    });
  }
  return { part: root, entries, refused, close: () => undefined };
}

/** The entries of one .zip part, read from its central directory; bytes read on demand. */
export async function openZipSource(file: string): Promise<ExportSource> {
  const zip = await yauzl.openPromise(file, {
    lazyEntries: true,
    autoClose: false,
    strictFileNames: false,
  });
  const entries: ExportEntry[] = [];
  const refused: ExportSource['refused'] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue; // a directory
      const path = exportPath(entry.fileName);
      if (path === null) {
        refused.push({ path: entry.fileName, message: 'the name leaves the export' });
        continue;
      }
      if (entry.isEncrypted() || !entry.canDecodeFileData()) {
        refused.push({ path, message: 'encrypted or compressed in a way Keepsake cannot read' });
        continue;
      }
      entries.push({
        path,
        size: entry.uncompressedSize,
        mtimeMs: entry.getLastModDate().getTime(),
        part: file,
        diskPath: null,
        open: () => zip.openReadStreamPromise(entry),
      });
    }
  } catch (err) {
    zip.close();
    throw err;
  }
  return { part: file, entries, refused, close: () => zip.close() };
}
