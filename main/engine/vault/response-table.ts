// What every answer (or non-answer) from the vault means: the single place where statuses
// become actions and errors, for the tus conversation, the batch upload and the JSON calls
// (dedup check, metadata, usage) alike, so a status means the same thing on every call.
//
// [Note: Upload response table]
// | what happened                           | tus / batch action              | one-shot JSON call      |
// |-----------------------------------------|---------------------------------|-------------------------|
// | network error, reset, idle timeout      | retry with backoff (shared      | vault_unreachable,      |
// |                                         |   pipeline/backoff.ts), HEAD    |   retryable             |
// |                                         |   first to learn the offset     |                         |
// | TLS certificate not trusted             | vault_unreachable, NOT          | same                    |
// |                                         |   retryable, --ca-file hint     |                         |
// | 2xx whose Upload-Offset < bytes sent    | continue from the server offset | (n/a)                   |
// | 409 Conflict (offset mismatch)          | HEAD, continue from its offset  | upload_rejected         |
// | 404 / 410 on HEAD, PATCH, DELETE        | start a new upload              | upload_rejected         |
// | 423 Locked                              | wait (backoff) and retry        | vault_unreachable, retr.|
// | 429 / 503                               | wait Retry-After (seconds or    | vault_unreachable,      |
// |                                         |   HTTP date, capped at 10 min;  |   retryable             |
// |                                         |   backoff without one)          |                         |
// | other 5xx (not 507)                     | retry with backoff              | vault_unreachable, retr.|
// | 460 (the vault's SHA-256 check failed)  | verification_failed, retryable  | same                    |
// |                                         |   (the queue re-hashes, bounded)|                         |
// | 401 / 403                               | sign_in_needed (engine pauses)  | same                    |
// | 401 device_revoked                      | sign_in_needed with the vault's | same                    |
// |                                         |   "this device was revoked"     |                         |
// | 413 Payload Too Large                   | too_large                       | same                    |
// | 507 Insufficient Storage                | vault_full, retryable (pauses)  | same                    |
// | any other 4xx (404 on POST included)    | upload_rejected with the        | same                    |
// |                                         |   server's message              |                         |
// | any other status (1xx, 3xx)             | upload_rejected                 | same                    |
// | the file on disk differs from the job   | file_changed (upload ended)     | (n/a)                   |
// | the signal aborts (pause, shutdown)     | the AbortError; offset valid    | the AbortError          |
// Transient tus rows give up after maxNetworkRetries consecutive failures without progress
// and throw 'network' (retryable): the queue schedules the file again later. A one-shot call
// does not retry: its caller (queue, metadata pump) schedules the next try with the same
// backoff. Every row has a test in tests/unit/engine/vault/response-table.test.ts or the
// integration tests.
import { RequestError } from 'got';
import { formatSize } from '../../../common/size-units.js';
import { CHECKSUM_MISMATCH_STATUS, DEVICE_REVOKED_CODE } from '../../../common/vault-protocol.js';
import { KeepsakeError, isAbortError, type ErrorCode } from '../errors.js';
import { redactUrl } from './http-client.js';

/** A KeepsakeError from an HTTP exchange, with what is needed to debug it (never the token). */
export class UploadHttpError extends KeepsakeError {
  override name = 'UploadHttpError';
  readonly method: string;
  readonly url: string;
  /** null when no response arrived (network fault). */
  readonly status: number | null;
  /** The first 500 characters of the response body. */
  readonly responseBody: string;

  constructor(
    code: ErrorCode,
    message: string,
    retryable: boolean,
    details: { method: string; url: string; status: number | null; body?: string; cause?: unknown },
  ) {
    super(code, message, retryable, { cause: details.cause });
    this.method = details.method;
    this.url = redactUrl(details.url);
    this.status = details.status;
    this.responseBody = (details.body ?? '').slice(0, 500);
  }
}

export type ResponseAction =
  | { kind: 'retry'; delayMs: number | null; reason: string } // null = use backoff
  | { kind: 'resync'; reason: string } // HEAD, continue from the server's offset
  | { kind: 'restart'; reason: string } // the upload is gone: create a new one
  | { kind: 'fail'; error: UploadHttpError };

