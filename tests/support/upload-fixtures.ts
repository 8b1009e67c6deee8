// Helpers for uploader tests: UploadJobs for real files on disk, recording callbacks, and
// files of random bytes. (Owned by the uploader issue.)
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type {
  UploadCallbacks,
  UploadJob,
  UploadProgressSample,
} from '../../main/engine/vault/types.js';

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: 1024 * 1024 })
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** A job for a file as the queue would build it (hash and stat from disk). */
export async function jobFor(
  path: string,
  extra: Partial<Omit<UploadJob, 'sha256'>> = {},
): Promise<UploadJob & { sha256: string }> {
  const [st, sha256] = await Promise.all([stat(path), sha256File(path)]);
  return {
    fileId: 1,
    path,
    size: st.size,
    sha256,
    mtimeMs: Math.floor(st.mtimeMs),
    filename: basename(path),
    relPath: basename(path),
    mime: 'application/octet-stream',
    resume: null,
    ...extra,
  };
}

/** A file of `size` random bytes (written in pieces, never all in memory at once). */
export async function randomFile(path: string, size: number): Promise<string> {
  const piece = 4 * 1024 * 1024;
  await writeFile(path, '');
  const { appendFile } = await import('node:fs/promises');
  for (let at = 0; at < size; at += piece) {
    await appendFile(path, randomBytes(Math.min(piece, size - at)));
  }
  return path;
}

export interface RecordedCallbacks extends UploadCallbacks {
  created: string[];
  offsets: number[];
  progress: UploadProgressSample[];
  /** Calls in order, e.g. ["created", "offset:0", ...]. */
  events: string[];
}

export function recordingCallbacks(
  hooks: { onOffset?: (offset: number) => void } = {},
): RecordedCallbacks {
  const rec: RecordedCallbacks = {
    created: [],
    offsets: [],
    progress: [],
    events: [],
    onCreated(url) {
      rec.created.push(url);
      rec.events.push('created');
    },
    onOffset(offset) {
      rec.offsets.push(offset);
      rec.events.push(`offset:${offset}`);
      hooks.onOffset?.(offset);
    },
    onProgress(sample) {
      rec.progress.push(sample);
    },
  };
  return rec;
}
