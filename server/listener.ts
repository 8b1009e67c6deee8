// The vault's socket: HTTP or HTTPS (--tls-cert/--tls-key), the timeouts that keep a stalled
// or idle client from holding a connection forever, and what a person must be told about the
// address it listens on. Owns everything between the TCP socket and the request handler.
// Invariant: no connection lives forever without bytes moving, except while the vault itself
// works on a request whose body it has fully received (verifying, scrubbing a verify request).
//
// [Note: Vault timeouts]
// Uploads are long (a 4 GB video over a slow uplink), so there is no total request timeout
// (server.requestTimeout = 0). Instead every phase has its own idle limit:
// - headers: the whole request head within headersTimeoutMs (default 30 s), checked every
//   connectionsCheckingInterval (default 5 s): a client that opens a socket and trickles
//   headers (slowloris) is cut;
// - body: while a request body is arriving, the socket may be silent for at most bodyIdleMs
//   (default 60 s); once the body has ended the limit is lifted, so a long verification of
//   what arrived is never cut. A cut upload keeps the bytes it stored and resumes (HEAD);
// - between requests: keepAliveTimeoutMs (default 65 s, longer than common proxies' 60 s so
//   the proxy, not the vault, closes first).
//
// [Note: An answer queued behind another]
// A keep-alive client may send its next request on a connection while the vault still writes
// the answer before it (the client has read that answer whole, but the vault's write has not
// completed yet; or a client that pipelines). Node then queues the new response without a
// socket until the earlier one finishes. If the connection dies meanwhile, Node 20 aborts the
// queued request but never ends or closes its response (fixed upstream in nodejs/node#62534,
// not in Node 20): a handler writing to it waits forever for 'finish', 'drain' or 'close'
// (a pipeline of a file into it never settles), so the vault's close(), which waits for every
// request in flight, never finished either. Under many cancelled thumbnails (the Library
// scrolling) this happened in most runs. So a response still queued when its connection
// closes is destroyed and told it closed, as Node does for a response that had its socket.
//
// [Note: Plain HTTP on a network]
// The bearer token and every photo travel in each request. On loopback that stays on the
// machine; on any other address (0.0.0.0, a LAN address, a host name) anyone on the path can
// read them unless the vault serves HTTPS. The vault still starts (a LAN at home may be a
// deliberate choice) but says so, once, where the operator looks: stderr of `keepsake vault`.
import { readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, isIPv4, isIPv6 } from 'node:net';
import { VaultStartError } from './start-error.js';

export interface VaultTls {
  /** PEM certificate (chain) file */
  certFile: string;
  /** PEM private key file */
  keyFile: string;
}

export interface VaultTimeouts {
  /** default 30 000 */
  headersTimeoutMs?: number;
  /** how often Node checks headersTimeout, default 5 000 */
  checkIntervalMs?: number;
  /** default 60 000 */
  bodyIdleMs?: number;
  /** default 65 000 */
  keepAliveTimeoutMs?: number;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: VaultTls;
  timeouts?: VaultTimeouts;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface Listening {
  server: Server;
  /** http(s)://HOST:PORT */
  url: string;
  /** what the operator must be told (e.g. plain HTTP on a network address) */
  warnings: string[];
}

/** True for addresses only this machine can reach (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIPv4(v4)) return v4.startsWith('127.');
  if (isIPv6(address)) return address === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(address);
  return false;
}

async function readTls(tls: VaultTls): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new VaultStartError(
        'tls_unreadable',
        `cannot read the TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        { cause: err },
      );
    }
  };
  return { cert: await read(tls.certFile, 'certificate'), key: await read(tls.keyFile, 'key') };
}

/**
 * While a request body arrives, a silent socket is cut after `ms`; the limit is lifted once
 * the body has ended or the response is sent. See [Note: Vault timeouts].
 */
function limitBodyIdle(req: IncomingMessage, res: ServerResponse, ms: number): void {
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  if (!hasBody || ms <= 0) return;
  const socket = req.socket;
  socket.setTimeout(ms);
  const lift = () => {
    if (!socket.destroyed) socket.setTimeout(0);
  };
  req.once('end', lift);
  res.once('finish', lift);
}

/**
 * A response queued behind another on its connection ends with that connection. See [Note:
 * An answer queued behind another].
 */
function closeQueuedWithConnection(req: IncomingMessage, res: ServerResponse): void {
  // A response that has its socket is closed by Node when the socket closes.
  if (res.socket !== null) return;
  const socket = req.socket;
  const gone = () => {
    if (res.writableFinished) return;
    res.destroy();
    res.emit('close');
  };
  socket.once('close', gone);
  // Its turn came: from here Node closes it with the socket.
  res.once('socket', () => socket.off('close', gone));
}

/** Creates the HTTP(S) server and listens; throws VaultStartError for what a person can fix. */
export async function listen(o: ListenOptions): Promise<Listening> {
  const t = o.timeouts ?? {};
  const bodyIdleMs = t.bodyIdleMs ?? 60_000;
  const serverOptions = {
    headersTimeout: t.headersTimeoutMs ?? 30_000,
    // Uploads may take hours: each phase has its own idle limit instead.
    requestTimeout: 0,
    keepAliveTimeout: t.keepAliveTimeoutMs ?? 65_000,
    connectionsCheckingInterval: t.checkIntervalMs ?? 5_000,
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    limitBodyIdle(req, res, bodyIdleMs);
    closeQueuedWithConnection(req, res);
    o.handler(req, res);
  };
  let server: Server;
  if (o.tls) {
    const pem = await readTls(o.tls);
    try {
      server = createHttpsServer({ ...serverOptions, ...pem }, handler);
    } catch (err) {
      throw new VaultStartError(
        'tls_invalid',
        `the TLS certificate ${o.tls.certFile} and key ${o.tls.keyFile} cannot be used: ${(err as Error).message}`,
        { cause: err },
      );
    }
  } else {
    server = createHttpServer(serverOptions, handler);
  }
  server.headersTimeout = serverOptions.headersTimeout;
  server.keepAliveTimeout = serverOptions.keepAliveTimeout;
  server.requestTimeout = 0;

  await new Promise<void>((resolveListen, rejectListen) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        rejectListen(
          new VaultStartError(
            'port_in_use',
            `port ${o.port} on ${o.host} is already in use: stop the other process or pass --port`,
          ),
        );
      } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES') {
        rejectListen(
          new VaultStartError(
            'address_unavailable',
            `cannot listen on ${o.host}:${o.port} (${err.code})`,
          ),
        );
      } else rejectListen(err);
    };
    server.once('error', onError);
    server.listen(o.port, o.host, () => {
      server.off('error', onError);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${o.tls ? 'https' : 'http'}://${urlHost}:${address.port}`;
  const warnings: string[] = [];
  if (!o.tls && !isLoopbackAddress(address.address)) {
    warnings.push(
      `listening on ${urlHost}:${address.port} without TLS: the token and photos travel in clear text over the network; pass --tls-cert and --tls-key to serve HTTPS`,
    );
  }
  return { server, url, warnings };
}