export interface HttpExchange {
  method: string;
  url: string;
  status: number;
  body: string;
  retryAfter: string | undefined;
  nowMs: number;
}

const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;

/** What to do with a status the tus conversation did not expect. See [Note: Upload response table]. */
export function actionForStatus(x: HttpExchange): ResponseAction {
  const fail = (code: ErrorCode, message: string, retryable = false): ResponseAction => ({
    kind: 'fail',
    error: new UploadHttpError(code, message, retryable, {
      method: x.method,
      url: x.url,
      status: x.status,
      body: x.body,
    }),
  });
  const s = x.status;
  if (s === 409) return { kind: 'resync', reason: 'offset conflict (409)' };
  if ((s === 404 || s === 410) && x.method !== 'POST')
    return { kind: 'restart', reason: `upload gone (${s})` };
  if (s === 423) return { kind: 'retry', delayMs: null, reason: 'upload locked (423)' };
  if (s === 429 || s === 503)
    return {
      kind: 'retry',
      delayMs: parseRetryAfter(x.retryAfter, x.nowMs),
      reason: `server busy (${s})`,
    };
  if (s === CHECKSUM_MISMATCH_STATUS)
    return fail(
      'verification_failed',
      'The vault rejected the upload: its SHA-256 of the stored bytes does not match the file (content changed or was corrupted in transit).',
      true,
    );
  if (s === 401 && serverErrorCode(x.body) === DEVICE_REVOKED_CODE)
    // Not a token to type again: the administrator revoked this device (issue 13).
    return fail('sign_in_needed', `The vault refused this computer: ${serverMessage(x.body)}`);
  if (s === 401 || s === 403)
    return fail(
      'sign_in_needed',
      s === 401
        ? 'The vault did not accept the access token: sign in again.'
        : 'The vault refused access with this token: sign in again or ask for access.',
    );
  if (s === 413) return fail('too_large', 'This file is larger than the vault accepts.');
  if (s === 507) return fail('vault_full', vaultFullMessage(x.body), true);
  if (s >= 400 && s < 500)
    return fail(
      'upload_rejected',
      `The vault rejected the upload (${s}): ${serverMessage(x.body) || 'no reason given'}`,
    );
  if (s >= 500) return { kind: 'retry', delayMs: null, reason: `server error (${s})` };
  return fail(
    'upload_rejected',
    `Unexpected answer ${s} to ${x.method} from the vault: ${serverMessage(x.body) || 'no body'}`,
  );
}

/**
 * The words for a 507: the vault's disk is full (body `insufficient_storage`, with the bytes it
 * can still store), or its quota is used up.
 */
export function vaultFullMessage(body: string): string {
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(body);
  } catch {
    // not JSON: an older vault, or a proxy
  }
  const o = (parsed ?? {}) as { error?: unknown; freeBytes?: unknown };
  if (o.error === 'insufficient_storage') {
    const free =
      typeof o.freeBytes === 'number' ? ` (it can store ${formatSize(o.freeBytes)} more)` : '';
    return `the vault's disk is full${free}: free space on the vault's disk, and the backup goes on.`;
  }
  return 'The vault is full: free space or raise its quota.';
}

/** True for the vault's answer to a revoked device's token (issue 13). */
export function isDeviceRevoked(err: unknown): boolean {
  return (
    err instanceof UploadHttpError &&
    err.status === 401 &&
    serverErrorCode(err.responseBody) === DEVICE_REVOKED_CODE
  );
}

/** The vault's machine-readable `error` of a JSON error body; '' when there is none. */
function serverErrorCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object') {
      const code = (parsed as Record<string, unknown>).error;
      if (typeof code === 'string') return code;
    }
  } catch {
    // not JSON
  }
  return '';
}

