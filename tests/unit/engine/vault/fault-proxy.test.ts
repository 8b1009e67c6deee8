// The fault proxy the upload tests rely on: each fault does what its name says, for real.
import assert from 'node:assert/strict';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../../../support/fault-proxy.js';

/** A TCP server that records what each connection sent and echoes "ack:<n>" per chunk. */
async function startSink(): Promise<{
  server: Server;
  port: number;
  received: Buffer[];
  close: () => Promise<void>;
}> {
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const index = received.length;
    received.push(Buffer.alloc(0));
    socket.on('data', (chunk: Buffer) => {
      received[index] = Buffer.concat([received[index] ?? Buffer.alloc(0), chunk]);
      socket.write(`ack:${received[index].length}\n`);
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return {
    server,
    port: addr.port,
    received,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('fault proxy', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let proxy: FaultProxy;
  before(async () => {
    sink = await startSink();
    proxy = await startFaultProxy({ targetPort: sink.port });
  });
  after(async () => {
    await proxy.close();
    await sink.close();
  });

  it('passes bytes through untouched in both directions when no fault is set', async () => {
    proxy.setFault(null);
    const before = sink.received.length;
    const s = await connect(proxy.port);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    const payload = Buffer.alloc(200_000, 7);
    s.write(payload);
    await until(() => (sink.received[before]?.length ?? 0) === payload.length, 'all bytes');
    await until(() => answer.includes(`ack:${payload.length}`), 'the acks');
    assert.ok(sink.received[before]?.equals(payload));
    s.destroy();
  });

  it('cut forwards exactly afterBytes and then resets the client', async () => {
    proxy.setFault({ kind: 'cut', afterBytes: 1000 });
    const before = sink.received.length;
    const s = await connect(proxy.port);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => {});
    s.write(Buffer.alloc(5000, 1));
    await closed;
    await until(() => sink.received[before] !== undefined, 'the upstream connection');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sink.received[before]?.length, 1000);
    assert.equal(proxy.firedCount, 1);
  });

  it('a once fault fires on the first connection only', async () => {
    proxy.setFault({ kind: 'cut', afterBytes: 10, once: true });
    const a = await connect(proxy.port);
    a.on('error', () => {});
    const aClosed = new Promise<void>((r) => a.on('close', () => r()));
    a.write(Buffer.alloc(100));
    await aClosed;
    const before = sink.received.length;
    const b = await connect(proxy.port);
    b.write(Buffer.alloc(100));
    await until(() => (sink.received[before]?.length ?? 0) === 100, 'second connection bytes');
    b.destroy();
  });

  it('corrupt flips exactly one byte at the given position', async () => {
    proxy.setFault({ kind: 'corrupt', atByte: 5 });
    const before = sink.received.length;
    const s = await connect(proxy.port);
    s.write(Buffer.alloc(10, 0));
    await until(() => (sink.received[before]?.length ?? 0) === 10, 'bytes');
    assert.deepEqual([...(sink.received[before] ?? [])], [0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0]);
    s.destroy();
  });

  it('stall forwards afterBytes and then nothing, keeping the connection open', async () => {
    proxy.setFault({ kind: 'stall', afterBytes: 100 });
    const before = sink.received.length;
    const s = await connect(proxy.port);
    let closed = false;
    s.on('close', () => (closed = true));
    s.write(Buffer.alloc(1000));
    await until(() => (sink.received[before]?.length ?? 0) === 100, 'first bytes');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sink.received[before]?.length, 100);
    assert.equal(closed, false);
    s.destroy();
  });

  it('dropResponse delivers the request but never the answer', async () => {
    proxy.setFault({ kind: 'dropResponse' });
    const before = sink.received.length;
    const s = await connect(proxy.port);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.write(Buffer.alloc(50));
    await until(() => (sink.received[before]?.length ?? 0) === 50, 'the request');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answer, '');
    s.destroy();
  });

  it('throttle holds the client->server rate near the cap', async () => {
    proxy.setFault({ kind: 'throttle', bytesPerSecond: 200_000 });
    const before = sink.received.length;
    const s = await connect(proxy.port);
    const started = performance.now();
    s.write(Buffer.alloc(300_000));
    await until(() => (sink.received[before]?.length ?? 0) === 300_000, 'all bytes', 10_000);
    const seconds = (performance.now() - started) / 1000;
    // 300 kB at 200 kB/s: about 1.5 s (a generous functional bound, not a speed test).
    assert.ok(seconds > 1.0, `took ${seconds}s, expected the throttle to slow it`);
    s.destroy();
    proxy.setFault(null);
  });

  it('close destroys every open socket', async () => {
    const other = await startFaultProxy({ targetPort: sink.port });
    const s = await connect(other.port);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    await until(() => other.openConnections === 1, 'the connection');
    await other.close();
    await closed;
    assert.equal(other.connections, 1);
  });
});
