// The hasher pool: a fixed number of worker threads (default: one per core the machine
// offers), a FIFO queue in front of them, and the translation of worker replies into
// HashResults or KeepsakeErrors. Invariant: the main thread never reads file content;
// a caller's promise settles exactly once (result, KeepsakeError, or its AbortSignal's
// reason), and an idle pool never keeps the process alive (workers are unref'd when idle).
//
// [Note: Why stat before and after]
// Watcher events are hints, and a file can be mid-copy, appended to or replaced by an
// atomic save at any moment. A digest describes a file only if the file did not move while
// it was read: the worker lstat's the path, opens it without following links and without
// blocking (so a FIFO is never waited on), checks the descriptor is the inode it stat'ed,
// reads to EOF, then stats the descriptor and the path again. Size, mtime, ctime, inode and
// device must all agree and the byte count must equal the size; otherwise the job fails
// with 'file_changed' (retryable) and the engine tries again once the file has settled.
// ctime is compared too (beyond the FileIdentity the engine stores) because a tool can put
// a file's mtime back after writing it, and ctime cannot be set back.
//
// [Note: Node crypto over hash-wasm]
// Measured on this machine (x86-64 with SHA-NI, 256 MiB file, 1 MiB reads): Node's
// crypto.createHash (OpenSSL) ~1,700 MiB/s per thread, hash-wasm's SHA-256 ~430 MiB/s.
// OpenSSL uses the CPU's SHA instructions; WebAssembly cannot. So workers use node:crypto.
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { fromFsError, KeepsakeError } from '../errors.js';
import type { Logger } from '../ports.js';
import type { HashJobReply, HashJobRequest, HashWorkerData } from './protocol.js';
import type { FileHasher, HashResult } from './types.js';

export interface FileHasherOptions {
  /** Worker threads; default os.availableParallelism(). */
  threads?: number;
  logger: Logger;
  /** Read size per step (default 1 MiB): also the granularity of cancellation. */
  chunkBytes?: number;
}

interface Job {
  jobId: number;
  path: string;
  resolve(result: HashResult): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

interface Slot {
  worker: Worker;
  cancel: Int32Array;
  job: Job | undefined;
}

/**
 * The worker module beside this one, with this module's own extension: `.ts` when running
 * from source under tsx, `.js` from dist/.
 */
export function hashWorkerUrl(): URL {
  const ext = extname(fileURLToPath(import.meta.url)) || '.js';
  return new URL(`./hash-worker${ext}`, import.meta.url);
}

/**
 * Starts a hash worker. From dist/ the .js file runs directly. From source, Node 20 does not
 * carry tsx's loader hooks into worker threads (an inherited `--import tsx` leaves `.ts`
 * unknown there), so a two-line bootstrap registers tsx inside the worker first; tsx is
 * resolved from this module, so this path exists only where tsx (a dev dependency) does.
 */
function spawnHashWorker(url: URL, workerData: HashWorkerData): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData, execArgv: [] });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, execArgv: [] });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error
    ? reason
    : new DOMException('The operation was aborted', 'AbortError');
}