/** The human part of an error body: JSON {error|message}, else the text, trimmed. */
export function serverMessage(body: string): string {
  const text = body.trim();
  if (text === '') return '';
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') {
      const o = parsed as Record<string, unknown>;
      const parts = [o.message, o.error, o.detail].filter(
        (v): v is string => typeof v === 'string' && v !== '',
      );
      if (parts.length > 0) return [...new Set(parts)].join(': ').slice(0, 300);
    }
  } catch {
    // not JSON: use the text
  }
  return text.replace(/\s+/g, ' ').slice(0, 300);
}

/** Retry-After as delta-seconds or an HTTP date, in ms; null when absent or unusable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(MAX_RETRY_AFTER_MS, Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - nowMs));
}

/**
 * The error a one-shot call (dedup check, metadata, usage, batch) throws for a status it did
 * not expect. Same table as the tus conversation: rows that tus retries in place become a
 * retryable vault_unreachable (the caller schedules the retry); rows that only make sense
 * for a tus upload URL (409, 404/410) become upload_rejected. See [Note: Upload response table].
 */
export function errorForStatus(x: HttpExchange, what: string): UploadHttpError {
  const action = actionForStatus(x);
  const details = { method: x.method, url: x.url, status: x.status, body: x.body };
  switch (action.kind) {
    case 'fail':
      if (action.error.code !== 'upload_rejected') return action.error;
      // The table's words speak of an upload; say what this call was for.
      return new UploadHttpError(
        'upload_rejected',
        `The vault refused the request to ${what} (${x.status}): ${serverMessage(x.body) || 'no reason given'}`,
        false,
        details,
      );
    case 'retry':
      return new UploadHttpError(
        'vault_unreachable',
        `The vault could not ${what} (${action.reason}); will retry.`,
        true,
        details,
      );
    case 'resync':
    case 'restart':
      return new UploadHttpError(
        'upload_rejected',
        `The vault refused the request to ${what} (${x.status}): ${serverMessage(x.body) || 'no reason given'}`,
        false,
        details,
      );
    default: {
      const never: never = action;
      throw new Error(`unknown action ${JSON.stringify(never)}`);
    }
  }
}

/**
 * What a request that got no answer means: the AbortError when `signal` fired (pause,
 * shutdown), an untrusted certificate as a lasting error with the --ca-file hint, anything
 * else as a retryable vault_unreachable. Bugs (non-network errors) are returned unchanged.
 */
export function errorForNetworkFault(
  err: unknown,
  what: string,
  method: string,
  url: string,
  signal?: AbortSignal,
): unknown {
  if (signal?.aborted) return abortReason(signal);
  // Not isAbortError: got's own timeouts are TimeoutErrors, and they are network faults.
  if ((err as Error | null)?.name === 'AbortError') {
    return new DOMException('The request was stopped', 'AbortError');
  }
  if (!isNetworkError(err)) return err;
  const tls = untrustedCertificate(err);
  if (tls) return tls;
  const code = (err as { code?: unknown }).code;
  return new UploadHttpError(
    'vault_unreachable',
    `Cannot reach the vault at ${redactUrl(new URL(url).origin)} to ${what} (${typeof code === 'string' ? code : 'network error'}); will retry.`,
    true,
    { method, url, status: null, cause: err },
  );
}

/**
 * A TLS certificate the client does not trust is not a passing fault: retrying will not fix
 * it, and the person needs to know why (an inspecting corporate proxy needs --ca-file).
 */
export function untrustedCertificate(err: unknown): KeepsakeError | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (!/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS/.test(code)) return null;
  return new KeepsakeError(
    'vault_unreachable',
    `The vault's TLS certificate is not trusted (${code}). If your network inspects TLS traffic, give Keepsake its CA bundle with --ca-file.`,
    false,
    { cause: err },
  );
}

/** A fault of the connection (got's RequestError, or a Node system error), not a bug. */
export function isNetworkError(err: unknown): boolean {
  return (
    err instanceof RequestError ||
    (err instanceof Error &&
      'code' in err &&
      typeof err.code === 'string' &&
      /^E[A-Z]+/.test(err.code))
  );
}

/** The signal's reason when it is an AbortError, else a fresh AbortError. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (isAbortError(reason)) return reason as Error;
  return new DOMException('The upload was stopped', 'AbortError');
}
