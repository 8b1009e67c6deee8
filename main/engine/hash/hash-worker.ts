// A hash worker: one job at a time, streaming SHA-256 over a file with synchronous reads
// (this thread is ours alone, so blocking it is the point: the main thread never waits,
// and libuv's shared thread pool is left to the rest of the engine).
//
// Invariant: a digest is reported only when the file was a regular file throughout, every
// byte up to EOF was read, and lstat/fstat before and after agree (size, mtime, ctime,
// inode, device). A FIFO, socket or device is never opened: lstat screens it out first, and
// the open itself uses O_NONBLOCK | O_NOFOLLOW so a file swapped for a FIFO or a symlink
// between the lstat and the open cannot block us or lead us elsewhere; fstat then confirms
// the descriptor is the inode lstat saw. See [Note: Why stat before and after] in
// file-hasher.ts.
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  type Stats,
} from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { describeNonRegular, identityOf } from './file-identity.js';
import { fsPath } from '../raw-path.js';
import type { HashJobReply, HashJobRequest, HashWorkerData } from './protocol.js';

const data = workerData as HashWorkerData;
const cancel = new Int32Array(data.cancel);
const buffer = Buffer.allocUnsafe(data.chunkBytes);
const openFlags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

function sameContentStamp(a: Stats, b: Stats): boolean {
  return (
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs &&
    a.ino === b.ino &&
    a.dev === b.dev
  );
}

function hashOne(job: HashJobRequest): HashJobReply {
  const { jobId } = job;
  const path = fsPath(job.path); // exact bytes of a name that is not UTF-8
  let fd: number | undefined;
  try {
    const before = lstatSync(path);
    if (!before.isFile()) return { type: 'not_regular', jobId, what: describeNonRegular(before) };
    fd = openSync(path, openFlags);
    const opened = fstatSync(fd);
    if (!opened.isFile()) return { type: 'not_regular', jobId, what: describeNonRegular(opened) };
    if (!sameContentStamp(before, opened)) {
      return { type: 'changed', jobId, what: 'it was replaced or written to as reading began' };
    }
    const hash = createHash('sha256');
    let position = 0;
    for (let chunk = 1; ; chunk++) {
      if (Atomics.load(cancel, 0) === jobId) return { type: 'aborted', jobId };
      const n = readSync(fd, buffer, 0, buffer.length, position);
      if (n === 0) break;
      hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
      position += n;
      // A video still being copied would otherwise be read to the end before we notice:
      // look again every 64 chunks (one fstat per 64 MiB by default) and stop early.
      if (chunk % 64 === 0 && !sameContentStamp(before, fstatSync(fd))) {
        return { type: 'changed', jobId, what: 'it was written to while it was read' };
      }
    }
    const afterFd = fstatSync(fd);
    const afterPath = lstatSync(path);
    if (position !== before.size || !sameContentStamp(before, afterFd)) {
      return {
        type: 'changed',
        jobId,
        what: 'its size or modification time moved while it was read',
      };
    }
    if (!sameContentStamp(before, afterPath)) {
      return { type: 'changed', jobId, what: 'another file took its place while it was read' };
    }
    return { type: 'done', jobId, result: { ...identityOf(before), sha256: hash.digest('hex') } };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { type: 'fs_error', jobId, errno: e.code, syscall: e.syscall };
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // closing a read-only descriptor can only fail on EBADF/EIO; nothing to undo
      }
    }
  }
}

parentPort?.on('message', (job: HashJobRequest) => {
  parentPort?.postMessage(hashOne(job));
});
