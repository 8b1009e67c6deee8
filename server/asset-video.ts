// GET/HEAD /api/v1/assets/:sha256/video: an asset's video for a player (the Library's <video>),
// with Range for seeking. A video is its own content (served as verified-content.ts serves
// it); an Android motion photo's video is the MP4 appended to its still, served from where the
// still's XMP places it (MediaMetadata.motionPhoto, read by the engine).
// Invariant: what is served as a motion photo's video begins with an MP4 `ftyp` box where the
// XMP says and ends inside the file; when the XMP says otherwise the answer is a 404 no_video
// with the reason, never the still's bytes or anything past the file.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mediaMetadataSchema, NO_VIDEO_CODE } from '../common/vault-protocol.js';
import { parseRange } from './api.js';
import { BlobDamagedError, type BlobContent } from './blob-store.js';
import { VaultHttpError } from './http-error.js';
import type { AssetRecord } from './index/vault-index.js';
import {
  problemError,
  sendRange,
  serveVerifiedContent,
  type VerifiedContentDeps,
} from './verified-content.js';

function noVideo(message: string): VaultHttpError {
  return new VaultHttpError(404, NO_VIDEO_CODE, message);
}

/**
 * The embedded video's MIME type when an ISO base media file (MP4, QuickTime) begins at
 * `start`: its first box is `ftyp`, whose major brand says which. Null when none begins there.
 */
async function videoTypeAt(fh: BlobContent, start: number, size: number): Promise<string | null> {
  if (size - start < 12) return null;
  const head = Buffer.alloc(12);
  const { bytesRead } = await fh.read(head, 0, 12, start);
  if (bytesRead < 12 || head.toString('latin1', 4, 8) !== 'ftyp') return null;
  const boxSize = head.readUInt32BE(0);
  // 1: a 64-bit size follows; otherwise at least the header and the brand, inside the file
  if (boxSize !== 1 && (boxSize < 12 || boxSize > size - start)) return null;
  return head.toString('latin1', 8, 12) === 'qt  ' ? 'video/quicktime' : 'video/mp4';
}

export async function serveAssetVideo(
  deps: VerifiedContentDeps,
  asset: AssetRecord,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (asset.mime?.startsWith('video/') === true || asset.kind === 'video') {
    return serveVerifiedContent(deps, asset, req, res);
  }
  const parsed = mediaMetadataSchema.safeParse(asset.metadata);
  const motion = parsed.success ? parsed.data.motionPhoto : undefined;
  if (motion === undefined) {
    throw noVideo('this asset is a photo with no video in it');
  }
  if (motion.videoFromEnd === null) {
    throw noVideo("this motion photo's XMP does not say where its video begins");
  }
  const known = await deps.index.health.problem(asset.sha256);
  if (known !== undefined) throw problemError(known);
  // The one way to read a blob, plain or compressed (See [Note: One way to read a blob]).
  let fh: BlobContent | null;
  try {
    fh = await deps.blobs.openContent(asset.sha256);
  } catch (err) {
    if (!(err instanceof BlobDamagedError)) throw err;
    await deps.health.found(asset.sha256, 'damaged', 'read');
    throw problemError('damaged');
  }
  if (fh === null) {
    await deps.health.found(asset.sha256, 'missing', 'read');
    throw problemError('missing');
  }
  try {
    const size = fh.size;
    if (size !== asset.size) {
      await deps.health.found(asset.sha256, 'damaged', 'read');
      throw problemError('damaged');
    }
    const start = size - motion.videoFromEnd;
    const length = motion.videoBytes ?? motion.videoFromEnd;
    if (start <= 0 || length > motion.videoFromEnd) {
      throw noVideo(
        `this motion photo's XMP places its video ${motion.videoFromEnd} bytes before the end of a ${size}-byte file, which cannot be`,
      );
    }
    const type = await videoTypeAt(fh, start, size);
    if (type === null) {
      throw noVideo(
        `this motion photo's XMP says its video begins ${motion.videoFromEnd} bytes before the end of the file, but no MP4 begins there`,
      );
    }
    const range = parseRange(req.headers.range, length);
    const headers: Record<string, string | number> = {
      'Content-Type': type,
      'Accept-Ranges': 'bytes',
      ETag: `"${asset.sha256}-video"`,
      'Cache-Control': 'private, max-age=31536000, immutable',
      'Content-Disposition': 'inline',
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, {
        ...headers,
        'Content-Range': `bytes */${length}`,
        'Content-Type': 'application/json; charset=utf-8',
      });
      res.end(
        new VaultHttpError(416, 'range_not_satisfiable', `the video is ${length} bytes`).body(),
      );
      return;
    }
    const from = range?.start ?? 0;
    const to = range?.end ?? length - 1;
    if (range) headers['Content-Range'] = `bytes ${from}-${to}/${length}`;
    headers['Content-Length'] = to - from + 1;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    try {
      // Part of the file cannot be proven by the whole file's hash: as for a Range read of the
      // content, the blob's size was checked (See [Note: A verified read never ends cleanly
      // with wrong bytes] in verified-content.ts).
      await sendRange(fh, res, start + from, to - from + 1, null);
    } catch (err) {
      res.destroy(); // a read error or a client gone: never a clean end
      if (err instanceof BlobDamagedError) await deps.health.found(asset.sha256, 'damaged', 'read');
      return;
    }
    res.end();
  } finally {
    await fh.close();
  }
}
