// Errors the vault answers with: a status, a stable machine-readable `error` code and a
// message a person can read. Every 4xx/5xx body the vault sends is JSON of this shape
// ({"error": code, "message": text}), on /files/ as well as /api/v1/, so a client never has
// to parse prose. Clients decide on `status` and `error`, never on `message`.

export type VaultErrorCode =
  | 'unauthorized'
  | 'bad_request'
  | 'invalid_json'
  | 'invalid_sha256'
  | 'invalid_metadata'
  | 'invalid_cursor'
  | 'invalid_path'
  | 'not_found'
  | 'gone'
  | 'method_not_allowed'
  | 'offset_conflict'
  | 'precondition_failed'
  | 'payload_too_large'
  | 'range_not_satisfiable'
  | 'quota_exceeded'
  | 'insufficient_storage'
  | 'batch_too_large'
  | 'checksum_mismatch'
  | 'content_damaged'
  | 'content_missing'
  | 'not_implemented'
  | 'preview_pending'
  | 'no_preview'
  | 'no_video'
  | 'invalid_format'
  | 'conversion_unsupported'
  | 'conversion_failed'
  | 'converter_missing'
  | 'forbidden'
  | 'device_revoked'
  | 'device_exists'
  | 'enrolment_used'
  | 'enrolment_expired'
  | 'enrolment_unknown'
  | 'internal';

export class VaultHttpError extends Error {
  override name = 'VaultHttpError';
  constructor(
    readonly status: number,
    readonly code: VaultErrorCode,
    message: string,
    /** more fields of the JSON body, e.g. {freeBytes} on 507 insufficient_storage */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** The JSON body sent to the client. */
  body(): string {
    return JSON.stringify({ ...this.details, error: this.code, message: this.message });
  }

  /**
   * The shape @tus/server expects from a hook that rejects a request: it answers with
   * `status_code` and `body` verbatim.
   */
  toTusError(): TusRejection {
    return new TusRejection(this.status, this.body());
  }
}

/**
 * An error in the shape @tus/server answers verbatim (`status_code`, `body`), as an Error so
 * it carries a stack. Also wraps @tus/server's own ERRORS constants (plain objects).
 */
export class TusRejection extends Error {
  override name = 'TusRejection';
  constructor(
    readonly status_code: number,
    readonly body: string,
  ) {
    super(body.trim());
  }

  static from(e: { status_code: number; body: string }): TusRejection {
    return new TusRejection(e.status_code, e.body);
  }
}

/** The error code the vault uses for a status @tus/server chose itself. */
export function codeForStatus(status: number): VaultErrorCode {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 409:
      return 'offset_conflict';
    case 410:
      return 'gone';
    case 412:
      return 'precondition_failed';
    case 413:
      return 'payload_too_large';
    case 416:
      return 'range_not_satisfiable';
    case 460:
      return 'checksum_mismatch';
    case 501:
      return 'not_implemented';
    case 507:
      return 'quota_exceeded';
    default:
      return status >= 500 ? 'internal' : 'bad_request';
  }
}
