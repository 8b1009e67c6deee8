// The vault on a network (issue 9, item 15): HTTPS with --tls-cert/--tls-key (a CA and a
// certificate made by openssl here, the client trusting only that CA); a warning on stderr
// when it listens beyond loopback in clear text; stalled and idle connections cut (raw
// sockets); no CORS grant to other origins; names with control characters refused with 400.
// See [Note: Vault timeouts] and [Note: Plain HTTP on a network] in server/listener.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir } from '../support/paths.js';
import {
  sha256Hex,
  spawnVaultProcess,
  startTestVault,
  tusCreate,
  tusHead,
  tusPatch,
  TUS,
  uploadMetadata,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';

/** A CA and a certificate for 127.0.0.1 signed by it, as PEM files in `dir`. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Keepsake test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'vault.key',
    '-out',
    'vault.csr',
  ]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run([
    'x509',
    '-req',
    '-in',
    'vault.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'san.ext',
    '-out',
    'vault.pem',
  ]);
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'vault.pem'), key: join(dir, 'vault.key') };
}

function httpsGet(
  url: string,
  opts: { ca?: Buffer; token?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        ca: opts.ca,
        headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
        timeout: 20_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => (body += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

/** Resolves with what the server sent once it closes the socket. */
function untilClosed(socket: Socket): Promise<string> {
  let received = '';
  socket.setEncoding('latin1').on('data', (s: string) => (received += s));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve(received)));
}

