// GET /api/v1/library (the timeline the Library page pages through) and
// GET /api/v1/library/folders (what its folder filter offers). The answers are described in
// common/vault-protocol.ts beside libraryPageSchema.
// Invariant: a cursor is only ever one this listing made ("<takenAt>.<id>"); anything else is
// a 400 invalid_cursor, never a page from somewhere else.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type LibraryBadge,
  type LibraryItem,
  type LibraryPage,
  type LibraryProblem,
  libraryTypeSchema,
  type LibraryFolders,
  mediaMetadataSchema,
} from '../common/vault-protocol.js';
import { sendJson } from './api.js';
import { VaultHttpError } from './http-error.js';
import type { LibraryCursor, LibraryFilter, LibraryRecord } from './index/library-store.js';
import type { VaultIndex } from './index/vault-index.js';

const DEFAULT_PAGE = 200;
const MAX_PAGE = 1000;

function parseCursor(raw: string): LibraryCursor {
  const m = /^(-?\d{1,16})\.(\d{1,15})$/.exec(raw);
  if (!m) {
    throw new VaultHttpError(
      400,
      'invalid_cursor',
      'after must be a cursor returned as "next" by this listing',
    );
  }
  return { takenAt: Number(m[1]), id: Number(m[2]) };
}

/**
 * What a group's tile says: LIVE over RAW+JPEG over edited (sidecars earn no badge). An Android
 * motion photo is LIVE on its own: its video is inside the file.
 */
function badgeOf(memberRoles: readonly string[], motionPhoto: boolean): { badge?: LibraryBadge } {
  if (motionPhoto || memberRoles.includes('live-video')) return { badge: 'live' };
  if (memberRoles.includes('rendition') || memberRoles.includes('raw'))
    return { badge: 'raw+jpeg' };
  if (memberRoles.includes('edit')) return { badge: 'edited' };
  return {};
}

export function libraryItem(r: LibraryRecord): LibraryItem {
  // Metadata was validated when stored; a vault whose schema grew since reads what it can.
  const parsed = mediaMetadataSchema.safeParse(r.metadata);
  const m = parsed.success ? parsed.data : null;
  const problems: LibraryProblem[] = [];
  if (r.blobProblem !== null) problems.push(r.blobProblem);
  if (r.metadata === null) problems.push('no_metadata');
  else if (m?.captureTime == null) problems.push('no_capture_time');
  return {
    sha256: r.sha256,
    kind: r.kind,
    mime: r.mime,
    filename: r.filename,
    size: r.size,
    takenAt: r.takenAt,
    captureTime: m?.captureTime ?? null,
    width: m?.width ?? null,
    height: m?.height ?? null,
    durationSec: m?.durationSec ?? null,
    folders: r.folders,
    problems,
    ...(r.group === null ? {} : { group: r.group }),
    ...badgeOf(r.memberRoles, m?.motionPhoto !== undefined),
  };
}

export function createLibraryApi(deps: { index: VaultIndex }) {
  const { index } = deps;

  async function list(url: URL, res: ServerResponse): Promise<void> {
    const q = url.searchParams;
    const filter: LibraryFilter = {};
    const type = q.get('type');
    if (type !== null && type !== '') {
      const parsed = libraryTypeSchema.safeParse(type);
      if (!parsed.success) {
        throw new VaultHttpError(400, 'bad_request', 'type must be photo, video, raw or live');
      }
      filter.type = parsed.data;
    }
    const folder = q.get('folder');
    if (folder !== null && folder !== '') filter.folder = folder;
    const device = q.get('device');
    if (device !== null && device !== '') filter.deviceId = device;
    const problems = q.get('problems');
    if (problems === '1' || problems === 'true') filter.problems = true;
    const limitRaw = q.get('limit');
    let limit = DEFAULT_PAGE;
    if (limitRaw !== null && limitRaw !== '') {
      if (!/^\d{1,4}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > MAX_PAGE) {
        throw new VaultHttpError(400, 'bad_request', `limit must be 1 to ${MAX_PAGE}`);
      }
      limit = Number(limitRaw);
    }
    const after = q.get('after');
    const cursor = after !== null && after !== '' ? parseCursor(after) : null;
    // One row more than asked tells whether another page exists (`next` null at the end).
    const rows = await index.library.page(filter, cursor, limit + 1);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    const body: LibraryPage = {
      items: page.map(libraryItem),
      next: more && last !== undefined ? `${last.takenAt}.${last.id}` : null,
      ...(cursor === null ? { total: await index.library.count(filter) } : {}),
    };
    sendJson(res, 200, body);
  }

  /** Routes /api/v1/library[/folders]; `rest` is the path after "library". */
  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    rest: readonly string[],
  ): Promise<void> {
    if (req.method !== 'GET') {
      throw new VaultHttpError(405, 'method_not_allowed', 'this resource answers GET only');
    }
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return list(url, res);
    if (rest.length === 1 && rest[0] === 'folders') {
      const folders = await index.library.folders();
      sendJson(res, 200, { folders } satisfies LibraryFolders);
      return;
    }
    throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
  }

  return { handle };
}
