// Streaming SHA-256 off the main thread. A content hash is trusted only when a stat taken
// before and after reading agree (size, mtime, inode): otherwise the file changed while it
// was read and the result is thrown away (KeepsakeError 'file_changed').

export interface FileIdentity {
  size: number;
  /** unix ms, integer */
  mtimeMs: number;
  ino: number;
  dev: number;
  /**
   * Inode change time, unix ms (integer). Moves with every write, even one whose tool puts
   * the mtime back (`touch -r`), and cannot be set back. Absent: not known (a row recorded
   * before Keepsake stored it, or a caller that never stat'ed).
   */
  ctimeMs?: number;
}

export interface HashResult extends FileIdentity {
  /** 64 lowercase hex */
  sha256: string;
}

export interface FileHasher {
  /**
   * Hashes a regular file in a worker thread. Rejects with KeepsakeError: 'file_changed',
   * 'not_a_regular_file' (FIFO, socket, device: never opened), or a fromFsError code.
   */
  hashFile(path: string, signal?: AbortSignal): Promise<HashResult>;
  close(): Promise<void>;
}
