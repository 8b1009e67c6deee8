// The messages between the hasher pool (main thread) and a hash worker. Plain data only:
// errors cross as an errno code or a tagged reason, and the pool turns them into
// KeepsakeErrors (a worker never constructs user-facing messages itself).
import type { HashResult } from './types.js';

export interface HashJobRequest {
  type: 'hash';
  jobId: number;
  path: string;
}

export type HashJobReply =
  | { type: 'done'; jobId: number; result: HashResult }
  | { type: 'not_regular'; jobId: number; what: string }
  | { type: 'changed'; jobId: number; what: string }
  | { type: 'fs_error'; jobId: number; errno: string | undefined; syscall: string | undefined }
  | { type: 'aborted'; jobId: number };

export interface HashWorkerData {
  /**
   * Int32Array over a SharedArrayBuffer, slot 0: the jobId the pool wants cancelled. The
   * worker reads it between chunks, so a cancel lands within one chunk's time.
   */
  cancel: SharedArrayBuffer;
  chunkBytes: number;
}
