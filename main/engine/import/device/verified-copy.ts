// Copies one file off a card into its dated folder so that a file under its final name is
// always whole and proven: written under a temporary dot-name, fsync'ed, read back and
// compared by SHA-256 with what the card holds, and only then given its final name.
// Invariants: the card is only read; the copy keeps the card's modification time; an existing file is never overwritten (another content
// under the name moves this one to "NAME (1).EXT"; the same content means it is already
// there); a copy that cannot be proven leaves no file behind under any name.
// See [Note: Final names without overwriting].
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KeepsakeError } from '../../errors.js';
import { candidateName, partialName } from './dated-folder.js';

const CHUNK = 1024 * 1024;
/** Names tried before giving up on a file ("NAME (999).EXT" is surely a bug elsewhere). */
const MAX_CANDIDATES = 1000;

export type CopyOutcome =
  /** Copied, verified and given its final name. */
  | { kind: 'copied'; path: string }
  /** A file with the same content already had (one of) its names in the folder. */
  | { kind: 'already_there'; path: string };

/** SHA-256 (hex) of a whole file, read as a stream. */
export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(path, { highWaterMark: CHUNK, ...(signal ? { signal } : {}) });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    const st = await lstat(path);
    return st.isFile() ? st.size : -1; // -1: a folder or link holds the name: not ours to use
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * The name this content has or gets in `dir`: the first candidate that is free, or one that
 * already holds exactly this content.
 */
async function resolveName(
  dir: string,
  name: string,
  expect: { sha256: string; size: number },
  signal?: AbortSignal,
): Promise<{ free: string } | { same: string }> {
  for (let n = 0; n < MAX_CANDIDATES; n++) {
    const candidate = join(dir, candidateName(name, n));
    const size = await sizeOf(candidate);
    if (size === null) return { free: candidate };
    if (size === expect.size && (await sha256OfFile(candidate, signal)) === expect.sha256) {
      return { same: candidate };
    }
  }
  throw new KeepsakeError('internal', `no free name for ${name} in ${dir}`);
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Copies `source` (whose content the card scan hashed as `expect`) into `dir` as `name`.
 * Throws KeepsakeError: 'disk_full' (the destination is full: later files will not fit
 * either), 'verification_failed' (the bytes read back differ: a failing card or disk),
 * 'file_changed' (the card's file is not what was hashed a moment ago), or a read error.
 */
export async function copyVerified(
  source: string,
  dir: string,
  name: string,
  expect: { sha256: string; size: number },
  signal?: AbortSignal,
): Promise<CopyOutcome> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if (isDiskFull(err)) throw destinationFull(dir, err);
    throw new KeepsakeError('permission_denied', `cannot make the folder ${dir}`, false, {
      cause: err,
    });
  }
  const first = await resolveName(dir, name, expect, signal);
  if ('same' in first) return { kind: 'already_there', path: first.same };
  const partial = join(dir, partialName(name));
  try {
    const copiedHash = await copyToPartial(source, partial, signal);
    if (copiedHash !== expect.sha256) {
      throw new KeepsakeError(
        'file_changed',
        `the card gave different bytes on a second read: ${source} (a failing card, or it was changed)`,
        true,
      );
    }
    if ((await sha256OfFile(partial, signal)) !== expect.sha256) {
      throw new KeepsakeError(
        'verification_failed',
        `the copy of ${source} in ${dir} does not match the card (SHA-256 differs): the destination disk may be failing`,
        true,
      );
    }
    for (let attempt = 0; ; attempt++) {
      const target = attempt === 0 ? first : await resolveName(dir, name, expect, signal);
      if ('same' in target) return { kind: 'already_there', path: target.same };
      if (await giveFinalName(partial, target.free)) {
        await syncDir(dir);
        return { kind: 'copied', path: target.free };
      }
    }
  } finally {
    await rm(partial, { force: true });
  }
}

/** Copies source to partial (truncating a leftover of a killed run), fsync'ed; the hash read. */
async function copyToPartial(source: string, partial: string, signal?: AbortSignal) {
  const hash = createHash('sha256');
  const input = await open(source, 'r').catch((err: unknown) => {
    throw readError(err, source);
  });
  try {
    const output = await open(partial, 'w', 0o644).catch((err: unknown) => {
      throw isDiskFull(err) ? destinationFull(dirname(partial), err) : err;
    });
    try {
      const buffer = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        signal?.throwIfAborted();
        let n: number;
        let n2: number;
        try {
          ({ bytesRead: n } = await input.read(buffer, 0, CHUNK, null));
        } catch (err) {
          throw readError(err, source);
        }
        if (n === 0) break;
        const chunk = buffer.subarray(0, n);
        hash.update(chunk);
        // A write may be short (a disk that just filled up says so on the next write): loop.
        for (let written = 0; written < n;) {
          try {
            ({ bytesWritten: n2 } = await output.write(chunk, written, n - written));
          } catch (err) {
            throw isDiskFull(err) ? destinationFull(dirname(partial), err) : err;
          }
          if (n2 === 0) throw destinationFull(dirname(partial));
          written += n2;
        }
      }
      // The copy keeps the card's modification time (as `cp -p`): a photo without a date
      // inside is dated by it, on the vault too, and the import time would be wrong there.
      const st = await input.stat();
      await output.utimes(st.atime, st.mtime);
      try {
        await output.sync();
      } catch (err) {
        throw isDiskFull(err) ? destinationFull(dirname(partial), err) : err;
      }
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
  return hash.digest('hex');
}

// [Note: Final names without overwriting]
// rename() replaces whatever holds the target name, so a file that appeared there since the
// name was chosen (another import, the person) would be lost. link() never replaces: it fails
// with EEXIST, and the name is chosen again. Where the destination cannot hard-link (FAT,
// exFAT, some network shares), the name is checked free just before rename(): a window of
// microseconds in which only another writer of that very name could lose, said here because
// it is not zero. Either way the copy under its final name is whole: it was fsync'ed and
// verified under the temporary name first, and the folder is fsync'ed after the rename.

/** Gives partial its final name; false when the name was taken meanwhile. */
async function giveFinalName(partial: string, final: string): Promise<boolean> {
  try {
    await link(partial, final);
    return true; // the partial name is removed by the caller
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') {
      if (isDiskFull(err)) throw destinationFull(final, err);
      throw err;
    }
  }
  if ((await sizeOf(final)) !== null) return false;
  await rename(partial, final);
  return true;
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some file systems (and Windows) cannot fsync a folder; the file itself was synced.
  }
}

export function destinationFull(path: string, cause?: unknown): KeepsakeError {
  return new KeepsakeError(
    'disk_full',
    `the destination disk is full (in ${path}): free some space there or choose another folder with --into, then import again`,
    false,
    { cause },
  );
}

function readError(err: unknown, path: string): KeepsakeError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new KeepsakeError('permission_denied', `not allowed to read ${path}`, false, {
      cause: err,
    });
  }
  if (code === 'ENOENT') {
    return new KeepsakeError(
      'file_not_found',
      `gone from the card (was it removed?): ${path}`,
      true,
      {
        cause: err,
      },
    );
  }
  return new KeepsakeError('read_error', `could not read ${path} (${code ?? 'error'})`, true, {
    cause: err,
  });
}
