// GET/HEAD /api/v1/assets/:sha256/thumbnail and /preview (the pictures) and GET
// /api/v1/assets/:sha256/previews (what became of them). The answers are described in
// common/vault-protocol.ts beside PREVIEW_PENDING_CODE.
// Invariant: a picture is answered only from a 'made' row, whose files are complete on disk
// (See [Note: Preview work is the index] in previews.ts); anything else is a 404 that says why.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import {
  NO_PREVIEW_CODE,
  PREVIEW_PENDING_CODE,
  type PreviewStatus,
  type PreviewVariant,
} from '../common/vault-protocol.js';
import { VaultHttpError } from './http-error.js';
import type { VaultIndex } from './index/vault-index.js';
import { PREVIEW_CONTENT_TYPE, PREVIEW_RENDER_VERSION } from './preview-render.js';
import type { PreviewFiles } from './previews.js';

/** Seconds a client waits before it asks again for a picture not made yet. */
const RETRY_AFTER_SECONDS = 2;

export interface PreviewsApiDeps {
  index: VaultIndex;
  files: PreviewFiles;
  /** false when this vault makes no previews (they stay pending) */
  making: boolean;
}

export function createPreviewsApi(deps: PreviewsApiDeps) {
  const { index, files } = deps;

  async function status(sha256: string): Promise<PreviewStatus> {
    const record = await index.previews.get(sha256);
    if (record === undefined) return { state: 'pending' };
    return record.state === 'made'
      ? { state: 'made', source: record.source, madeAt: record.madeAt }
      : { state: 'none', reason: record.reason, madeAt: record.madeAt };
  }

  async function picture(
    sha256: string,
    variant: PreviewVariant,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const s = await status(sha256);
    if (s.state === 'pending') {
      if (!deps.making) {
        throw new VaultHttpError(
          404,
          PREVIEW_PENDING_CODE,
          'no preview yet, and this vault is not making previews (they are turned off)',
        );
      }
      res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      throw new VaultHttpError(
        404,
        PREVIEW_PENDING_CODE,
        `the ${variant} is not made yet; the vault makes it in the background`,
      );
    }
    if (s.state === 'none') throw new VaultHttpError(404, NO_PREVIEW_CODE, s.reason);
    const path = files.pathOf(sha256, variant === 'thumbnail' ? 'thumb' : 'preview');
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      // Deleted by hand behind the index's back: a rebuild makes it again.
      throw new VaultHttpError(
        404,
        NO_PREVIEW_CODE,
        `the ${variant} file is gone from the vault's data directory; run keepsake vault previews --rebuild`,
      );
    }
    // Same content, same renderer: same picture. The ETag names both.
    const etag = `"${sha256}-${variant}-v${PREVIEW_RENDER_VERSION}"`;
    const headers = {
      ETag: etag,
      'Cache-Control': 'private, max-age=31536000, immutable',
    };
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': PREVIEW_CONTENT_TYPE,
      'Content-Length': size,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(createReadStream(path), res);
  }

  return { status, picture };
}
