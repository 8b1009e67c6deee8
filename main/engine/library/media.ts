// An asset's pictures and bytes for the UI, fetched from the vault with the engine's token:
// what the transports serve at media/<sha256>/<thumbnail|preview|original|video|jpeg|mp4>
// (common/contract.ts mediaPath). The daemon's web UI answers it behind its session cookie (main/web/server.ts),
// the desktop app on its own app:// scheme (main/app/main.ts); the renderer never talks to
// the vault and never sees its token.
//
// Invariant: what reaches the page is either a picture the vault made (an image/* type) or
// the original as an attachment of type application/octet-stream, never the vault's content
// inline: an uploaded .html or .svg must not run as a page of our origin. The one inline
// exception is the `video` variant (the vault's /video: a video's content, or the MP4 inside an
// Android motion photo): served only when the vault answers it as video/*, with exactly that
// type and nosniff, so a browser can only play it; anything else under `video` is a 404 with a
// reason.
//
// [Note: Pictures travel as URLs]
// A Library grid shows hundreds of thumbnails at once and a person scrolls through thousands.
// Bytes through the contract (base64 in a JSON envelope, or an IPC buffer) would cost a third
// more bytes, a copy per hop, a main-thread decode of a data: URL per tile, and no cache: every
// scroll back would fetch again. As URLs, the browser does what it is built for: parallel
// fetches on keep-alive connections, decoding off the main thread (`decoding="async"`),
// and an HTTP cache that keeps each picture for good
// (the vault's ETag names content and renderer version, so `immutable` is true). The grid
// mounts only the tiles on screen, so only those are fetched. Auth stays
// as it is: the daemon's pages already carry the HttpOnly SameSite=Strict cookie (same-origin
// <img> requests send it, other sites cannot), and the desktop app's scheme answers only its
// own renderer. The engine proxies with its own token, so the token stays in the engine.
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { MediaVariant } from '../../../common/contract.js';
import type { HttpClient } from '../vault/http-client.js';

export interface MediaAnswer {
  status: number;
  headers: Record<string, string>;
  /** the body to send (a stream: the caller destroys it on a client abort); null: none */
  body: Readable | Buffer | null;
}

export interface MediaSource {
  fetch(
    sha256: string,
    variant: MediaVariant,
    /** range: the page's Range header, passed to the vault (only for `video`: seeking) */
    options: { ifNoneMatch?: string; range?: string; signal?: AbortSignal },
  ): Promise<MediaAnswer>;
}

const VAULT_PATH: Record<MediaVariant, string> = {
  thumbnail: 'thumbnail',
  preview: 'preview',
  original: 'content',
  // a video's content, or the MP4 inside an Android motion photo (the vault finds it)
  video: 'video',
  // "Most compatible": the vault's converted copy (server/asset-convert.ts), an attachment
  jpeg: 'content?format=jpeg',
  mp4: 'content?format=mp4',
};
/** Variants answered as an attachment, never inline (See the invariant above). */
const ATTACHMENTS = new Set<MediaVariant>(['original', 'jpeg', 'mp4']);

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function text(status: number, message: string): MediaAnswer {
  return {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
    body: Buffer.from(message),
  };
}

/** What to answer when there is no vault (the UI shows its placeholder). */
export const noVaultMedia: MediaSource = {
  fetch: () => Promise.resolve(text(503, 'No vault is configured.')),
};

export function createMediaSource(source: {
  http: HttpClient;
  /** vault base URL, no trailing slash */
  endpoint: string;
  token: string;
}): MediaSource {
  return {
    async fetch(sha256, variant, options) {
      const url = new URL(`${source.endpoint}/api/v1/assets/${sha256}/${VAULT_PATH[variant]}`);
      const headers: Record<string, string> = { authorization: `Bearer ${source.token}` };
      if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
      if (variant === 'video' && options.range !== undefined) headers.range = options.range;
      const req = source.http.request(url, {
        method: 'GET',
        headers,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      let res: IncomingMessage;
      try {
        res = await new Promise<IncomingMessage>((resolve, reject) => {
          req.once('response', resolve);
          req.once('error', reject);
          req.end();
        });
      } catch {
        req.destroy();
        return text(502, 'The vault cannot be reached.');
      }
      const status = res.statusCode ?? 502;
      const pass = (names: string[]): Record<string, string> => {
        const out: Record<string, string> = {};
        for (const n of names) {
          const v = header(res, n.toLowerCase());
          if (v !== undefined) out[n] = v;
        }
        return out;
      };
      if (status === 304) {
        res.resume();
        return { status, headers: pass(['ETag', 'Cache-Control']), body: null };
      }
      if (variant === 'video' && (status === 200 || status === 206)) {
        const type = header(res, 'content-type') ?? '';
        if (!/^video\/[\w.+-]+$/.test(type)) {
          res.destroy(); // never read a non-video's bytes just to drop them
          return text(404, `Not a video: the vault records ${type || 'no type'} for this asset.`);
        }
        return {
          status,
          headers: {
            ...pass(['Content-Length', 'Content-Range', 'Accept-Ranges', 'ETag']),
            // The vault's record, exactly; inline so <video> plays it; nosniff is set by both
            // transports, so the browser never reads it as anything but this video type.
            'Content-Type': type,
            'Content-Disposition': 'inline',
            'X-Content-Type-Options': 'nosniff',
            'Cache-Control': 'no-store',
          },
          body: res,
        };
      }
      if (status === 200 && !ATTACHMENTS.has(variant)) {
        if (!(header(res, 'content-type') ?? '').startsWith('image/')) {
          res.resume();
          return text(502, 'The vault answered something that is not a picture.');
        }
        return {
          status,
          headers: pass(['Content-Type', 'Content-Length', 'ETag', 'Cache-Control']),
          body: res,
        };
      }
      if (status === 200) {
        return {
          status,
          headers: {
            ...pass(['Content-Length', 'Content-Disposition']),
            // See the invariant above: never the vault's type, never inline.
            'Content-Type': 'application/octet-stream',
            'Content-Disposition':
              header(res, 'content-disposition') ?? `attachment; filename="${sha256}"`,
            'Cache-Control': 'no-store',
          },
          body: res,
        };
      }
      // 404 preview_pending / no_preview / not_found, 401, 5xx: the vault's JSON error body
      // (small) passes through, so the page can tell "not made yet" from "none".
      const isJson = (header(res, 'content-type') ?? '').startsWith('application/json');
      return {
        status: status >= 500 ? 502 : status,
        headers: {
          'Content-Type': isJson ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
          'Cache-Control': 'no-store',
          ...pass(['Retry-After', 'Content-Length']),
        },
        body: res,
      };
    },
  };
}
