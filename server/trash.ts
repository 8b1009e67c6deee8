// The vault's trash (issue 15 section 1): moving contents out of the library, restoring them,
// and the administrator's explicit empty that removes what is past its retention. The API:
//   GET  /api/v1/trash            what is in the trash, each with when it may be removed
//   POST /api/v1/trash            {"sha256": [...]} moves contents to the trash
//   POST /api/v1/trash/restore    {"sha256": [...]} takes them out again
//   POST /api/v1/trash/empty      (admin token only) removes what may be removed, and says
//                                 what it removed and what it kept, and why
// and `keepsake vault trash list|restore|empty` (main/cli/commands/vault-trash.ts).
// Invariant: a content leaves the vault only through emptyTrash, never by itself, and only
// when it has been in the trash for the whole retention AND no device holds a live place of
// it (index/location-store.ts), both checked again in the transaction that forgets it.
//
// [Note: What the trash answers]
// The trash must never make a client believe its file is safe and then free it. So, for a
// content in the trash, from the move until an empty removes it:
// - POST /api/v1/assets/check lists it under `trashed`, never under `present`. A client reads
//   "not held" (an older one knows nothing else) and keeps its copy counted as not backed
//   up; it may upload it again, which the vault answers as a duplicate without taking it out
//   of the trash (a person's choice is not undone by a device's rescan).
// - POST /api/v1/verify answers `missing` (the blob is intact, but the vault no longer vouches
//   for it), so free-up (main/engine/free-up/free-up.ts, [Note: What may be freed up] 3.)
//   keeps the file, whatever a check said before.
// - The library, its counts and the similar-photos review leave it out; GET .../content,
//   thumbnails and previews still serve it, so the trash can be browsed and a client restore
//   still works until it is removed.
// Only after an empty removed it does the content disappear from `check` altogether (in no
// list: unknown), and then only because no device held a live place of it: any device that
// still has the file keeps it in the vault, however long it has been in the trash.
// Nothing is removed automatically, ever: there is no timer here. `keepsake vault trash
// empty` (or POST /api/v1/trash/empty with the admin token) is the only way out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  MAX_CHECK_HASHES,
  trashRequestSchema,
  type TrashEmptyResult,
  type TrashListing,
} from '../common/vault-protocol.js';
import { parseJson, readBody, sendJson } from './api.js';
import { join } from 'node:path';
import type { BlobStore } from './blob-store.js';
import { openBlobStore } from './blobs/open-blob-store.js';
import type { Principal } from './devices.js';
import { VaultHttpError } from './http-error.js';
import type { VaultIndex } from './index/vault-index.js';
import { silentVaultLogger, type VaultLogger } from './logger.js';
import { PREVIEWS_DIR, PreviewFiles } from './previews.js';
import { withStoppedVault } from './stopped-vault.js';

export const DEFAULT_TRASH_RETENTION_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;
const MAX_TRASH_BODY_BYTES = 128 * 1024;

export interface TrashDeps {
  index: VaultIndex;
  blobs: BlobStore;
  /** null when the vault makes no previews */
  previews: PreviewFiles | null;
  now: () => number;
  retentionDays: number;
  logger: VaultLogger;
}

function pathText(path: Buffer): string {
  return path.toString('utf8');
}

/** What is in the trash now, each with the moment an empty may remove it. */
export async function trashListing(
  index: VaultIndex,
  retentionDays: number,
): Promise<TrashListing> {
  const retentionMs = retentionDays * DAY_MS;
  const items = (await index.trash.list()).map((r) => ({
    sha256: r.sha256,
    filename: r.filename,
    size: r.size,
    trashedAt: r.trashedAt,
    removableAfter: r.trashedAt + retentionMs,
    livePlaces: r.livePlaces,
  }));
  return {
    items,
    retentionDays,
    bytes: items.reduce((s, i) => s + i.size, 0),
  };
}

/**
 * Removes every content whose retention is over and that no device holds; reports each
 * content of the trash as removed or kept with its reason. See [Note: What the trash
 * answers].
 */
