// A small in-memory tus 1.0 server on loopback whose answers a test can override request by
// request: the way to make a server answer 423, 429 with Retry-After, a short 204, or drop
// a connection at a chosen moment, which neither the vault nor @tus/server can be made to.
// Like the vault, it checks the declared sha256 when the last byte arrives (460 otherwise),
// declared in Upload-Metadata or, for an upload created with `Keepsake-Deferred-Hash: 1`, in
// the final PATCH's `Keepsake-Sha256` (BATCH-PROTOCOL.md §2; 400 when that header is missing).
import { createHash } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';

export interface ScriptedUpload {
  id: string;
  length: number;
  metadata: Record<string, string>;
  chunks: Buffer[];
  offset: number;
  sha256: string | null;
  deferred: boolean;
}

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** bytes of body received (for PATCH/POST) */
  bodyBytes: number;
  at: number;
}

/**
 * Returns a reply to send instead of the normal one, 'destroy' to reset the connection
 * (after reading the body), 'hang' to never answer, or undefined for the normal tus answer.
 * `storeBytes` (PATCH only) stores just that many of the received bytes.
 */
export type Override =
  | { status: number; headers?: Record<string, string>; body?: string; storeBytes?: number }
  | 'destroy'
  | 'hang'
  | undefined;

export interface ScriptedTusServer {
  url: string;
  port: number;
  uploads: Map<string, ScriptedUpload>;
  requests: SeenRequest[];
  /** Called for every request, after its body has been read. */
  script: (req: SeenRequest, upload: ScriptedUpload | undefined) => Override;
  close(): Promise<void>;
}

function parseMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (header ?? '').split(',')) {
    const [key, value] = pair.trim().split(' ');
    if (key) out[key] = Buffer.from(value ?? '', 'base64').toString('utf8');
  }
  return out;
}

export async function startScriptedTusServer(): Promise<ScriptedTusServer> {
  const uploads = new Map<string, ScriptedUpload>();
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let nextId = 1;
  const self: ScriptedTusServer = {
    url: '',
    port: 0,
    uploads,
    requests,
    script: () => undefined,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const finish = (upload: ScriptedUpload, declared: string | undefined): boolean => {
    const sha = createHash('sha256');
    for (const c of upload.chunks) sha.update(c);
    upload.sha256 = sha.digest('hex');
    const expected = upload.deferred ? declared : upload.metadata.sha256;
    // Nothing declared on a plain upload: nothing to check (a plain tus server).
    return expected === undefined ? !upload.deferred : upload.sha256 === expected;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const path = req.url ?? '/';
    const seen: SeenRequest = {
      method: req.method ?? '',
      path,
      headers: req.headers,
      bodyBytes: body.length,
      at: performance.now(),
    };
    requests.push(seen);
    const id = path.startsWith('/files/') ? path.slice('/files/'.length) : '';
    const upload = uploads.get(id);
    const override = self.script(seen, upload);
    if (override === 'destroy') {
      req.socket.destroy();
      return;
    }
    if (override === 'hang') return;
    const tus = { 'tus-resumable': '1.0.0' };
    if (override && override.storeBytes === undefined) {
      res.writeHead(override.status, { ...tus, ...override.headers });
      res.end(override.body ?? '');
      return;
    }
    const send = (status: number, headers: Record<string, string> = {}, text = '') => {
      res.writeHead(status, { ...tus, ...headers });
      res.end(text);
    };
    switch (req.method ?? '') {
      case 'POST': {
        const length = Number(req.headers['upload-length']);
        const created: ScriptedUpload = {
          id: String(nextId++),
          length,
          metadata: parseMetadata(req.headers['upload-metadata'] as string | undefined),
          chunks: [],
          offset: 0,
          sha256: null,
          deferred: req.headers['keepsake-deferred-hash'] === '1',
        };
        uploads.set(created.id, created);
        const headers: Record<string, string> = { location: `/files/${created.id}` };
        if (body.length > 0) {
          created.chunks.push(body);
          created.offset = body.length;
          headers['upload-offset'] = String(created.offset);
        }
        if (created.offset === created.length && !finish(created, undefined)) {
          uploads.delete(created.id);
          send(460, {}, '{"error":"checksum_mismatch"}');
          return;
        }
        send(201, headers);
        return;
      }
      case 'HEAD':
        if (!upload) return send(404);
        return send(200, {
          'upload-offset': String(upload.offset),
          'upload-length': String(upload.length),
          'cache-control': 'no-store',
        });
      case 'PATCH': {
        if (!upload) return send(404);
        if (Number(req.headers['upload-offset']) !== upload.offset) return send(409);
        const declared = req.headers['keepsake-sha256'] as string | undefined;
        const last = upload.offset + body.length === upload.length;
        if (upload.deferred && last && declared === undefined) {
          return send(400, {}, '{"error":"missing Keepsake-Sha256"}');
        }
        const stored =
          override?.storeBytes !== undefined ? body.subarray(0, override.storeBytes) : body;
        upload.chunks.push(stored);
        upload.offset += stored.length;
        if (upload.offset === upload.length && !finish(upload, declared)) {
          uploads.delete(upload.id);
          return send(460, {}, '{"error":"checksum_mismatch"}');
        }
        return send(204, { 'upload-offset': String(upload.offset) });
      }
      case 'DELETE':
        if (!upload) return send(404);
        uploads.delete(upload.id);
        return send(204);
      default:
        return send(405);
    }
  };

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(parts)));
    req.on('error', () => {});
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  self.port = addr.port;
  self.url = `http://127.0.0.1:${addr.port}`;
  return self;
}

/** The bytes an upload holds. */
export function contentOf(upload: ScriptedUpload | undefined): Buffer {
  return Buffer.concat(upload?.chunks ?? []);
}
