// A fault-injecting TCP proxy for tests: sits between a client and a loopback server and
// cuts, stalls, corrupts, throttles or black-holes the traffic on demand, for real (the
// client sees real resets and silences, not mocked errors).
//
// Invariants:
// - listens on 127.0.0.1 only; close() destroys every socket it ever opened;
// - byte counts are in the client->server direction, per connection, counted from the later
//   of "the connection opened" and "this fault was set" (so setting a fault while a
//   keep-alive connection is open does not fire at once on bytes sent earlier);
// - `once` faults fire on the first connection that reaches the point, then go inert (the
//   fault stays set, later connections pass through untouched);
// - a stalled or response-dropped connection stays that way until it closes, even if the
//   fault is cleared: that is what a dead link looks like to the client, which must notice
//   on its own (idle timeout) and reconnect.
// - with `connect: true` it is an HTTP proxy that only tunnels (CONNECT host:port, as
//   HTTPS_PROXY clients speak to a corporate proxy): every tunnel goes to 127.0.0.1 at the
//   requested port (so a name only the proxy "resolves", e.g. vault.test, works), the
//   CONNECT exchange itself is not counted, and faults apply to the tunnelled bytes.
import { type Server, type Socket, createConnection, createServer } from 'node:net';

export type Fault =
  /** Forward `afterBytes`, then reset the connection (both sides). */
  | { kind: 'cut'; afterBytes: number; once?: boolean }
  /** Forward `afterBytes`, then forward nothing more in either direction (connection open). */
  | { kind: 'stall'; afterBytes: number; once?: boolean }
  /** Flip every bit of the client->server byte at position `atByte`. */
  | { kind: 'corrupt'; atByte: number; once?: boolean }
  /** Forward the request, swallow whatever the server answers (connection stays open). */
  | { kind: 'dropResponse'; once?: boolean }
  /** Client->server bytes through one bucket shared by every connection. */
  | { kind: 'throttle'; bytesPerSecond: number }
  /**
   * Forward `afterBytes` of what the server answers on a connection (counted from the later
   * of "the connection opened" and "this fault was set"), then reset it: a download cut
   * mid-body.
   */
  | { kind: 'cutResponse'; afterBytes: number; once?: boolean };

export interface FaultProxy {
  port: number;
  /** CONNECT mode: the host:port each tunnel asked for, in order. */
  readonly tunnels: string[];
  /** http://127.0.0.1:PORT */
  url: string;
  setFault(fault: Fault | null): void;
  /** Connections accepted since start (a keep-alive client keeps this low). */
  readonly connections: number;
  /** Connections open right now. */
  readonly openConnections: number;
  /** Client->server bytes forwarded since start, over every connection. */
  readonly bytesForwarded: number;
  /** How many times the current fault has fired (reset by setFault). */
  readonly firedCount: number;
  close(): Promise<void>;
}

interface ActiveFault {
  fault: Fault;
  generation: number;
  fired: number;
}

interface ConnectionState {
  client: Socket;
  upstream: Socket;
  /** client->server bytes seen on this connection */
  sent: number;
  /** the fault generation this connection last saw, and its byte count at that moment */
  seenGeneration: number;
  base: number;
  stalled: boolean;
  droppingResponse: boolean;
  done: boolean;
  /** server->client bytes on this connection, and the count when the fault last changed */
  received: number;
  receivedGeneration: number;
  receivedBase: number;
}

