// An HTTP forwarder for restore tests: passes every request to a vault and counts (and can
// slow down) the response bytes going back to the client, which is what a restore fetches.
// The fault proxy (fault-proxy.ts) counts the other direction, what uploads send.
//
// Invariants: listens on 127.0.0.1 only; `bytesServed` counts response body bytes written
// towards the client, including those a killed client never read; close() destroys every
// connection it holds.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface DownloadMeter {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Response body bytes sent to clients since start. */
  readonly bytesServed: number;
  /**
   * Response body bytes per second to all clients together; null = as fast as it comes;
   * 0 = hold every response where it is (nothing more is sent until the rate is raised).
   */
  setRate(bytesPerSecond: number | null): void;
  close(): Promise<void>;
}

export async function startDownloadMeter(target: string): Promise<DownloadMeter> {
  const upstream = new URL(target);
  let served = 0;
  let rate: number | null = null;
  let tokens = 0;
  let last = performance.now();
  const sockets = new Set<Socket>();

  /** Waits until `n` bytes may go out under the current rate. */
  async function allow(n: number): Promise<void> {
    for (;;) {
      const r = rate;
      if (r === null) return;
      if (r === 0) {
        await new Promise((done) => setTimeout(done, 10));
        continue;
      }
      const now = performance.now();
      tokens = Math.min(r / 10, tokens + ((now - last) / 1000) * r);
      last = now;
      if (tokens >= n) {
        tokens -= n;
        return;
      }
      await new Promise((done) => setTimeout(done, Math.max(2, ((n - tokens) / r) * 1000)));
    }
  }

  const server = http.createServer((req, res) => {
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        void (async () => {
          try {
            for await (const chunk of answer) {
              const buf = chunk as Buffer;
              for (let i = 0; i < buf.length; i += 16 * 1024) {
                const part = buf.subarray(i, i + 16 * 1024);
                await allow(part.length);
                if (res.destroyed) throw new Error('client gone');
                served += part.length;
                if (!res.write(part)) {
                  await new Promise<void>((r) => {
                    const done = () => {
                      res.off('drain', done);
                      res.off('close', done);
                      r();
                    };
                    res.once('drain', done);
                    res.once('close', done);
                  });
                }
              }
            }
            res.end();
          } catch {
            answer.destroy();
            res.destroy();
          }
        })();
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get bytesServed() {
      return served;
    },
    setRate(bytesPerSecond) {
      rate = bytesPerSecond;
      tokens = 0;
      last = performance.now();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