function rawSocket(vault: TestVault): Promise<Socket> {
  const { hostname, port } = new URL(vault.url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: hostname, port: Number(port) }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('vault on a network: HTTPS and the clear-text warning', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('with --tls-cert and --tls-key it serves HTTPS that a client trusting the CA accepts', async () => {
    const temp = await makeTempDir('keepsake-vault-tls-');
    cleanups.push(temp.cleanup);
    const pem = makeCertificates(temp.dir);
    const vault = await spawnVaultProcess({
      dataDir: join(temp.dir, 'vault'),
      token: 'network-test-token',
      extraArgs: ['--tls-cert', pem.cert, '--tls-key', pem.key],
    });
    cleanups.push(() => vault.kill9());
    assert.match(vault.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = await readFile(pem.ca);
    const health = await httpsGet(`${vault.url}/healthz`, { ca });
    assert.equal(health.status, 200);
    const usage = await httpsGet(`${vault.url}/api/v1/usage`, { ca, token: vault.token });
    assert.equal(usage.status, 200, usage.body);
    // A client that does not trust the CA refuses the connection.
    await assert.rejects(httpsGet(`${vault.url}/healthz`, {}), /certificate/i);
    // Plain HTTP to the HTTPS port gets no answer a client would take for the vault's.
    const plain = await fetch(vault.url.replace('https:', 'http:') + '/healthz').then(
      (r) => r.status,
      () => 'refused',
    );
    assert.notEqual(plain, 200);
    assert.doesNotMatch(vault.output().stderr, /clear text/);
    assert.equal(await vault.stop(), 0);
  });

  it('refuses a certificate without its key, and an unreadable one, with a clear message', async () => {
    const temp = await makeTempDir('keepsake-vault-tls-');
    cleanups.push(temp.cleanup);
    await assert.rejects(
      spawnVaultProcess({
        dataDir: join(temp.dir, 'vault'),
        token: 'network-test-token',
        extraArgs: ['--tls-cert', join(temp.dir, 'none.pem')],
        startTimeoutMs: 20_000,
      }),
      /--tls-cert and --tls-key go together/,
    );
    await writeFile(join(temp.dir, 'key.pem'), 'not a key');
    await assert.rejects(
      spawnVaultProcess({
        dataDir: join(temp.dir, 'vault'),
        token: 'network-test-token',
        extraArgs: [
          '--tls-cert',
          join(temp.dir, 'missing.pem'),
          '--tls-key',
          join(temp.dir, 'key.pem'),
        ],
        startTimeoutMs: 20_000,
      }),
      /cannot read the TLS certificate .*missing\.pem: ENOENT/,
    );
  });

  it('listening on 0.0.0.0 without TLS warns that the token and photos travel in clear text', async () => {
    const temp = await makeTempDir('keepsake-vault-net-');
    cleanups.push(temp.cleanup);
    const vault = await spawnVaultProcess({
      dataDir: temp.dir,
      token: 'network-test-token',
      host: '0.0.0.0',
    });
    cleanups.push(() => vault.kill9());
    const { stderr } = vault.output();
    assert.match(stderr, /warning: .*without TLS: the token and photos travel in clear text/);
    assert.match(stderr, /--tls-cert/);
    const port = new URL(vault.url).port;
    const local = { url: `http://127.0.0.1:${port}`, token: vault.token };
    assert.equal((await vaultFetch(local, '/api/v1/usage')).status, 200);
    assert.equal(await vault.stop(), 0);
  });
});

describe('vault on a network: stalled and idle connections are cut', () => {
  let vault: TestVault;
  before(async () => {
    vault = await startTestVault({
      timeouts: {
        bodyIdleMs: 300,
        headersTimeoutMs: 500,
        checkIntervalMs: 100,
        keepAliveTimeoutMs: 300,
      },
    });
  });
  after(async () => {
    await vault?.close();
  });

  it('an upload whose body stalls is cut, keeps the bytes it stored, and resumes', async () => {
    const data = Buffer.alloc(1000, 5);
    const created = await tusCreate(vault, {
      size: data.length,
      metadata: { filename: 'stalled.jpg', sha256: sha256Hex(data) },
    });
    assert.equal(created.res.status, 201, created.text);
    const location = created.location!;
    const socket = await rawSocket(vault);
    const closed = untilClosed(socket);
    socket.write(
      [
        `PATCH ${new URL(location, vault.url).pathname} HTTP/1.1`,
        `Host: 127.0.0.1`,
        `Authorization: Bearer ${vault.token}`,
        'Tus-Resumable: 1.0.0',
        'Upload-Offset: 0',
        'Content-Type: application/offset+octet-stream',
        `Content-Length: ${data.length}`,
        '',
        '',
      ].join('\r\n'),
    );
    socket.write(data.subarray(0, 100));
    await closed; // then nothing more: the vault hangs up
    const head = await tusHead(vault, location);
    assert.equal(head.status, 200);
    const kept = head.offset ?? -1;
    assert.ok(kept >= 0 && kept <= 100, `kept ${kept}`);
    const rest = await tusPatch(vault, location, kept, data.subarray(kept));
    assert.equal(rest.res.status, 204, rest.text);
  });

  it('a client that never finishes its headers is cut', async () => {
    const socket = await rawSocket(vault);
    const closed = untilClosed(socket);
    socket.write('POST /files/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n');
    const received = await closed;
    assert.ok(received === '' || received.startsWith('HTTP/1.1 408'), received);
  });

  it('an idle keep-alive connection is closed', async () => {
    const socket = await rawSocket(vault);
    const closed = untilClosed(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    const received = await closed;
    assert.match(received, /^HTTP\/1\.1 200/);
  });
});

describe('vault on a network: what it accepts from other origins and in names', () => {
  let vault: TestVault;
  before(async () => {
    vault = await startTestVault();
  });
  after(async () => {
    await vault?.close();
  });

  it('grants no other origin access (no Access-Control-Allow-Origin anywhere)', async () => {
    const origin = { Origin: 'https://evil.example' };
    const responses = [
      await vaultFetch(vault, '/healthz', { headers: origin }),
      await vaultFetch(vault, '/api/v1/usage', { headers: origin }),
      await vaultFetch(vault, '/api/v1/nope', { headers: origin }),
      await vaultFetch(vault, '/files/', {
        method: 'OPTIONS',
        headers: {
          ...origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization, tus-resumable',
        },
      }),
      await vaultFetch(vault, '/files/', {
        method: 'POST',
        headers: { ...origin, ...TUS, 'Upload-Length': '3' },
      }),
      await vaultFetch(vault, '/files/', { method: 'POST', headers: { ...TUS } }),
    ];
    for (const res of responses) {
      assert.equal(res.headers.get('access-control-allow-origin'), null, res.url);
      assert.equal(res.headers.get('access-control-allow-credentials'), null, res.url);
      await res.body?.cancel();
    }
  });

  it('refuses file names and paths with control characters (newline, tab, escape) with 400', async () => {
    const sha256 = sha256Hex('x');
    const cases: Record<string, string>[] = [
      { filename: 'evil\nname.jpg', sha256 },
      { filename: 'tab\there.jpg', sha256 },
      { filename: 'esc\x1b[31m.jpg', sha256 },
      { filename: 'ok.jpg', sha256, relpath: 'folder/line\rbreak.jpg' },
    ];
    for (const metadata of cases) {
      const res = await vaultFetch(vault, '/files/', {
        method: 'POST',
        headers: { ...TUS, 'Upload-Length': '1', 'Upload-Metadata': uploadMetadata(metadata) },
      });
      const text = await res.text();
      assert.equal(res.status, 400, `${JSON.stringify(metadata)}: ${text}`);
      assert.match((JSON.parse(text) as { message: string }).message, /control characters|relpath/);
    }
    assert.deepEqual(await readdir(join(vault.dataDir, 'uploads')), []);
  });
});
