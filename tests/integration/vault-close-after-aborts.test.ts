// A vault whose clients hung up on many picture and content requests still closes: the
// shape of the Library's cancelled thumbnails (tests/e2e/library-scale.test.ts), made fast
// and certain here. A keep-alive client's next request can reach the vault while the answer
// before it on that connection is still being written; Node then queues the new answer
// without a socket, and if the connection dies there, Node 20 never tells that answer it
// ended (See [Note: An answer queued behind another] in server/listener.ts). Raw sockets
// make that queue on purpose: each sends a large content request it does not read, with
// thumbnail, preview and small content requests pipelined behind it, then hangs up.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { previewStatusSchema } from '../../common/vault-protocol.js';
import { corpusFile } from '../support/paths.js';
import {
  postBatch,
  startTestVault,
  type TestVault,
  uploadBuffer,
  vaultFetch,
} from '../support/vault.js';

/** The upper bound on a close that works (it takes well under a second); not a timing gate. */
const CLOSE_BOUND_MS = 15_000;

describe('A vault after its clients hung up on many requests', () => {
  let vault: TestVault | undefined;
  let closing = false;
  let picture = '';
  let large = '';

  before(async () => {
    vault = await startTestVault({ scrub: false });
    const jpeg = await readFile(corpusFile('ianare-exif-samples/jpg/orientation/landscape_1.jpg'));
    const r = await postBatch(vault, [
      { data: jpeg, filename: 'landscape_1.jpg', relpath: 'landscape_1.jpg', mime: 'image/jpeg' },
    ]);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    picture = (r.json as { results: { sha256: string }[] }).results[0]!.sha256;
    for (let i = 0; ; i++) {
      const res = await vaultFetch(vault, `/api/v1/assets/${picture}/previews`);
      const s = previewStatusSchema.parse(await res.json());
      if (s.state === 'made') break;
      assert.equal(s.state, 'pending', 'the thumbnail of a plain JPEG is made');
      assert.ok(i < 600, 'the thumbnail is made within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Larger than what loopback buffers hold, so its answer is still being written while the
    // requests pipelined behind it wait.
    const up = await uploadBuffer(vault, randomBytes(16 * 1024 * 1024));
    assert.equal(up.res.status, 201, up.text);
    large = up.sha256;
  });

  after(async () => {
    // A close already under way is not started again: the test bounded its wait.
    if (!closing) await vault?.close();
  });

  it('closes promptly, with no request left waiting for a connection that is gone', async () => {
    const v = vault!;
    const { host, hostname, port } = new URL(v.url);
    const head = (path: string) =>
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${v.token}\r\n\r\n`;
    const behind = [
      `/api/v1/assets/${picture}/thumbnail`,
      `/api/v1/assets/${picture}/preview`,
      `/api/v1/assets/${picture}/content`,
    ];

    // Pipelined behind an unread large answer, then the connection is dropped.
    const sockets: Socket[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        const s = connect(Number(port), hostname);
        sockets.push(s);
        s.on('error', () => {});
        await new Promise<void>((resolve) => s.once('connect', resolve));
        s.write(
          [`/api/v1/assets/${large}/content`, ...behind, ...behind].map((p) => head(p)).join(''),
        );
        // The vault has begun the first answer: it has parsed the ones behind it too.
        await new Promise<void>((resolve) => s.once('data', () => resolve()));
        s.pause();
      }),
    );
    // Plain cancellations beside them, as a browser's are: one request per connection.
    const cancelled = Array.from({ length: 60 }, (_, i) => {
      const ac = new AbortController();
      const req = http.get(new URL(behind[i % behind.length]!, v.url), {
        headers: { Authorization: `Bearer ${v.token}` },
        signal: ac.signal,
      });
      req.on('error', () => {});
      req.on('response', (res) => {
        res.on('error', () => {});
        ac.abort();
      });
      return new Promise<void>((resolve) => req.on('close', () => resolve()));
    });
    await Promise.all(cancelled);
    // Let the handlers behind the large answers reach their writes, then hang up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const s of sockets) s.destroy();

    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'still closing'>((resolve) => {
      timer = setTimeout(() => resolve('still closing'), CLOSE_BOUND_MS);
    });
    closing = true;
    const outcome = await Promise.race([v.close().then(() => 'closed' as const), bound]);
    clearTimeout(timer);
    assert.equal(outcome, 'closed', `the vault had not closed ${CLOSE_BOUND_MS} ms after close()`);
  });
});
