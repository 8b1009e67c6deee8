// Networks that people and IT really have: a vault behind TLS signed by a private CA
// (--ca-file), TLS verification that cannot be skipped, and an HTTP proxy (CONNECT).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { KeepsakeError } from '../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import {
  createHttpClient,
  proxyFromEnvironment,
  trustedCertificates,
} from '../../main/engine/vault/http-client.js';
import {
  type TusUploaderOptions,
  createTusUploader,
} from '../../main/engine/vault/tus-uploader.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { type PlainTusServer, startPlainTusServer } from '../support/plain-tus-server.js';
import { jobFor, randomFile, recordingCallbacks } from '../support/upload-fixtures.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeCertificates, startTlsTerminator } from '../support/upload-network.js';
import { type TestVault, startTestVault } from '../support/vault.js';
import { createVaultClient } from '../../main/engine/vault/vault-client.js';
import type { MediaMetadata } from '../../main/engine/metadata/types.js';

describe('TLS, custom CA and proxies', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let certs: ReturnType<typeof makeCertificates>;
  let tlsServer: PlainTusServer;
  let proxy: FaultProxy;
  before(async () => {
    tmp = await makeTempDir('keepsake-upload-net-');
    certs = makeCertificates(tmp.dir);
    tlsServer = await startPlainTusServer({
      tls: { key: await readFile(certs.key, 'utf8'), cert: await readFile(certs.cert, 'utf8') },
    });
    proxy = await startFaultProxy({ targetPort: 0, connect: true });
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

describe('every vault call behind a corporate proxy that inspects TLS', () => {
  // The vault is reachable only as https://vault.test:PORT, a name only the proxy resolves,
  // with a certificate from a private CA: a call that skipped HTTPS_PROXY or dropped the CA
  // bundle fails instead of quietly going direct.
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let vault: TestVault;
  let tls: Awaited<ReturnType<typeof startTlsTerminator>>;
  let proxy: FaultProxy;
  let certs: ReturnType<typeof makeCertificates>;
  before(async () => {
    tmp = await makeTempDir('keepsake-upload-proxy-');
    certs = makeCertificates(tmp.dir);
    vault = await startTestVault();
    tls = await startTlsTerminator(certs, Number(new URL(vault.url).port));
    proxy = await startFaultProxy({ targetPort: 0, connect: true });
  });
  after(async () => {
    await proxy?.close();
    await tls?.close();
    await vault?.close();
    await tmp?.cleanup();
  });

  it('the CA bundle is added to the default CAs, never replacing them', () => {
    const trusted = trustedCertificates(certs.caFile);
    assert.equal(trusted.length, rootCertificates.length + 1);
    for (const root of rootCertificates) assert.ok(trusted.includes(root));
  });

  it('upload, dedup check, metadata, usage and health all go through HTTPS_PROXY with --ca-file', async () => {
    const endpoint = `https://vault.test:${tls.port}`;
    const env = { HTTPS_PROXY: proxy.url };
    const http = createHttpClient({ endpoint, caFile: certs.caFile, env, idleTimeoutMs: 10_000 });
    const client = createVaultClient({ endpoint, token: vault.token, http });
    const uploader = createTusUploader({
      endpoint,
      token: vault.token,
      http,
      logger: silentLogger,
      clock: systemClock,
    });
    try {
      assert.equal(http.proxy, `${proxy.url}/`);
      const job = await jobFor(corpusFile('exifr-fixtures/IMG_20180725_163423-tiny.jpg'));
      const before = await client.check([job.sha256]);
      assert.equal(before.has(job.sha256), false);
      await uploader.upload(job, recordingCallbacks(), new AbortController().signal);
      const after = await client.check([job.sha256, 'f'.repeat(64)]);
      assert.deepEqual([...after], [job.sha256]);
      const metadata: MediaMetadata = {
        captureTime: '2018-07-25T16:34:23+02:00',
        captureTimeSource: null,
        timeZone: null,
        gps: null,
        camera: null,
        width: 4,
        height: 3,
        durationSec: null,
        orientation: null,
        mime: 'image/jpeg',
      };
      await client.putMetadata(job.sha256, metadata);
      assert.equal((await client.usage()).assets, 1);
      assert.equal(await client.health(), true);
      assert.ok(proxy.tunnels.length > 0);
      for (const t of proxy.tunnels) assert.equal(t, `vault.test:${tls.port}`);
    } finally {
      await uploader.close();
      client.close();
      http.destroy();
    }
  });

  it('a tunnel that stalls mid-call: a retryable vault_unreachable, and the next call works', async () => {
    const endpoint = `https://vault.test:${tls.port}`;
    const client = createVaultClient({
      endpoint,
      token: vault.token,
      caFile: certs.caFile,
      env: { HTTPS_PROXY: proxy.url },
      timeoutMs: 1000,
    });
    try {
      proxy.setFault({ kind: 'stall', afterBytes: 100, once: true });
      const err = await client.check(['a'.repeat(64)]).catch((e: unknown) => e);
      assert.ok(err instanceof KeepsakeError, String(err));
      assert.equal(err.code, 'vault_unreachable');
      assert.equal(err.retryable, true);
      assert.deepEqual([...(await client.check(['a'.repeat(64)]))], []);
    } finally {
      proxy.setFault(null);
      client.close();
    }
  });

  it('without the CA bundle, the dedup check fails at once with the --ca-file hint', async () => {
    const endpoint = `https://vault.test:${tls.port}`;
    const client = createVaultClient({
      endpoint,
      token: vault.token,
      env: { HTTPS_PROXY: proxy.url },
    });
    try {
      const err = await client.check(['a'.repeat(64)]).catch((e: unknown) => e);
      assert.ok(err instanceof KeepsakeError, String(err));
      assert.equal(err.code, 'vault_unreachable');
      assert.equal(err.retryable, false);
      assert.match(err.message, /--ca-file/);
    } finally {
      client.close();
    }
  });
});
