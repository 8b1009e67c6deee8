// What the uploader does with each answer (or non-answer) from a tus server: the single
// place where statuses become actions, so the table below is the whole policy.
//
// [Note: Upload response table]
// | what happened                               | action                                     |
// |---------------------------------------------|--------------------------------------------|
// | network error, reset, idle timeout, 5xx     | retry with exponential backoff and jitter, |
// |   (other than 503/507)                      |   HEAD first to learn the server's offset  |
// | 2xx whose Upload-Offset < bytes sent        | continue from the server's offset          |
// | 409 Conflict (offset mismatch)              | HEAD, continue from the server's offset    |
// | 404 Not Found / 410 Gone (HEAD or PATCH)    | start a new upload                         |
// | 423 Locked                                  | wait (backoff) and retry                   |
// | 429 Too Many Requests / 503 Unavailable     | wait Retry-After (seconds or HTTP date,    |
// |                                             |   capped at 10 min; backoff without one)   |
// | 460 (the vault's SHA-256 check failed)      | throw 'verification_failed' (the queue     |
// |                                             |   re-hashes and retries a bounded number)  |
// | 401 Unauthorized / 403 Forbidden            | throw 'sign_in_needed' (engine pauses)     |
// | 413 Payload Too Large                       | throw 'too_large'                          |
// | 507 Insufficient Storage                    | throw 'vault_full' (engine pauses)         |
// | any other 4xx                               | throw 'upload_rejected' with the server's  |
// |                                             |   message                                  |
// | the file on disk differs from the job       | throw 'file_changed' (upload terminated)   |
// | the signal aborts (pause, shutdown)         | throw the AbortError; offset stays valid   |
// Transient rows give up after maxNetworkRetries consecutive failures without progress and
// throw 'network' (retryable): the queue schedules the file again later. Every row has a
// test in tests/unit/engine/vault/response-table.test.ts or the integration tests.
import { KeepsakeError, type ErrorCode } from '../errors.js';
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
  if (s === 460)
    return fail(
      'verification_failed',
      'The vault rejected the upload: its SHA-256 of the stored bytes does not match the file (content changed or was corrupted in transit).',
      true,
    );
  if (s === 401 || s === 403)
    return fail(
      'sign_in_needed',
      s === 401
        ? 'The vault did not accept the access token: sign in again.'
        : 'The vault refused access with this token: sign in again or ask for access.',
    );
  if (s === 413) return fail('too_large', 'This file is larger than the vault accepts.');
  if (s === 507)
    return fail('vault_full', 'The vault is full: free space or raise its quota.', true);
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

/** Exponential backoff with jitter: attempt 1 -> ~base, doubling, capped; 50-100% of it. */
export function backoffMs(
  attempt: number,
  baseMs: number,
  capMs: number,
  random = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}