export async function startFaultProxy(options: {
  /** The server every connection is forwarded to (ignored with `connect`). */
  targetPort: number;
  targetHost?: string;
  /** Act as a CONNECT-only HTTP proxy instead of a fixed forwarder. */
  connect?: boolean;
}): Promise<FaultProxy> {
  const tunnels: string[] = [];
  /** CONNECT mode: client sockets whose tunnel is not wired yet. */
  const pending = new Set<Socket>();
  const targetHost = options.targetHost ?? '127.0.0.1';
  let active: ActiveFault | null = null;
  let generation = 0;
  let accepted = 0;
  let forwarded = 0;
  const open = new Set<ConnectionState>();
  // Shared throttle bucket (client->server).
  let tokens = 0;
  let lastRefill = performance.now();

  const fire = (fault: ActiveFault): boolean => {
    const once = 'once' in fault.fault && fault.fault.once === true;
    if (once && fault.fired > 0) return false;
    fault.fired += 1;
    return true;
  };

  const takeTokens = async (want: number, rate: number): Promise<number> => {
    for (;;) {
      const now = performance.now();
      tokens = Math.min(rate / 4, tokens + ((now - lastRefill) / 1000) * rate);
      lastRefill = now;
      if (tokens >= 1) {
        const got = Math.min(want, Math.floor(tokens));
        tokens -= got;
        return got;
      }
      const waitMs = Math.max(5, ((1 - tokens) / rate) * 1000);
      await new Promise((r) => setTimeout(r, waitMs));
    }
  };

  const writeUpstream = (conn: ConnectionState, data: Buffer): Promise<void> => {
    forwarded += data.length;
    if (conn.upstream.write(data)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        conn.upstream.off('drain', done);
        conn.upstream.off('close', done);
        resolve();
      };
      conn.upstream.once('drain', done);
      conn.upstream.once('close', done);
    });
  };

  const killConnection = (conn: ConnectionState): void => {
    conn.done = true;
    conn.client.resetAndDestroy();
    conn.upstream.destroy();
  };

  /** Resets both sides once what was written towards the client has been handed over. */
  const killAfterFlush = (conn: ConnectionState): void => {
    conn.done = true;
    conn.upstream.destroy();
    conn.client.write(Buffer.alloc(0), () => conn.client.resetAndDestroy());
  };

  /** Applies the current fault to one chunk going client->server. */
  const forwardChunk = async (conn: ConnectionState, chunk: Buffer): Promise<void> => {
    let data = chunk;
    while (data.length > 0 && !conn.done) {
      if (conn.stalled) return;
      const current = active;
      if (current && conn.seenGeneration !== current.generation) {
        conn.seenGeneration = current.generation;
        conn.base = conn.sent;
      }
      const pos = conn.sent - conn.base; // bytes since the fault applies to this connection
      const fault = current?.fault;
      if (!current || !fault || fault.kind === 'dropResponse' || fault.kind === 'cutResponse') {
        conn.sent += data.length;
        await writeUpstream(conn, data);
        return;
      }
      switch (fault.kind) {
        case 'cut':
        case 'stall': {
          const room = fault.afterBytes - pos;
          if (room > 0 && room >= data.length) {
            conn.sent += data.length;
            await writeUpstream(conn, data);
            return;
          }
          if (room > 0) {
            const head = data.subarray(0, room);
            conn.sent += head.length;
            await writeUpstream(conn, head);
            data = data.subarray(room);
            continue;
          }
          if (!fire(current)) {
            conn.sent += data.length;
            await writeUpstream(conn, data);
            return;
          }
          if (fault.kind === 'cut') {
            // Let what was forwarded reach the server, then drop both sides.
            conn.done = true;
            conn.client.resetAndDestroy();
            conn.upstream.write(Buffer.alloc(0), () => conn.upstream.resetAndDestroy());
          } else {
            conn.stalled = true;
            conn.client.pause();
          }
          return;
        }
        case 'corrupt': {
          const at = fault.atByte - pos;
          if (at >= 0 && at < data.length && fire(current)) {
            data = Buffer.from(data);
            data[at] = (data[at] ?? 0) ^ 0xff;
          }
          conn.sent += data.length;
          await writeUpstream(conn, data);
          return;
        }
        case 'throttle': {
          const rate = Math.max(1, fault.bytesPerSecond);
          const n = await takeTokens(Math.min(data.length, 16 * 1024), rate);
          const head = data.subarray(0, n);
          conn.sent += head.length;
          await writeUpstream(conn, head);
          data = data.subarray(n);
          continue;
        }
        default: {
          const never: never = fault;
          throw new Error(`unknown fault ${JSON.stringify(never)}`);
        }
      }
    }
  };

  /** CONNECT mode: reads the request head, answers it, then wires the tunnel. */
  const acceptTunnel = (client: Socket): void => {
    pending.add(client);
    client.on('close', () => pending.delete(client));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16 * 1024) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      const line = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const m = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]$/.exec(line);
      if (!m) {
        client.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n');
        return;
      }
      tunnels.push(`${m[1]}:${m[2]}`);
      const upstream = createConnection({ host: '127.0.0.1', port: Number(m[2]) }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        wire(client, upstream, head.subarray(end + 4));
      });
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
    client.on('error', () => {});
  };

  const server: Server = createServer((client) => {
    accepted += 1;
    if (options.connect === true) {
      acceptTunnel(client);
      return;
    }
    wire(client, createConnection({ host: targetHost, port: options.targetPort }), null);
  });

  /** Forwards client <-> upstream with the faults; `early` = client bytes already read. */
  function wire(client: Socket, upstream: Socket, early: Buffer | null): void {
    const conn: ConnectionState = {
      client,
      upstream,
      sent: 0,
      seenGeneration: active?.generation ?? 0,
      base: 0,
      stalled: false,
      droppingResponse: false,
      done: false,
      received: 0,
      receivedGeneration: active?.generation ?? 0,
      receivedBase: 0,
    };
    open.add(conn);
    client.setNoDelay(true);
    upstream.setNoDelay(true);

    // client -> server, one chunk at a time so faults see bytes in order.
    let chain = Promise.resolve();
    if (early !== null && early.length > 0) {
      chain = chain.then(() => forwardChunk(conn, early));
    }
    client.on('data', (chunk: Buffer) => {
      client.pause();
      chain = chain
        .then(() => forwardChunk(conn, chunk))
        .then(
          () => {
            if (!conn.done && !conn.stalled) client.resume();
          },
          () => killConnection(conn),
        );
    });
    if (early !== null) client.resume(); // paused while the CONNECT was answered
    client.on('end', () => {
      void chain.then(() => {
        if (!conn.done && !conn.stalled) upstream.end();
      });
    });

    // server -> client
    upstream.on('data', (chunk: Buffer) => {
      if (conn.stalled || conn.done) return;
      const current = active;
      if (!conn.droppingResponse && current?.fault.kind === 'dropResponse') {
        if (fire(current)) conn.droppingResponse = true;
      }
      if (conn.droppingResponse) return;
      if (current?.fault.kind === 'cutResponse') {
        if (conn.receivedGeneration !== current.generation) {
          conn.receivedGeneration = current.generation;
          conn.receivedBase = conn.received;
        }
        const room = current.fault.afterBytes - (conn.received - conn.receivedBase);
        if (room < chunk.length && fire(current)) {
          if (room > 0) client.write(chunk.subarray(0, room));
          conn.received += Math.max(0, room);
          killAfterFlush(conn);
          return;
        }
      }
      conn.received += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => {
      if (!conn.stalled && !conn.droppingResponse && !conn.done) client.end();
    });

    const cleanup = () => {
      conn.done = true;
      open.delete(conn);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cleanup);
    upstream.on('error', cleanup);
    client.on('close', cleanup);
    upstream.on('close', () => {
      // A stalled or black-holed connection keeps the client side open on purpose.
      if (conn.stalled || conn.droppingResponse) return;
      cleanup();
    });
  }

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
    port,
    url: `http://127.0.0.1:${port}`,
    tunnels,
    setFault(fault) {
      generation += 1;
      active = fault ? { fault, generation, fired: 0 } : null;
      tokens = 0;
      lastRefill = performance.now();
    },
    get connections() {
      return accepted;
    },
    get openConnections() {
      return open.size;
    },
    get bytesForwarded() {
      return forwarded;
    },
    get firedCount() {
      return active?.fired ?? 0;
    },
    close() {
      for (const s of pending) s.destroy();
      for (const conn of open) {
        conn.done = true;
        conn.client.destroy();
        conn.upstream.destroy();
      }
      open.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
