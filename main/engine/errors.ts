// The error family (CONVENTIONS.md "Errors carry meaning"):
// - a bug: any plain Error; crashes loudly in development;
// - KeepsakeError: an expected condition with a stable `code` and a message a person can read;
//   the queue decides retry from `code`/`retryable`, the UI shows `message`;
// - cancellation: an AbortError (isAbortError), ignored by global handlers;
// - UploadHttpError (in upload/): a KeepsakeError that also carries request/response details.
// Never match on err.message text.

export type ErrorCode =
  // files
  | 'file_not_found'
  | 'permission_denied'
  | 'file_changed'
  | 'not_a_regular_file'
  | 'read_error'
  // folders
  | 'folder_not_found'
  | 'folder_offline'
  | 'folder_not_a_directory'
  | 'folder_overlaps'
  // vault / network
  | 'network'
  | 'vault_unreachable'
  | 'sign_in_needed'
  | 'vault_full'
  | 'too_large'
  | 'verification_failed'
  | 'upload_rejected'
  | 'upload_gone'
  // engine
  | 'data_dir_locked'
  | 'disk_full'
  | 'database_corrupt'
  | 'database_newer'
  | 'invalid_argument'
  | 'not_found'
  | 'setting_locked'
  | 'metadata_unreadable'
  // devices (issue 12 section 4): ejecting a card
  | 'not_supported'
  | 'eject_failed'
  | 'internal';

export interface SerializedError {
  name: string;
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

export class KeepsakeError extends Error {
  override name = 'KeepsakeError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message, retryable: this.retryable };
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** Turns anything thrown into data that can cross a process or IPC boundary. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof KeepsakeError) return err.toJSON();
  const message = err instanceof Error ? err.message : String(err);
  return {
    name: err instanceof Error ? err.name : 'Error',
    code: 'internal',
    message,
    retryable: false,
  };
}

/** The one wording of a full disk under the data directory (code 'disk_full'). */
export function diskFullError(dataDir: string, cause?: unknown): KeepsakeError {
  return new KeepsakeError(
    'disk_full',
    `not enough disk space for Keepsake's database in ${dataDir}: free some space there`,
    true,
    { cause },
  );
}

/** Maps Node's fs error codes to a KeepsakeError with words a person understands. */
export function fromFsError(err: unknown, path: string): KeepsakeError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code ?? '') {
    case 'ENOENT':
      return new KeepsakeError('file_not_found', `The file is gone: ${path}`, false, {
        cause: err,
      });
    case 'EACCES':
    case 'EPERM':
      return new KeepsakeError(
        'permission_denied',
        `Keepsake is not allowed to read this file (check its permissions): ${path}`,
        true,
        { cause: err },
      );
    case 'EISDIR':
      return new KeepsakeError(
        'not_a_regular_file',
        `This is a folder, not a file: ${path}`,
        false,
        {
          cause: err,
        },
      );
    default:
      return new KeepsakeError(
        'read_error',
        `Could not read ${path} (${code ?? 'unknown error'})`,
        true,
        {
          cause: err,
        },
      );
  }
}
