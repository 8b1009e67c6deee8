// What the engine does when the vault refuses a field of a file's metadata: pure functions
// over the record kept in files.metadata ({metadata, raw, dropped?}). No I/O.
//
// Invariant: the record keeps what exiftool read, unchanged; a refused field is listed in
// `dropped` (with the vault's words) and left out of what is sent, so one bad value (say a
// width of 0) costs that value, not the whole record, and the local copy still has it.
import type { MediaMetadata } from './types.js';

/** The files.metadata column: what was read, and the fields the vault would not take. */
export interface StoredMetadata {
  metadata: MediaMetadata | null;
  raw?: unknown;
  dropped?: { field: string; message: string }[];
}

export function parseStoredMetadata(json: string | null): StoredMetadata | null {
  if (json === null) return null;
  try {
    const parsed = JSON.parse(json) as unknown;
    if (parsed === null || typeof parsed !== 'object') return null;
    return parsed as StoredMetadata;
  } catch {
    return null;
  }
}

/** Fields the engine adds to what exiftool read: left out when dropped, not nulled. */
const ADDED_FIELDS = new Set(['originalPath', 'device']);

/**
 * The body sent to the vault: the read metadata plus where the file was, without the fields
 * the vault refused earlier (null where the field is part of the record, absent otherwise).
 */
export function metadataToSend(
  stored: StoredMetadata,
  added: { originalPath: string; device: string },
): MediaMetadata | null {
  if (!stored.metadata) return null;
  const body: Record<string, unknown> = { ...stored.metadata, ...added };
  for (const { field } of stored.dropped ?? []) {
    if (!(field in body)) continue;
    if (ADDED_FIELDS.has(field)) delete body[field];
    else body[field] = null;
  }
  return body as unknown as MediaMetadata;
}

/**
 * The record with the refused field dropped, and the note for the file's problems; null when
 * there is nothing left to drop for this refusal (no field named, or already dropped), so
 * the caller must not resend the same body.
 */
export function dropRefusedField(
  stored: StoredMetadata,
  refusal: { field?: string | undefined; message?: string | undefined },
  added: { originalPath: string; device: string },
): { stored: StoredMetadata; note: string } | null {
  // "gps.lat" -> the whole gps (its parts are meaningless alone)
  const field = refusal.field?.split('.')[0];
  if (!field || !stored.metadata) return null;
  const sent = metadataToSend(stored, added) as unknown as Record<string, unknown> | null;
  if (!sent || !(field in sent) || (sent[field] === null && !ADDED_FIELDS.has(field))) return null;
  const message = refusal.message?.trim() || 'no reason given';
  return {
    stored: { ...stored, dropped: [...(stored.dropped ?? []), { field, message }] },
    note: `The vault refused the ${field} in this file's metadata (${message}); the rest was sent without it.`,
  };
}

/**
 * The field a single PUT .../metadata refusal names: a `field` in the JSON error body, else
 * the first "path: reason" of its message ("metadata rejected: width: Too small ...").
 */
export function refusalFromErrorBody(body: string): { field?: string; message: string } {
  let message = body.trim();
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object') {
      const o = parsed as Record<string, unknown>;
      if (typeof o.message === 'string') message = o.message;
      if (typeof o.field === 'string' && o.field !== '') return { field: o.field, message };
    }
  } catch {
    // not JSON: the text is the message
  }
  const m = /^metadata rejected: ([A-Za-z][\w.]*): ([^;]*)/.exec(message);
  return m?.[1] ? { field: m[1], message: m[2]?.trim() ?? message } : { message };
}