export function createFileHasher(options: FileHasherOptions): FileHasher {
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  const logger = options.logger.child({ module: 'hasher' });
  const workerUrl = hashWorkerUrl();
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextJobId = 1;
  let closed = false;

  function settle(job: Job, outcome: { result: HashResult } | { error: unknown }): void {
    if (job.settled) return;
    job.settled = true;
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if ('result' in outcome) job.resolve(outcome.result);
    else job.reject(outcome.error);
  }

  function startWorker(): Slot {
    const cancelBuffer = new SharedArrayBuffer(4);
    const workerData: HashWorkerData = { cancel: cancelBuffer, chunkBytes };
    const worker = spawnHashWorker(workerUrl, workerData);
    const slot: Slot = { worker, cancel: new Int32Array(cancelBuffer), job: undefined };
    worker.on('message', (reply: HashJobReply) => onReply(slot, reply));
    let crash: string | undefined;
    worker.on('error', (err) => {
      crash = String(err);
      logger.error('hash worker crashed', { error: crash });
    });
    worker.on('exit', (exitCode) => {
      const index = slots.indexOf(slot);
      if (index >= 0) slots.splice(index, 1);
      const job = slot.job;
      slot.job = undefined;
      if (job) {
        settle(job, {
          error: new KeepsakeError(
            'read_error',
            `Hashing stopped unexpectedly (${crash ?? `worker exit ${exitCode}`}): ${job.path}`,
            true,
          ),
        });
      }
      if (!closed) pump();
    });
    worker.unref();
    slots.push(slot);
    return slot;
  }

  function onReply(slot: Slot, reply: HashJobReply): void {
    const job = slot.job;
    slot.job = undefined;
    slot.worker.unref();
    if (job && job.jobId === reply.jobId) {
      settle(job, translate(job.path, reply));
    }
    pump();
  }

  function translate(
    path: string,
    reply: HashJobReply,
  ): { result: HashResult } | { error: unknown } {
    switch (reply.type) {
      case 'done':
        return { result: reply.result };
      case 'not_regular':
        return {
          error: new KeepsakeError(
            'not_a_regular_file',
            `Not a regular file (${reply.what}), so Keepsake does not read it: ${path}`,
            false,
          ),
        };
      case 'changed':
        return {
          error: new KeepsakeError(
            'file_changed',
            `The file changed while it was being read (${reply.what}); it will be read again once it settles: ${path}`,
            true,
          ),
        };
      case 'fs_error':
        if (reply.errno === 'ELOOP') {
          return {
            error: new KeepsakeError(
              'not_a_regular_file',
              `Not a regular file (a symbolic link), so Keepsake does not read it: ${path}`,
              false,
            ),
          };
        }
        return {
          error: fromFsError(
            Object.assign(new Error(`${reply.syscall ?? 'read'} failed: ${reply.errno ?? ''}`), {
              code: reply.errno,
              syscall: reply.syscall,
            }),
            path,
          ),
        };
      case 'aborted':
        return { error: new DOMException('The hash was cancelled', 'AbortError') };
      default: {
        const never: never = reply;
        throw new Error(`unknown hash worker reply ${JSON.stringify(never)}`);
      }
    }
  }

  function pump(): void {
    while (!closed && queue.length > 0) {
      let slot = slots.find((s) => s.job === undefined);
      if (!slot && slots.length < threads) slot = startWorker();
      if (!slot) return;
      const job = queue.shift();
      if (!job) return;
      if (job.settled) continue;
      slot.job = job;
      slot.worker.ref();
      const request: HashJobRequest = { type: 'hash', jobId: job.jobId, path: job.path };
      slot.worker.postMessage(request);
    }
  }

  function onJobAborted(job: Job): void {
    const queued = queue.indexOf(job);
    if (queued >= 0) queue.splice(queued, 1);
    const running = slots.find((s) => s.job === job);
    // The worker sees the cancel flag before its next chunk and replies 'aborted'; the slot
    // becomes free then. The caller does not wait for that.
    if (running) Atomics.store(running.cancel, 0, job.jobId);
    settle(job, {
      error: job.signal ? abortReason(job.signal) : new DOMException('aborted', 'AbortError'),
    });
  }

  return {
    hashFile(path: string, signal?: AbortSignal): Promise<HashResult> {
      if (closed) {
        return Promise.reject(new KeepsakeError('internal', 'The hasher is closed'));
      }
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      return new Promise<HashResult>((resolve, reject) => {
        const job: Job = {
          jobId: nextJobId++,
          path,
          resolve,
          reject,
          signal,
          onAbort: undefined,
          settled: false,
        };
        if (signal) {
          job.onAbort = () => onJobAborted(job);
          signal.addEventListener('abort', job.onAbort, { once: true });
        }
        queue.push(job);
        pump();
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const pending = [...queue, ...slots.flatMap((s) => (s.job ? [s.job] : []))];
      queue.length = 0;
      for (const job of pending) {
        settle(job, { error: new DOMException('The hasher was closed', 'AbortError') });
      }
      await Promise.all(slots.map((s) => s.worker.terminate()));
      slots.length = 0;
    },
  };
}
