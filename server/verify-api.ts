// POST /api/v1/verify: re-hashes the stored bytes of up to 1,000 assets now and answers, per
// hash, `ok`, `damaged` or `missing` (a hash the vault never held, or holds in its trash, is
// `missing` too): the proof behind `keepsake verify` (issue 10 section 3). Reads run a few at a time, so one
// request cannot flood the disk; a client that goes away stops the work.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  MAX_VERIFY_HASHES,
  type VerifyResponse,
  verifyRequestSchema,
} from '../common/vault-protocol.js';
import { parseJson, readBody, sendJson } from './api.js';
import type { AssetHealth, BlobState } from './asset-health.js';
import { VaultHttpError } from './http-error.js';
import type { VaultIndex } from './index/vault-index.js';

const MAX_VERIFY_BODY_BYTES = 128 * 1024;
/** Blobs read at once: enough to overlap reads with hashing on a 2-core machine. */
const VERIFY_CONCURRENCY = 2;

export function createVerifyApi(deps: { index: VaultIndex; health: AssetHealth }) {
  async function verify(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = verifyRequestSchema.safeParse(
      parseJson(await readBody(req, MAX_VERIFY_BODY_BYTES)),
    );
    if (!parsed.success) {
      throw new VaultHttpError(
        400,
        'bad_request',
        `expected {"sha256": [...]} with at most ${MAX_VERIFY_HASHES} sha256 hex strings`,
      );
    }
    const hashes = [...new Set(parsed.data.sha256)];
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.on('close', onClose);
    const results = new Map<string, BlobState>();
    let next = 0;
    const worker = async () => {
      while (next < hashes.length) {
        const sha256 = hashes[next++]!;
        const asset = await deps.index.getAsset(sha256);
        // A content in the trash is not vouched for: See [Note: What the trash answers].
        if (!asset || (await deps.index.trash.trashedAmong([sha256])).has(sha256)) {
          results.set(sha256, 'missing');
          continue;
        }
        const found = await deps.health.check(asset, 'verify', { signal: abort.signal });
        results.set(sha256, found.state);
      }
    };
    try {
      await Promise.all(Array.from({ length: VERIFY_CONCURRENCY }, worker));
    } finally {
      res.off('close', onClose);
    }
    const body: VerifyResponse = {
      results: hashes.map((sha256) => ({ sha256, state: results.get(sha256) ?? 'missing' })),
    };
    sendJson(res, 200, body);
  }

  return { verify };
}
