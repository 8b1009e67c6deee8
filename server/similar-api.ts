// GET /api/v1/similar?after=&limit=: the "Similar photos" review's groups (issue 15
// section 1), built from each photo's measure (index/similarity-store.ts) by the pure policy
// in similar-policy.ts. The answer is described in common/vault-protocol.ts beside
// similarPageSchema.
// Invariant: a cursor is a group id this listing made; groups come in id order (the smallest
// member's assets.id), so paging never repeats a group, whatever is measured meanwhile.
//
// The grouping compares every pair of photos (See groupSimilar), so its result is kept until
// the index says something that could regroup changed (SimilarityStore.signature). Measured on
// a shared 2-core machine: 5,000 photos group in 0.24 s, 20,000 in 4.5 s (quadratic), so a
// library far beyond that wants an index over the hashes (multi-index hashing) here.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  mediaMetadataSchema,
  type SimilarGroup,
  type SimilarPage,
} from '../common/vault-protocol.js';
import { sendJson } from './api.js';
import { VaultHttpError } from './http-error.js';
import type { SimilarityCandidate } from './index/similarity-store.js';
import type { VaultIndex } from './index/vault-index.js';
import {
  groupSimilar,
  looksLikeEdit,
  type SimilarGroupResult,
  type SimilarPhoto,
} from './similar-policy.js';

const DEFAULT_PAGE = 20;
const MAX_PAGE = 200;

type ListedPhoto = SimilarPhoto & { captureTime: string | null; filename: string };

function photoOf(
  c: SimilarityCandidate,
): SimilarPhoto & { captureTime: string | null; filename: string } {
  // Metadata was validated when stored; a vault whose schema grew since reads what it can.
  const parsed = mediaMetadataSchema.safeParse(c.metadata);
  const m = parsed.success ? parsed.data : null;
  const captureTime = m?.captureTime ?? null;
  const make = m?.camera?.make?.trim() ?? '';
  const model = m?.camera?.model?.trim() ?? '';
  return {
    id: c.id,
    sha256: c.sha256,
    bytes: c.size,
    phash: c.phash,
    sharpness: c.sharpness,
    width: c.width ?? m?.width ?? null,
    height: c.height ?? m?.height ?? null,
    capturedAt: captureTime === null ? null : Date.parse(captureTime),
    camera: make === '' && model === '' ? null : `${make} ${model}`.trim(),
    assetGroup: c.group?.id ?? null,
    isEdit: c.group?.role === 'edit' || looksLikeEdit(c.filename),
    favorite: m?.favorite === true,
    rating: m?.rating ?? 0,
    captureTime,
    filename: c.filename,
  };
}

export function createSimilarApi(deps: { index: VaultIndex }) {
  // The grouping of one signature, shared by the requests that arrive while it is computed.
  let cached: { signature: string; groups: Promise<SimilarGroupResult<ListedPhoto>[]> } | undefined;

  /**
   * Every group now (recomputed only when the index changed since). The signature is read
   * before the candidates: a change between the two reads is seen by the next call.
   */
  async function allGroups(): Promise<SimilarGroupResult<ListedPhoto>[]> {
    const signature = await deps.index.similarity.signature();
    if (cached?.signature !== signature) {
      const groups = deps.index.similarity
        .candidates()
        .then((candidates) => groupSimilar(candidates.map(photoOf)));
      cached = { signature, groups };
      // A failed read is not kept: the next request tries again.
      groups.catch(() => {
        if (cached?.groups === groups) cached = undefined;
      });
    }
    return cached.groups;
  }

  function groupJson(g: SimilarGroupResult<ListedPhoto>): SimilarGroup {
    return {
      id: String(g.id),
      kind: g.kind,
      members: g.members.map((p) => ({
        sha256: p.sha256,
        width: p.width,
        height: p.height,
        bytes: p.bytes,
        capturedAt: p.captureTime,
        filename: p.filename,
      })),
      suggestedKeep: g.suggestedKeep.sha256,
      reclaimableBytes: g.reclaimableBytes,
    };
  }

  async function list(url: URL, res: ServerResponse): Promise<void> {
    const q = url.searchParams;
    let limit = DEFAULT_PAGE;
    const limitRaw = q.get('limit');
    if (limitRaw !== null && limitRaw !== '') {
      if (!/^\d{1,4}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > MAX_PAGE) {
        throw new VaultHttpError(400, 'bad_request', `limit must be 1 to ${MAX_PAGE}`);
      }
      limit = Number(limitRaw);
    }
    let after = 0;
    const afterRaw = q.get('after');
    if (afterRaw !== null && afterRaw !== '') {
      if (!/^\d{1,15}$/.test(afterRaw)) {
        throw new VaultHttpError(
          400,
          'invalid_cursor',
          'after must be a cursor returned as "next" by this listing',
        );
      }
      after = Number(afterRaw);
    }
    const groups = await allGroups();
    const rest = groups.filter((g) => g.id > after);
    const page = rest.slice(0, limit);
    const last = page.at(-1);
    const body: SimilarPage = {
      groups: page.map(groupJson),
      next: rest.length > limit && last !== undefined ? String(last.id) : null,
      totalGroups: groups.length,
      totalReclaimableBytes: groups.reduce((s, g) => s + g.reclaimableBytes, 0),
    };
    sendJson(res, 200, body);
  }

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
    throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
  }

  return { handle };
}
