// A round-robin load balancer for tests (issue 14): one loopback HTTP address in front of N
// backends (vault nodes), handing each REQUEST to the next backend in turn, skipping a backend
// that refuses the connection (a node killed with SIGKILL), and recording which backend served
// what, so a test can say "the PATCHes of this upload landed on three different nodes".
//
// Invariants:
// - listens on 127.0.0.1 only; close() destroys every socket it opened, both sides;
// - a request is handed to a backend only once that backend accepted the TCP connection, and
//   its body is read from the client only then: a refused backend has consumed nothing, so
//   the same request goes, whole, to the next one (never to the same backend twice in a row
//   when another is up);
// - once a backend accepted a request, the request is never replayed elsewhere: if that node
//   dies mid-request the client sees what a real load balancer gives it (502 before any answer
//   byte, a reset connection after), and its own retry decides what happens next;
// - a client that goes away mid-request takes the backend request with it (the node sees the
//   abort exactly as if the client were connected to it directly).
//
// See [Note: Spreading requests, not connections].
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, request } from 'node:http';
import type { Socket } from 'node:net';

/* [Note: Spreading requests, not connections]
A tus client (tus-js-client, the engine's uploader, undici's fetch) keeps its connection alive
between requests, so a TCP proxy that picks a backend per connection would send a whole upload
(POST, every PATCH, the HEAD after a retry) to one node, and "any node continues an upload
another began" would never be exercised. This proxy works at the HTTP level instead: it parses
each request on the client's kept-alive connection and forwards it on a NEW connection to the
next backend (no keep-alive towards backends). One connect per request costs nothing on
loopback, and it makes a killed node visible at once as ECONNREFUSED on the next request
instead of a reset on a pooled socket half-way through a body. That is also why the body is
piped only after the backend's connect: a refused request has read no body bytes yet and can
be handed on whole.
*/

export interface Backend {
  host?: string;
  port: number;
}

export interface ServedRequest {
  /** index into the backends list of the node that answered (or failed mid-way) */
  backend: number;
  method: string;
  /** the request target as the client sent it, e.g. /files/abc */
  path: string;
  /** the backend's status, or null when the backend failed before answering */
  status: number | null;
  /** backends tried before this one that refused the connection */
  refusedBefore: number[];
  /** request body bytes handed to the backend so far */
  bodyBytes: number;
}

export interface RoundRobinProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** every request handed to a backend, in the order they were handed over */
  readonly served: readonly ServedRequest[];
  /** requests no backend accepted (all refused): answered 502 */
  readonly unplaced: number;
  /** how many requests each backend was handed (index = backend) */
  countsByBackend(): number[];
  /**
   * Calls `listener` the moment a request is handed to a backend (its connection accepted,
   * its body not yet forwarded): a test can act on a node while it holds that request, e.g.
   * kill it mid-PATCH. Returns the unsubscribe.
   */
  onHandOver(listener: (request: ServedRequest) => void): () => void;
  /**
   * Calls `listener` each time more of a request's body was handed to its backend
   * (request.bodyBytes says how much in all): a test can kill a node part-way through a body.
   * Returns the unsubscribe.
   */
  onBodyForwarded(listener: (request: ServedRequest) => void): () => void;
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 7.6.1): meaningful for one connection, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);

function forwardableHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
  }
  return out;
}

function forwardableRawHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

export async function startRoundRobinProxy(backends: readonly Backend[]): Promise<RoundRobinProxy> {
  if (backends.length === 0) throw new Error('a round-robin proxy needs at least one backend');
  const served: ServedRequest[] = [];
  let unplaced = 0;
  let next = 0;
  const sockets = new Set<Socket>();
  const listeners = new Set<(request: ServedRequest) => void>();
  const bodyListeners = new Set<(request: ServedRequest) => void>();

  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    const refused: number[] = [];
    let current: ReturnType<typeof request> | undefined;
    const start = next;
    next = (next + 1) % backends.length;
    const attempt = (k: number): void => {
      if (k >= backends.length) {
        unplaced += 1;
        res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
        res.end('no backend accepted the connection\n');
        req.resume();
        return;
      }
      const index = (start + k) % backends.length;
      const backend = backends[index]!;
      let connected = false;
      const upstream = request({
        host: backend.host ?? '127.0.0.1',
        port: backend.port,
        method: req.method,
        path: req.url,
        headers: forwardableHeaders(req.headers),
        agent: false,
      });
      current = upstream;
      let record: ServedRequest | undefined;
      upstream.on('socket', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        socket.once('connect', () => {
          connected = true;
          record = {
            backend: index,
            method: req.method ?? '',
            path: req.url ?? '',
            status: null,
            refusedBefore: refused,
            bodyBytes: 0,
          };
          const handed = record;
          served.push(handed);
          for (const listener of listeners) listener(handed);
          req.pipe(upstream);
          req.on('data', (chunk: Buffer) => {
            handed.bodyBytes += chunk.length;
            for (const listener of bodyListeners) listener(handed);
          });
        });
      });
      upstream.on('response', (answer) => {
        if (record) record.status = answer.statusCode ?? null;
        res.writeHead(
          answer.statusCode ?? 502,
          answer.statusMessage,
          forwardableRawHeaders(answer.rawHeaders),
        );
        answer.pipe(res);
        answer.on('error', () => res.destroy());
        answer.on('aborted', () => res.destroy());
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        if (!connected && err.code === 'ECONNREFUSED') {
          refused.push(index);
          attempt(k + 1);
          return;
        }
        // The node failed after it took the request: what a load balancer answers then.
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
          res.end(`backend ${index} failed: ${err.code ?? err.message}\n`);
          req.resume();
        } else {
          res.destroy();
        }
      });
    };
    // The client went away before its answer was complete: abort towards the node too.
    res.on('close', () => {
      if (res.writableFinished) return;
      req.destroy();
      current?.destroy();
    });
    attempt(0);
  };

  const server = createServer(dispatch);
  // Whatever the client asks with Expect: 100-continue is answered by the node's own
  // behaviour after the body; the proxy says "continue" itself (Node's default).
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // tus PATCH bodies can take long on a busy machine; the vault has its own idle limits.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const port = address.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    served,
    get unplaced() {
      return unplaced;
    },
    countsByBackend() {
      const counts = backends.map(() => 0);
      for (const s of served) counts[s.backend] = (counts[s.backend] ?? 0) + 1;
      return counts;
    },
    onHandOver(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onBodyForwarded(listener) {
      bodyListeners.add(listener);
      return () => bodyListeners.delete(listener);
    },
    close() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
