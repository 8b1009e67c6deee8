// Why a vault could not start, with a message a person can act on (the CLI prints it).

export type VaultStartErrorCode =
  | 'data_dir_unwritable'
  | 'data_dir_locked'
  | 'port_in_use'
  | 'address_unavailable'
  | 'tls_unreadable'
  | 'tls_invalid'
  | 'index_too_new'
  | 'index_unreachable'
  | 'no_vault'
  | 'invalid_option'
  | 'blobs_unreachable';

export class VaultStartError extends Error {
  override name = 'VaultStartError';
  constructor(
    readonly code: VaultStartErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
