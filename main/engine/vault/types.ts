// The interface between the engine's queue and the uploader. The queue owns file state and
// persistence; the uploader owns the tus conversation with the vault (create, PATCH, HEAD,
// DELETE), its own retry loop for transient faults, and the bandwidth throttle.
//
// Invariant: the offset the uploader reports through onOffset is one the server confirmed
// (an Upload-Offset header), never bytes merely sent. The queue persists it; after a crash
// the next upload() is handed that offset and the URL, and HEADs before sending anything.

import type { KeepsakeError } from '../errors.js';
import type { BandwidthPolicy } from './bandwidth.js';

export interface UploadJob {
  /** The engine's files.id: for logs and progress events only. */
  fileId: number;
  /** Absolute path on disk. */
  path: string;
  /** Size in bytes the file had when it was hashed. */
  size: number;
  /**
   * SHA-256 of the content, 64 lowercase hex, computed by the hash worker; or null for a
   * large file not hashed beforehand: the uploader hashes it while sending (read once) and
   * returns the hash the vault verified in UploadResult. See [Note: Hash while sending] in
   * tus-uploader.ts.
   */
  sha256: string | null;
  /** Modification time when hashed, unix ms. */
  mtimeMs: number;
  /** Base name sent as Upload-Metadata filename. */
  filename: string;
  /** Path relative to the watched folder root, with forward slashes. */
  relPath: string;
  mime: string | null;
  /** Where a previous attempt got to, as persisted by the queue; null for a fresh upload. */
  resume: { uploadUrl: string; offset: number } | null;
}

/** A small file sent inside a batch: never resumed (a cut batch is sent again whole). */
export type BatchUploadJob = Omit<UploadJob, 'resume' | 'sha256'> & { sha256: string };

/**
 * What the vault said of one file of a batch. `stored` and `duplicate` both mean the vault
 * durably holds bytes it verified to hash to sha256; `refused` carries the reason as a
 * KeepsakeError (the same codes upload() throws, e.g. 'verification_failed').
 */
export type BatchItemOutcome =
  | { fileId: number; sha256: string; outcome: 'stored' | 'duplicate' }
  | { fileId: number; sha256: string; outcome: 'refused'; error: KeepsakeError };

export interface UploadProgressSample {
  fileId: number;
  bytesSent: number;
  bytesTotal: number;
  /** Smoothed over the last few seconds. */
  bytesPerSecond: number;
  etaSeconds: number | null;
}

export interface UploadCallbacks {
  /** The upload now exists on the server at this URL (persist it before sending data). */
  onCreated(uploadUrl: string): void;
  /** The server confirmed it holds this many bytes (persist it). */
  onOffset(offset: number): void;
  /** At most a few times a second. */
  onProgress(sample: UploadProgressSample): void;
  /**
   * `bytes` more of the file were just handed to the network (an increment: bytes sent again
   * after a fault count again). What a run "uploaded" is the sum. Optional.
   */
  onSent?(bytes: number): void;
}

export interface UploadResult {
  /** The vault verified this SHA-256 from the bytes it stored. */
  sha256: string;
  uploadUrl: string;
}

/**
 * Uploads one file to completion, retrying transient faults itself (network errors, 409,
 * 423, 429/503) with backoff. Terminal outcomes are thrown as KeepsakeError (errors.ts) with
 * codes the queue acts on: 'verification_failed' (460: re-hash and retry a bounded number of
 * times), 'sign_in_needed' (401/403: pause the engine), 'vault_full' (507: pause), 'too_large'
 * (413), 'upload_rejected' (other 4xx, with the server's message), 'file_changed' (the file
 * on disk no longer matches the job), file errors from fromFsError, and AbortError when the
 * signal fires (pause, shutdown): the confirmed offset stays valid for a later resume.
 */
export interface Uploader {
  upload(job: UploadJob, callbacks: UploadCallbacks, signal: AbortSignal): Promise<UploadResult>;
  /**
   * Sends many small files (each no larger than one chunk) in one request
   * (POST /api/v1/batch, common/vault-protocol.ts) and answers one outcome per job, in job
   * order. A whole-batch failure (network, 401, 507, ...) is thrown as for upload(); a
   * per-file refusal (e.g. its bytes no longer hash to job.sha256) is an outcome, and the
   * other files of the batch are unaffected. Optional: without it the queue sends small
   * files one by one through upload().
   */
  uploadBatch?(
    jobs: readonly BatchUploadJob[],
    signal: AbortSignal,
    /** As UploadCallbacks.onSent, for the file bytes of all the batch's frames. */
    onSent?: (bytes: number) => void,
  ): Promise<BatchItemOutcome[]>;
  /**
   * false once the vault said it takes no batches (uploadBatch then sends the files one by one,
   * in order): the queue stops grouping and gives each file its own slot again. Optional:
   * absent means "as uploadBatch is present".
   */
  batchesSupported?(): boolean;
  /** tus termination: the file was deleted or excluded before its upload finished. */
  abandon(uploadUrl: string, signal?: AbortSignal): Promise<void>;
  /** Bytes per second shared by all uploads, or null for no cap: a fixed policy. Live. */
  setBandwidthLimit(bytesPerSecond: number | null): void;
  /**
   * A fixed cap or a weekly timetable (parseBandwidthLimit in bandwidth.ts), replacing any
   * earlier limit. Takes effect live; the uploader's throttle follows the timetable from then
   * on, and is the only place that does (the engine only hands it the setting). Optional so
   * simple test uploaders need not implement it.
   */
  setBandwidthPolicy?(policy: BandwidthPolicy | null): void;
  close(): Promise<void>;
}
