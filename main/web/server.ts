// The headless web UI of `keepsake daemon --ui-port`: serves the built renderer (the same bundle
// the desktop window loads) and the contract over HTTP on loopback only.
//   POST /api/invoke/<command>  JSON args -> JSON Envelope (errors as data, always HTTP 200)
//   GET  /api/events            Server-Sent Events: `event: <contract event>` + JSON data
//   GET  /?token=...            exchanges the token for the session cookie, then redirects
//   GET  /metrics               Prometheus text (./metrics.ts), with the same token
//   GET  /media/<sha256>/<thumbnail|preview|original>  an asset's pictures and bytes from
//                               the vault (See [Note: Pictures travel as URLs] in
//                               main/engine/library/media.ts)
// Invariant: every request passes the gate of ./security.ts before anything else happens,
// and every command goes through common/dispatch.ts (the same validation as the IPC bridge).
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  events,
  type EventName,
  type MediaVariant,
  parseMediaPath,
} from '../../common/contract.js';
import { dispatchCommand, invalidArgument } from '../../common/dispatch.js';
import type { Engine, KeepsakeEngine } from '../engine/api.js';
import type { Logger } from '../engine/ports.js';
import { DaemonMetrics } from './metrics.js';
import {
  checkHostAndOrigin,
  parseCookies,
  secretsEqual,
  sessionCookie,
  sessionCookieName,
  webSecurityHeaders,
} from './security.js';

export interface WebUiOptions {
  /** `media` absent: /media/ answers 404 (a UI without pictures). */
  engine: Pick<Engine, 'api' | 'on'> &
    Partial<Pick<Engine, 'media'> & Pick<KeepsakeEngine, 'bytesUploaded'>>;
  /** Only loopback is ever served; anything else is refused. */
  host?: '127.0.0.1';
  /** 0 = an ephemeral port. */
  port: number;
  /** Fixed token (`--ui-token`); a random one when absent. */
  token?: string;
  logger: Logger;
  /** The built renderer (index.html + assets); defaults to dist/renderer. */
  rendererDir?: string;
  /**
   * Serve the contract only (no pages): the control API a host offers to one-off commands
   * when no web UI was asked for (see [Note: Commands beside a running Keepsake]).
   */
  apiOnly?: boolean;
}

export interface WebUi {
  /** http://127.0.0.1:PORT/?token=... : what a person opens. */
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

const maxBodyBytes = 1 << 20;
const heartbeatMs = 15_000;

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** dist/renderer, whether this module runs from source (main/web/) or built (dist/main/web/). */
export function defaultRendererDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = resolve(here, '../..');
  return basename(up) === 'dist' ? join(up, 'renderer') : join(up, 'dist', 'renderer');
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, { ...webSecurityHeaders, 'Content-Type': type });
  res.end(body);
}

/** decodeURIComponent, or null for malformed percent-encoding (bad input: a 400, not a 500). */
function decodePath(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value), 'application/json; charset=utf-8');
}

async function readJsonBody(
  req: IncomingMessage,
): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) return { ok: false, message: 'The request body is too large.' };
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, message: 'The request body is not valid JSON.' };
  }
}

