// Networks that people and IT really have: a vault behind TLS signed by a private CA
// (--ca-file), TLS verification that cannot be skipped, and an HTTP proxy (CONNECT).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeepsakeError } from '../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { proxyFromEnvironment } from '../../main/engine/vault/http-client.js';
import {
  type TusUploaderOptions,
  createTusUploader,
} from '../../main/engine/vault/tus-uploader.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { type PlainTusServer, startPlainTusServer } from '../support/plain-tus-server.js';
import { jobFor, randomFile, recordingCallbacks } from '../support/upload-fixtures.js';

/** A private CA and a certificate for 127.0.0.1 signed by it (openssl, EC keys: fast). */
function makeCertificates(dir: string): { caFile: string; key: string; cert: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Keepsake Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1\\n" > san.ext'], { cwd: dir });
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
  return {
    caFile: join(dir, 'ca.pem'),
    key: join(dir, 'server.key'),
    cert: join(dir, 'server.pem'),
  };
}

/** An HTTP proxy that only tunnels (CONNECT), recording what it was asked for. */
async function startConnectProxy(): Promise<{
  url: string;
  tunnels: string[];
  close(): Promise<void>;
}> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    res.writeHead(405).end('this proxy only does CONNECT');
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect({ host: host ?? '', port: Number(port) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    tunnels,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('TLS, custom CA and proxies', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let certs: ReturnType<typeof makeCertificates>;
  let tlsServer: PlainTusServer;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  before(async () => {
    tmp = await makeTempDir('keepsake-upload-net-');
    certs = makeCertificates(tmp.dir);
    tlsServer = await startPlainTusServer({
      tls: { key: await readFile(certs.key, 'utf8'), cert: await readFile(certs.cert, 'utf8') },
    });
    proxy = await startConnectProxy();
  });
  after(async () => {
    await proxy?.close();
    await tlsServer?.close();
    await tmp?.cleanup();
  });

  const upload = async (options: Partial<TusUploaderOptions>) => {
    const u = createTusUploader({
      endpoint: tlsServer.url,
      token: null,
      logger: silentLogger,
      clock: systemClock,
      retryBaseDelayMs: 10,
      maxNetworkRetries: 2,
      ...options,
    });
    try {
      const job = await jobFor(corpusFile('exifr-fixtures/IMG_20180725_163423-tiny.jpg'));
      const result = await u.upload(job, recordingCallbacks(), new AbortController().signal);
      assert.equal(await tlsServer.sha256Of(result.uploadUrl), job.sha256);
      return result;
    } finally {
      await u.close();
    }
  };

  it('a certificate from an unknown CA is refused at once, with the --ca-file hint', async () => {
    const err = await upload({}).catch((e: unknown) => e);
    assert.ok(err instanceof KeepsakeError, String(err));
    assert.equal(err.code, 'vault_unreachable');
    assert.equal(err.retryable, false);
    assert.match(err.message, /--ca-file/);
  });

  it('--ca-file: the private CA is trusted in addition to the system ones', async () => {
    await upload({ caFile: certs.caFile });
  });

  it('a CA file that is not PEM is refused with a clear message', async () => {
    const bogus = join(tmp.dir, 'bogus.pem');
    await writeFile(bogus, 'not a certificate');
    assert.throws(
      () =>
        createTusUploader({
          endpoint: tlsServer.url,
          token: null,
          caFile: bogus,
          logger: silentLogger,
          clock: systemClock,
        }),
      (e: unknown) => e instanceof KeepsakeError && e.code === 'invalid_argument',
    );
  });

  it('through an HTTP proxy (CONNECT), to a TLS vault with a private CA', async () => {
    const before = proxy.tunnels.length;
    await upload({ caFile: certs.caFile, proxyUrl: proxy.url });
    assert.ok(proxy.tunnels.length > before, 'the proxy carried the upload');
    assert.equal(proxy.tunnels.at(-1), `127.0.0.1:${tlsServer.port}`);
  });

  it('through an HTTP proxy to a plain-http server, a multi-chunk file on one tunnel', async () => {
    const plain = await startPlainTusServer();
    const u = createTusUploader({
      endpoint: plain.url,
      token: null,
      chunkSizeBytes: 256 * 1024,
      proxyUrl: proxy.url,
      logger: silentLogger,
      clock: systemClock,
    });
    try {
      const before = proxy.tunnels.length;
      const job = await jobFor(await randomFile(join(tmp.dir, 'p.bin'), 1024 * 1024 + 5));
      const result = await u.upload(job, recordingCallbacks(), new AbortController().signal);
      assert.equal(await plain.sha256Of(result.uploadUrl), job.sha256);
      assert.equal(proxy.tunnels.length - before, 1, 'keep-alive through the tunnel');
    } finally {
      await u.close();
      await plain.close();
    }
  });

  it('proxy variables: scheme, NO_PROXY rules, and loopback never proxied', () => {
    const env = {
      HTTPS_PROXY: 'http://proxy.corp:3128',
      http_proxy: 'proxy.corp:8080',
      NO_PROXY: 'internal.corp, .lan,nas:8443',
    };
    const p = (u: string, e: NodeJS.ProcessEnv = env) => proxyFromEnvironment(new URL(u), e);
    assert.equal(p('https://vault.example.com'), 'http://proxy.corp:3128');
    assert.equal(p('http://vault.example.com:7418'), 'http://proxy.corp:8080');
    assert.equal(p('https://internal.corp'), null);
    assert.equal(p('https://vault.internal.corp'), null);
    assert.equal(p('https://nas.lan'), null);
    assert.equal(p('https://nas:8443'), null);
    assert.equal(p('https://nas:443'), 'http://proxy.corp:3128');
    assert.equal(p('http://127.0.0.1:7418'), null);
    assert.equal(p('http://localhost:7418'), null);
    assert.equal(p('http://[::1]:7418'), null);
    assert.equal(p('https://vault.example.com', { ...env, NO_PROXY: '*' }), null);
    assert.equal(p('https://vault.example.com', {}), null);
    assert.equal(p('https://x.example', { ALL_PROXY: 'http://all:1' }), 'http://all:1');
  });
});
