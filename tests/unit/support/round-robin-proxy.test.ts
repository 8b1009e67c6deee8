// The test load balancer itself (tests/support/round-robin-proxy.ts), against real HTTP
// servers on loopback: it spreads requests (not connections) in turn, carries bodies and
// answers whole, skips a node that refuses connections, and reports a node that dies mid-way
// as a load balancer does.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Agent, type IncomingMessage, type Server, createServer, request } from 'node:http';
import { after, describe, it } from 'node:test';
import { startRoundRobinProxy, type RoundRobinProxy } from '../../support/round-robin-proxy.js';

interface TestBackend {
  server: Server;
  port: number;
  /** how many requests the node saw abort before their body ended */
  aborted: number;
}

/** A node answering `node N <method> <sha256 of the body>`, or behaving as `onRequest` says. */
async function startBackend(
  n: number,
  onRequest?: (req: IncomingMessage, destroy: () => void) => boolean,
): Promise<TestBackend> {
  const backend: TestBackend = { server: createServer(), port: 0, aborted: 0 };
  backend.server.on('request', (req, res) => {
    if (onRequest?.(req, () => req.socket.destroy()) === true) return;
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => hash.update(chunk));
    req.on('close', () => {
      if (!req.complete) backend.aborted += 1;
    });
    req.on('end', () => {
      res.setHeader('x-node', String(n));
      res.setHeader('upload-offset', '42');
      res.end(`node ${n} ${req.method} ${hash.digest('hex')}`);
    });
  });
  await new Promise<void>((resolve) => backend.server.listen(0, '127.0.0.1', resolve));
  const address = backend.server.address();
  backend.port = typeof address === 'object' && address !== null ? address.port : 0;
  return backend;
}

function closeBackend(b: TestBackend): Promise<void> {
  b.server.closeAllConnections();
  return new Promise((resolve) => b.server.close(() => resolve()));
}

interface Answer {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
  reusedSocket: boolean;
}

function send(
  proxy: RoundRobinProxy,
  opts: { method?: string; path?: string; body?: Buffer; agent?: Agent },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${proxy.url}${opts.path ?? '/'}`,
      {
        method: opts.method ?? 'GET',
        agent: opts.agent,
        headers: opts.body ? { 'content-length': opts.body.length } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => (body += s));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            headers: res.headers,
            reusedSocket: req.reusedSocket,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('round-robin test proxy', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('hands each request on one kept-alive connection to the next node in turn', async () => {
    const nodes = await Promise.all([0, 1, 2].map((n) => startBackend(n)));
    for (const b of nodes) cleanups.push(() => closeBackend(b));
    const proxy = await startRoundRobinProxy(nodes.map((b) => ({ port: b.port })));
    cleanups.push(() => proxy.close());
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => Promise.resolve(agent.destroy()));

    const answers: Answer[] = [];
    for (let i = 0; i < 6; i++) answers.push(await send(proxy, { agent, path: `/r${i}` }));
    assert.deepEqual(
      answers.map((a) => a.headers['x-node']),
      ['0', '1', '2', '0', '1', '2'],
    );
    assert.ok(
      answers.slice(1).every((a) => a.reusedSocket),
      'one client connection throughout',
    );
    assert.deepEqual(proxy.countsByBackend(), [2, 2, 2]);
    assert.deepEqual(
      proxy.served.map((s) => [s.backend, s.path, s.status]),
      answers.map((_, i) => [i % 3, `/r${i}`, 200]),
    );
  });

  it('carries a request body and the answer headers through whole', async () => {
    const node = await startBackend(7);
    cleanups.push(() => closeBackend(node));
    const proxy = await startRoundRobinProxy([{ port: node.port }]);
    cleanups.push(() => proxy.close());
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const seen: number[] = [];
    const handedOver: number[] = [];
    proxy.onHandOver((r) => handedOver.push(r.bodyBytes));
    proxy.onBodyForwarded((r) => seen.push(r.bodyBytes));
    const answer = await send(proxy, { method: 'PATCH', path: '/files/x', body });
    assert.deepEqual(handedOver, [0], 'told at hand-over, before any body byte');
    assert.equal(proxy.served[0]?.bodyBytes, body.length);
    assert.equal(seen.at(-1), body.length, 'told as the body went through');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, `node 7 PATCH ${createHash('sha256').update(body).digest('hex')}`);
    assert.equal(answer.headers['upload-offset'], '42');
  });

  it('skips a node that refuses connections, and says so', async () => {
    const nodes = await Promise.all([0, 1, 2].map((n) => startBackend(n)));
    for (const b of nodes) cleanups.push(() => closeBackend(b));
    const proxy = await startRoundRobinProxy(nodes.map((b) => ({ port: b.port })));
    cleanups.push(() => proxy.close());
    await closeBackend(nodes[1]!); // the "killed" node: its port now refuses

    const body = randomBytes(200_000);
    const answers: Answer[] = [];
    for (let i = 0; i < 6; i++) answers.push(await send(proxy, { method: 'PUT', body }));
    assert.ok(answers.every((a) => a.status === 200));
    const digest = createHash('sha256').update(body).digest('hex');
    assert.ok(
      answers.every((a) => a.body.endsWith(digest)),
      'a refused try consumed no body',
    );
    assert.ok(proxy.served.every((s) => s.backend !== 1));
    assert.equal(proxy.countsByBackend()[1], 0);
    assert.ok(proxy.served.some((s) => s.refusedBefore.includes(1)));
  });

  it('answers 502 when every node refuses', async () => {
    const node = await startBackend(0);
    const proxy = await startRoundRobinProxy([{ port: node.port }]);
    cleanups.push(() => proxy.close());
    await closeBackend(node);
    const answer = await send(proxy, {});
    assert.equal(answer.status, 502);
    assert.equal(proxy.unplaced, 1);
    assert.equal(proxy.served.length, 0);
  });

  it('answers 502 when a node dies after taking a request, and never replays it', async () => {
    const dying = await startBackend(0, (req, destroy) => {
      req.once('data', destroy); // dies once some body arrived
      return true;
    });
    const healthy = await startBackend(1);
    for (const b of [dying, healthy]) cleanups.push(() => closeBackend(b));
    const proxy = await startRoundRobinProxy([{ port: dying.port }, { port: healthy.port }]);
    cleanups.push(() => proxy.close());
    const answer = await send(proxy, { method: 'PATCH', body: randomBytes(1024 * 1024) });
    assert.equal(answer.status, 502);
    assert.deepEqual(
      proxy.served.map((s) => [s.backend, s.status]),
      [[0, null]],
    );
  });

  it('a client that goes away mid-body aborts the request at the node too', async () => {
    const node = await startBackend(0);
    cleanups.push(() => closeBackend(node));
    const proxy = await startRoundRobinProxy([{ port: node.port }]);
    cleanups.push(() => proxy.close());
    const req = request(`${proxy.url}/files/y`, {
      method: 'PATCH',
      headers: { 'content-length': 10 * 1024 * 1024 },
    });
    req.on('error', () => {});
    req.write(randomBytes(256 * 1024));
    const deadline = Date.now() + 10_000;
    while (proxy.served.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    req.destroy();
    while (node.aborted === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(node.aborted, 1);
  });
});