export async function emptyTrash(deps: TrashDeps): Promise<TrashEmptyResult> {
  const { index, blobs, previews, logger } = deps;
  const now = deps.now();
  const retentionMs = deps.retentionDays * DAY_MS;
  const result: TrashEmptyResult = { removed: [], kept: [], removedBytes: 0 };
  for (const r of await index.trash.list()) {
    const until = r.trashedAt + retentionMs;
    if (until > now) {
      result.kept.push({
        sha256: r.sha256,
        filename: r.filename,
        reason: 'retention',
        message: `in the trash until ${new Date(until).toISOString()} (${deps.retentionDays} days' retention)`,
      });
      continue;
    }
    const places = r.livePlaces > 0 ? await index.trash.livePlaces(r.sha256) : [];
    const first = places[0];
    if (first !== undefined) {
      result.kept.push({
        sha256: r.sha256,
        filename: r.filename,
        reason: 'held_by_device',
        message:
          `${first.deviceName} still has it (${first.folder}/${pathText(first.path)})` +
          (places.length > 1 ? ` and in ${places.length - 1} more place(s)` : ''),
      });
      continue;
    }
    // The index forgets it first (synced), then its files go: a crash in between leaves an
    // orphan blob, never an asset without its bytes. What was decided above on a read is
    // checked again in the forget's transaction (another request, or node, may have restored
    // it or registered a place since).
    if (!(await index.trash.forget(r.sha256, now - retentionMs))) {
      result.kept.push({
        sha256: r.sha256,
        filename: r.filename,
        reason: 'changed',
        message:
          'restored, trashed again, placed on a device, or removed by another empty while this one ran',
      });
      continue;
    }
    // Plain or compressed (compressor.ts): whichever file holds it.
    await blobs.remove(r.sha256);
    await previews?.remove(r.sha256);
    result.removed.push({ sha256: r.sha256, filename: r.filename, size: r.size });
    result.removedBytes += r.size;
    logger.info('removed from the trash', { sha256: r.sha256, bytes: r.size });
  }
  return result;
}

export function createTrashApi(deps: TrashDeps) {
  async function hashesOf(req: IncomingMessage): Promise<string[]> {
    const parsed = trashRequestSchema.safeParse(
      parseJson(await readBody(req, MAX_TRASH_BODY_BYTES)),
    );
    if (!parsed.success) {
      throw new VaultHttpError(
        400,
        'bad_request',
        `expected {"sha256": [...]} with 1 to ${MAX_CHECK_HASHES} sha256 hex strings`,
      );
    }
    return [...new Set(parsed.data.sha256)];
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    rest: readonly string[],
    principal: Principal,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const [what, ...extra] = rest;
    if (extra.length > 0) {
      throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
    }
    if (what === undefined || what === '') {
      if (method === 'GET') {
        return sendJson(res, 200, await trashListing(deps.index, deps.retentionDays));
      }
      if (method !== 'POST') {
        throw new VaultHttpError(405, 'method_not_allowed', 'this resource answers GET, POST');
      }
      const { moved, unknown } = await deps.index.trash.move(
        await hashesOf(req),
        deps.now(),
        principal.kind === 'device' ? principal.id : null,
      );
      return sendJson(res, 200, { moved, unknown });
    }
    if (method !== 'POST') {
      throw new VaultHttpError(405, 'method_not_allowed', 'this resource answers POST only');
    }
    if (what === 'restore') {
      const restored = await deps.index.trash.restore(await hashesOf(req));
      return sendJson(res, 200, { restored });
    }
    if (what === 'empty') {
      if (principal.kind !== 'admin') {
        throw new VaultHttpError(
          403,
          'forbidden',
          "emptying the vault's trash is for its administrator (the vault's own token)",
        );
      }
      return sendJson(res, 200, await emptyTrash(deps));
    }
    throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
  }

  return { handle };
}

/**
 * `keepsake vault trash empty`: the same empty on a stopped vault's data directory, on this
 * machine's clock (it holds the data directory's lock, so no upload races the removal).
 */
export async function emptyStoppedVaultTrash(opts: {
  dataDir: string;
  /** the vault's --index and --previews-dir (defaults in `dataDir`) */
  index?: string;
  previewsDir?: string;
  /** where the vault stores its blobs, as its --blobs option (default `<dataDir>/blobs`) */
  blobs?: string;
  retentionDays: number;
  logger?: VaultLogger;
}): Promise<TrashEmptyResult> {
  const blobs = openBlobStore(opts.blobs, opts.dataDir);
  return withStoppedVault(opts, 'stop it to empty its trash', (index) =>
    emptyTrash({
      index,
      blobs,
      previews: new PreviewFiles(opts.previewsDir ?? join(opts.dataDir, PREVIEWS_DIR)),
      now: Date.now,
      retentionDays: opts.retentionDays,
      logger: opts.logger ?? silentVaultLogger,
    }),
  ).finally(() => blobs.close());
}
