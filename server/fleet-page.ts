// The vault's read-only fleet page (issue 13 section 2): `/fleet/` serves the renderer's
// second entry (renderer/fleet.html, built beside the desktop UI in dist/renderer) and
// `/fleet/api/devices` the same device list as `GET /api/v1/devices`, for a browser that
// holds the fleet session cookie. Invariant: only the vault's administrator token opens the
// page: a device token, no token or a wrong one is refused, and nothing under /fleet/ changes
// anything. See [Note: The fleet page's cookie].
//
// [Note: The fleet page's cookie]
// As with the daemon's web UI (main/web/security.ts), the token travels in the address once:
// `/fleet/?token=ADMIN` is exchanged for an HttpOnly, SameSite=Strict cookie scoped to
// /fleet/ and answered with a redirect that drops the token from the address bar (and, with
// Referrer-Policy no-referrer, from every later request). The cookie holds a random session
// secret made at this vault's start, never the token itself, so it dies with the process and
// a leaked cookie is no administrator token. Scripts cannot read it (HttpOnly); another site's
// page never sends it (SameSite=Strict), and requests that say they come from another site
// (Origin, Sec-Fetch-Site) are refused as well. With TLS the cookie is also Secure. Device
// tokens are refused by construction: only the admin token is compared. The vault's own
// request log writes paths without their query, so the token is never logged.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FleetSnapshot } from '../common/vault-protocol.js';

export const FLEET_PATH = '/fleet';
const COOKIE_NAME = 'keepsake_fleet';

const fleetCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const securityHeaders: Readonly<Record<string, string>> = {
  'Content-Security-Policy': fleetCsp,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

export interface FleetPageOptions {
  adminToken: string;
  /** the built renderer (fleet.html + assets/); default dist/renderer */
  pageDir?: string;
  /** the vault serves HTTPS: the cookie is marked Secure */
  secure: boolean;
  snapshot: () => Promise<FleetSnapshot>;
}

/** dist/renderer, whether this module runs from source (server/) or built (dist/server/). */
export function defaultFleetPageDir(): string {
  const up = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return basename(up) === 'dist' ? join(up, 'renderer') : join(up, 'dist', 'renderer');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

function cookieOf(header: string | undefined): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE_NAME) return part.slice(eq + 1).trim();
  }
  return null;
}

function send(res: ServerResponse, status: number, body: string, extra = {}): void {
  res.writeHead(status, {
    ...securityHeaders,
    'Content-Type': 'text/plain; charset=utf-8',
    ...extra,
  });
  res.end(body);
}

export function isFleetPath(pathname: string): boolean {
  return pathname === FLEET_PATH || pathname.startsWith(`${FLEET_PATH}/`);
}

export function createFleetPage(options: FleetPageOptions) {
  const pageDir = resolve(options.pageDir ?? defaultFleetPageDir());
  const sessionSecret = randomBytes(32).toString('base64url');
  const cookie = [
    `${COOKIE_NAME}=${sessionSecret}`,
    'HttpOnly',
    'SameSite=Strict',
    `Path=${FLEET_PATH}/`,
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');

  const signedIn = (req: IncomingMessage): boolean => {
    const given = cookieOf(req.headers.cookie);
    return given !== null && sameSecret(given, sessionSecret);
  };

  /** Another site's page (CSRF, reading the list cross-origin) is refused outright. */
  const crossSite = (req: IncomingMessage): boolean => {
    const site = req.headers['sec-fetch-site']?.toLowerCase();
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    try {
      return new URL(origin).host !== req.headers.host;
    } catch {
      return true;
    }
  };

  const serveFile = async (res: ServerResponse, rel: string, head: boolean): Promise<void> => {
    const file = normalize(join(pageDir, rel));
    if (!file.startsWith(pageDir + sep)) return send(res, 404, 'Not found.');
    let info;
    try {
      info = await stat(file);
    } catch {
      if (rel === 'fleet.html') {
        return send(
          res,
          503,
          `The fleet page is not built (no ${file}): run \`npm run build\`, then restart the vault.`,
        );
      }
      return send(res, 404, 'Not found.');
    }
    if (!info.isFile()) return send(res, 404, 'Not found.');
    res.writeHead(200, {
      ...securityHeaders,
      'Content-Type': contentTypes[extname(file)] ?? 'application/octet-stream',
      'Content-Length': String(info.size),
      // Hashed asset names never change content; the page itself is always fresh.
      'Cache-Control': rel.startsWith('assets/')
        ? 'private, max-age=31536000, immutable'
        : 'no-store',
    });
    if (head) return void res.end();
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };

  return {
    /** Answers one request whose path is /fleet or below it. */
    async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        return send(res, 405, 'The fleet page is read-only: use GET.', { Allow: 'GET, HEAD' });
      }
      if (crossSite(req)) return send(res, 403, 'Requests from other sites are refused.');
      const given = url.searchParams.get('token');
      if (given !== null) {
        if (!sameSecret(given, options.adminToken)) {
          return send(
            res,
            401,
            "This is not the vault's administrator token. The fleet page opens with the token " +
              'the vault printed on its first start (DATA_DIR/token); device tokens cannot open it.',
          );
        }
        res.writeHead(303, {
          ...securityHeaders,
          'Set-Cookie': cookie,
          Location: `${FLEET_PATH}/`,
        });
        return void res.end();
      }
      if (url.pathname === FLEET_PATH) {
        res.writeHead(308, { ...securityHeaders, Location: `${FLEET_PATH}/` });
        return void res.end();
      }
      if (!signedIn(req)) {
        return send(
          res,
          401,
          'The fleet page needs the vault administrator token: open /fleet/?token=ADMIN_TOKEN ' +
            '(the token the vault printed on its first start, also in DATA_DIR/token).',
        );
      }
      const rel = url.pathname.slice(FLEET_PATH.length + 1);
      if (rel === 'api/devices') {
        const body = JSON.stringify(await options.snapshot());
        res.writeHead(200, {
          ...securityHeaders,
          'Content-Type': 'application/json; charset=utf-8',
          'Content-Length': Buffer.byteLength(body),
        });
        return void res.end(method === 'HEAD' ? undefined : body);
      }
      if (rel === '' || rel === 'index.html')
        return serveFile(res, 'fleet.html', method === 'HEAD');
      if (rel === 'favicon.svg' || /^assets\/[\w.-]+$/.test(rel)) {
        return serveFile(res, rel, method === 'HEAD');
      }
      return send(res, 404, 'Not found.');
    },
  };
}
