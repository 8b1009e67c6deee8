// A stock tus 1.0 server for tests and benchmarks: @tus/server + @tus/file-store on a temp
// directory, on 127.0.0.1 and an ephemeral port, with nothing Keepsake-specific (no token, no
// verification). It proves the uploader speaks plain tus, and gives tus-js-client and our
// uploader the same target in the benchmark.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
  createServer,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import { makeTempDir } from './paths.js';

export interface PlainTusServer {
  /** Base URL, e.g. http://127.0.0.1:PORT (uploads go to `${url}/files/`). */
  url: string;
  port: number;
  dataDir: string;
  /** Upload ids the server saw finish, in order. */
  finished: string[];
  /** SHA-256 of the bytes stored for an upload URL or id (hex). */
  sha256Of(uploadUrlOrId: string): Promise<string>;
  /** Metadata the client declared for an upload. */
  metadataOf(uploadUrlOrId: string): Promise<Record<string, string | null>>;
  close(): Promise<void>;
}

export async function startPlainTusServer(
  opts: { maxSize?: number; tls?: { key: string; cert: string } } = {},
): Promise<PlainTusServer> {
  const { dir, cleanup } = await makeTempDir('keepsake-plain-tus-');
  const store = new FileStore({ directory: dir });
  const finished: string[] = [];
  const tus = new Server({
    path: '/files',
    datastore: store,
    ...(opts.maxSize !== undefined ? { maxSize: opts.maxSize } : {}),
  });
  tus.on('POST_FINISH', (_req, _res, upload) => finished.push(upload.id));
  const sockets = new Set<Socket>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void tus.handle(req, res);
  };
  const http: HttpServer = opts.tls ? createHttpsServer(opts.tls, handler) : createServer(handler);
  http.on(opts.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const idOf = (u: string) => u.replace(/\/+$/, '').split('/').pop() ?? u;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${address.port}`,
    port: address.port,
    dataDir: dir,
    finished,
    sha256Of: (u) =>
      new Promise((resolve, reject) => {
        const hash = createHash('sha256');
        createReadStream(join(dir, idOf(u)))
          .on('data', (c) => hash.update(c))
          .on('error', reject)
          .on('end', () => resolve(hash.digest('hex')));
      }),
    metadataOf: async (u) => (await store.getUpload(idOf(u))).metadata ?? {},
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await cleanup();
    },
  };
}
