// /api/v1/albums (issue 12): albums an import rebuilt, by name, with their members in order.
// POST is idempotent by (source, key) (See the invariant of index/album-store.ts), so a
// re-run import finds its albums instead of doubling them.
// Invariant: a request is validated whole before anything is stored; members are contents
// the vault holds (others are answered as notHeld, never stored); nothing here deletes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AlbumJson,
  type AlbumSummary,
  createAlbumRequestSchema,
  type CreateAlbumResponse,
  firstIssue,
  MAX_ALBUM_REQUEST_BYTES,
} from '../common/vault-protocol.js';
import { parseJson, readBody, sendJson } from './api.js';
import { VaultHttpError } from './http-error.js';
import type { AlbumRecord } from './index/album-store.js';
import type { VaultIndex } from './index/vault-index.js';

function summary(a: AlbumRecord): AlbumSummary {
  return {
    id: String(a.id),
    name: a.name,
    description: a.description,
    source: a.source,
    key: a.key,
    created: a.createdAt,
    memberCount: a.memberCount,
  };
}

export function createAlbumsApi(deps: { index: VaultIndex; now: () => number }) {
  const { index } = deps;

  async function albumJson(id: number): Promise<AlbumJson> {
    const found = await index.albums.withMembers(id);
    if (!found) throw new VaultHttpError(404, 'not_found', 'the vault holds no album with this id');
    return { ...summary(found.album), members: found.members };
  }

  async function create(req: IncomingMessage, res: ServerResponse) {
    const parsed = createAlbumRequestSchema.safeParse(
      parseJson(await readBody(req, MAX_ALBUM_REQUEST_BYTES)),
    );
    if (!parsed.success) {
      throw new VaultHttpError(
        400,
        'bad_request',
        `invalid album: ${firstIssue(parsed.error).message}`,
      );
    }
    const body = parsed.data;
    // Which members the vault holds is asked in the upsert's transaction (See album-store.ts).
    const { id, created, added, notHeld } = await index.albums.upsert(
      {
        name: body.name,
        description: body.description ?? '',
        source: body.source,
        key: body.key,
      },
      [...new Set(body.members)],
      deps.now(),
    );
    const reply: CreateAlbumResponse = { album: await albumJson(id), created, added, notHeld };
    sendJson(res, created ? 201 : 200, reply);
  }

  /** Routes /api/v1/albums[/:id]; `rest` is the path after "albums". */
  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    rest: readonly string[],
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const methodNotAllowed = (allowed: string): never => {
      throw new VaultHttpError(405, 'method_not_allowed', `this resource answers ${allowed} only`);
    };
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
      if (method === 'GET') {
        return sendJson(res, 200, { albums: (await index.albums.list()).map(summary) });
      }
      if (method === 'POST') return create(req, res);
      return methodNotAllowed('GET, POST');
    }
    const [id] = rest;
    if (rest.length === 1 && id !== undefined) {
      if (method !== 'GET') methodNotAllowed('GET');
      if (!/^\d{1,15}$/.test(id)) {
        throw new VaultHttpError(404, 'not_found', 'the vault holds no album with this id');
      }
      return sendJson(res, 200, await albumJson(Number(id)));
    }
    throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
  }

  return { handle };
}
