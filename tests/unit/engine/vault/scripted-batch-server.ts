// A small in-memory server for POST /api/v1/batch (BATCH-PROTOCOL.md §1) on loopback, whose
// answers a test can override: the way to make a vault answer 413, a short result list or a
// 503 for a batch. Like the vault, it hashes every frame and refuses one whose bytes do not
// match the declared sha256 (checksum_mismatch), and stores nothing of a request that was cut.
import { createHash } from 'node:crypto';
import { type IncomingMessage, createServer } from 'node:http';
import type { Socket } from 'node:net';

export interface SeenBatch {
  headers: IncomingMessage['headers'];
  /** The frames' headers as parsed, in order; empty when the request was cut. */
  frames: { sha256: string; size: number; filename: string; relpath?: string }[];
  complete: boolean;
}

export type BatchOverride = { status: number; body?: string } | undefined;

export interface ScriptedBatchServer {
  url: string;
  port: number;
  /** sha256 -> bytes held */
  blobs: Map<string, Buffer>;
  batches: SeenBatch[];
  script: (batch: SeenBatch) => BatchOverride;
  close(): Promise<void>;
}

export async function startScriptedBatchServer(): Promise<ScriptedBatchServer> {
  const blobs = new Map<string, Buffer>();
  const batches: SeenBatch[] = [];
  const sockets = new Set<Socket>();
  const self: ScriptedBatchServer = {
    url: '',
    port: 0,
    blobs,
    batches,
    script: () => undefined,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/api/v1/batch') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not_found"}');
      return;
    }
    const seen: SeenBatch = { headers: req.headers, frames: [], complete: false };
    batches.push(seen);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      seen.complete = true;
      const body = Buffer.concat(parts);
      const frames: { header: SeenBatch['frames'][number]; bytes: Buffer }[] = [];
      let at = 0;
      while (at < body.length) {
        const nl = body.indexOf(0x0a, at);
        if (nl < 0) break;
        const header = JSON.parse(
          body.subarray(at, nl).toString('utf8'),
        ) as SeenBatch['frames'][number];
        const bytes = body.subarray(nl + 1, nl + 1 + header.size);
        frames.push({ header, bytes });
        at = nl + 1 + header.size;
      }
      seen.frames = frames.map((f) => f.header);
      const override = self.script(seen);
      if (override) {
        res.writeHead(override.status, { 'content-type': 'application/json' });
        res.end(override.body ?? '{"error":"scripted"}');
        return;
      }
      if (frames.length !== Number(req.headers['keepsake-batch-count']) || at !== body.length) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"bad_request","message":"malformed batch framing"}');
        return;
      }
      // All accepted frames become visible together, after the whole request arrived.
      const results = frames.map(({ header, bytes }) => {
        const actual = createHash('sha256').update(bytes).digest('hex');
        if (actual !== header.sha256 || bytes.length !== header.size) {
          return {
            sha256: header.sha256,
            status: 'refused',
            code: 'checksum_mismatch',
            message: 'the bytes do not hash to the declared sha256',
            retryable: true,
          };
        }
        const had = blobs.has(actual);
        blobs.set(actual, Buffer.from(bytes));
        return { sha256: header.sha256, status: had ? 'duplicate' : 'stored' };
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ results }));
    });
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