export async function startWebUi(options: WebUiOptions): Promise<WebUi> {
  const { engine, logger } = options;
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') throw new Error('the web UI listens on 127.0.0.1 only');
  const token = options.token ?? randomBytes(24).toString('base64url');
  const sessionSecret = randomBytes(32).toString('base64url');
  const rendererDir = resolve(options.rendererDir ?? defaultRendererDir());
  let port = options.port;
  const log = logger.child({ component: 'web-ui' });
  const metrics = new DaemonMetrics();

  const isAuthenticated = (req: IncomingMessage): boolean => {
    const cookie = parseCookies(req.headers.cookie).get(sessionCookieName(port));
    if (cookie !== undefined && secretsEqual(cookie, sessionSecret)) return true;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return secretsEqual(auth.slice(7).trim(), token);
    return false;
  };

  const handleInvoke = async (req: IncomingMessage, res: ServerResponse, name: string) => {
    if (req.method !== 'POST') return send(res, 405, 'Use POST.');
    const type = req.headers['content-type'] ?? '';
    if (!type.toLowerCase().startsWith('application/json')) {
      return sendJson(res, 415, {
        ok: false,
        error: invalidArgument('Commands are sent as application/json.'),
      });
    }
    const body = await readJsonBody(req);
    if (!body.ok) return sendJson(res, 400, { ok: false, error: invalidArgument(body.message) });
    const envelope = await dispatchCommand(engine.api, name, body.value, (command, problem) =>
      log.error('engine result breaks the contract', { command, problem }),
    );
    sendJson(res, 200, envelope);
  };

  const handleEvents = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      ...webSecurityHeaders,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
    });
    res.write(': connected\n\n');
    const unsubscribers: (() => void)[] = [];
    for (const name of Object.keys(events) as EventName[]) {
      unsubscribers.push(
        engine.on(name, (payload) => {
          // Progress is a stream of snapshots: drop one rather than queue behind a slow reader.
          if (name === 'upload.progress' && res.writableNeedDrain) return;
          const checked = events[name].safeParse(payload);
          if (!checked.success) {
            log.error('engine event breaks the contract', { event: name });
            return;
          }
          res.write(`event: ${name}\ndata: ${JSON.stringify(checked.data)}\n\n`);
        }),
      );
    }
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs);
    heartbeat.unref();
    const stop = () => {
      clearInterval(heartbeat);
      for (const unsubscribe of unsubscribers.splice(0)) unsubscribe();
    };
    req.on('close', stop);
    res.on('error', stop);
  };

  const handleMedia = async (
    req: IncomingMessage,
    res: ServerResponse,
    media: { sha256: string; variant: MediaVariant },
  ) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Use GET.');
    if (engine.media === undefined) return send(res, 404, 'Not found.');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const inm = req.headers['if-none-match'];
    const range = req.headers.range;
    const answer = await engine.media.fetch(media.sha256, media.variant, {
      ...(inm !== undefined ? { ifNoneMatch: inm } : {}),
      ...(range !== undefined ? { range } : {}),
      signal: abort.signal,
    });
    // The security headers (nosniff, CORP same-origin) with the picture's own caching.
    res.writeHead(answer.status, {
      ...webSecurityHeaders,
      'Cache-Control': 'no-store',
      ...answer.headers,
    });
    const body = answer.body;
    if (body === null || req.method === 'HEAD') {
      if (body !== null && !Buffer.isBuffer(body)) body.destroy();
      return void res.end();
    }
    if (Buffer.isBuffer(body)) return void res.end(body);
    body.on('error', () => res.destroy());
    res.on('close', () => body.destroy());
    body.pipe(res);
  };

  const serveStatic = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method not allowed.');
    const decoded = decodePath(pathname);
    if (decoded === null) return send(res, 400, 'Malformed percent-encoding in the path.');
    const rel = pathname === '/' ? 'index.html' : decoded.replace(/^\/+/, '');
    const file = normalize(join(rendererDir, rel));
    if (file !== rendererDir && !file.startsWith(rendererDir + sep)) {
      return send(res, 404, 'Not found.');
    }
    let info;
    try {
      info = await stat(file);
    } catch {
      if (rel === 'index.html') {
        return send(
          res,
          503,
          `The UI is not built (no ${file}): run \`npm run build\`, then restart the daemon.`,
        );
      }
      return send(res, 404, 'Not found.');
    }
    if (!info.isFile()) return send(res, 404, 'Not found.');
    res.writeHead(200, {
      ...webSecurityHeaders,
      'Content-Type': contentTypes[extname(file)] ?? 'application/octet-stream',
      'Content-Length': String(info.size),
      // Hashed asset names never change content; index.html must always be fresh.
      'Cache-Control': rel.startsWith('assets/')
        ? 'private, max-age=31536000, immutable'
        : 'no-store',
    });
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const gate = checkHostAndOrigin(port, {
      host: req.headers.host,
      origin: req.headers.origin,
      secFetchSite: req.headers['sec-fetch-site'],
    });
    if (!gate.ok) {
      log.warn('request refused', { status: gate.status, path: req.url?.split('?')[0] });
      return send(res, gate.status, gate.reason);
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!secretsEqual(given, token)) return send(res, 401, 'This token is not valid.');
      url.searchParams.delete('token');
      res.writeHead(303, {
        ...webSecurityHeaders,
        'Set-Cookie': sessionCookie(port, sessionSecret),
        Location: url.pathname + url.search,
      });
      return void res.end();
    }
    if (!isAuthenticated(req)) {
      return send(
        res,
        401,
        'Keepsake needs its token: open the address `keepsake daemon` printed (…/?token=…).',
      );
    }
    if (url.pathname.startsWith('/api/invoke/')) {
      const name = decodePath(url.pathname.slice('/api/invoke/'.length));
      if (name === null) return send(res, 400, 'Malformed percent-encoding in the path.');
      return handleInvoke(req, res, name);
    }
    if (url.pathname === '/api/events') {
      if (req.method !== 'GET') return send(res, 405, 'Use GET.');
      return handleEvents(req, res);
    }
    if (url.pathname === '/metrics' && !options.apiOnly) {
      if (req.method !== 'GET') return send(res, 405, 'Use GET.');
      const text = metrics.render(
        await engine.api['status.get']({}),
        engine.bytesUploaded?.() ?? null,
      );
      res.writeHead(200, {
        ...webSecurityHeaders,
        'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      return void res.end(text);
    }
    if (url.pathname.startsWith('/api/') || options.apiOnly) return send(res, 404, 'Not found.');
    if (url.pathname.startsWith('/media/')) {
      const media = parseMediaPath(url.pathname);
      if (media === null) return send(res, 404, 'Not found.');
      return handleMedia(req, res, media);
    }
    return serveStatic(req, res, url.pathname);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error('request failed', { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) send(res, 500, 'Internal error.');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  port = (server.address() as AddressInfo).port;
  if (!options.apiOnly && !existsSync(join(rendererDir, 'index.html'))) {
    log.warn('the renderer is not built; the web UI will say so', { rendererDir });
  }
  log.info(options.apiOnly ? 'control API listening' : 'web UI listening', { port });

  return {
    url: `http://127.0.0.1:${port}/?token=${encodeURIComponent(token)}`,
    token,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}
