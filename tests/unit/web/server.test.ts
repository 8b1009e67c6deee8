// The web UI's gate and transport (main/web/server.ts) over real HTTP on loopback: nothing is
// served without the token or its cookie, DNS-rebinding Hosts and other sites' pages get
// nothing, commands are validated and answered as Envelopes, events arrive over SSE.
// The engine here is a small recording stand-in: these tests are about the transport; the
// e2e tests (tests/e2e/) drive the same server in front of the real engine.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { writeFile, mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commands, type CommandName, type KeepsakeApi } from '../../../common/contract.js';
import type { Engine } from '../../../main/engine/api.js';
import { silentLogger } from '../../../main/engine/ports.js';
import { startWebUi, type WebUi } from '../../../main/web/server.js';
import { makeTempDir } from '../../support/paths.js';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { Host: `127.0.0.1:${port}`, ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('web UI server', () => {
  let ui: WebUi;
  let cookie: string;
  let cleanup: () => Promise<void>;
  const emitter = new EventEmitter();
  const calls: { name: string; args: unknown }[] = [];
  const api = Object.fromEntries(
    (Object.keys(commands) as CommandName[]).map((name) => [
      name,
      (args: unknown) => {
        calls.push({ name, args });
        if (name === 'files.retryAll') return Promise.resolve({ retried: 3 });
        return Promise.resolve({ ok: true });
      },
    ]),
  ) as unknown as KeepsakeApi;
  const engine: Pick<Engine, 'api' | 'on'> = {
    api,
    on: (event, listener) => {
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    },
  };

  before(async () => {
    const tmp = await makeTempDir('keepsake-web-');
    cleanup = tmp.cleanup;
    await mkdir(join(tmp.dir, 'assets'));
    await writeFile(join(tmp.dir, 'index.html'), '<!doctype html><title>Keepsake</title>');
    await writeFile(join(tmp.dir, 'assets', 'app.js'), 'export {};');
    await writeFile(join(tmp.dir, '..', 'secret-beside.txt'), 'not for the web').catch(() => {});
    ui = await startWebUi({ engine, port: 0, logger: silentLogger, rendererDir: tmp.dir });
    const res = await http(ui.port, `/?token=${ui.token}`);
    const setCookie = res.headers['set-cookie']?.[0] ?? '';
    cookie = setCookie.split(';')[0] ?? '';
  });
  after(async () => {
    await ui?.close();
    await cleanup?.();
  });

  it('prints a loopback URL carrying the token', () => {
    assert.equal(ui.url, `http://127.0.0.1:${ui.port}/?token=${ui.token}`);
    assert.ok(ui.token.length >= 32);
  });

  it('exchanges the token once for an HttpOnly SameSite=Strict cookie and drops it from the URL', async () => {
    const res = await http(ui.port, `/?token=${encodeURIComponent(ui.token)}`);
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, '/');
    const setCookie = String(res.headers['set-cookie']);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.ok(!setCookie.includes(ui.token), 'the cookie is not the token itself');
  });

  it('refuses every request without the token or cookie', async () => {
    for (const [path, method] of [
      ['/', 'GET'],
      ['/assets/app.js', 'GET'],
      ['/api/events', 'GET'],
      ['/api/invoke/status.get', 'POST'],
    ] as const) {
      const res = await http(ui.port, path, {
        method,
        headers: { 'Content-Type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      assert.equal(res.status, 401, `${method} ${path}`);
    }
    const wrong = await http(ui.port, '/?token=not-the-token');
    assert.equal(wrong.status, 401);
    const wrongCookie = await http(ui.port, '/', {
      headers: { Cookie: `keepsake_ui_${ui.port}=guess` },
    });
    assert.equal(wrongCookie.status, 401);
    assert.deepEqual(
      calls.filter((c) => c.name === 'status.get'),
      [],
    );
  });

  it('serves the renderer with a strict CSP once the cookie is set', async () => {
    const res = await http(ui.port, '/', { headers: { Cookie: cookie } });
    assert.equal(res.status, 200);
    assert.match(res.body, /<title>Keepsake<\/title>/);
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });

  it('never serves a file outside the renderer folder', async () => {
    for (const path of [
      '/../secret-beside.txt',
      '/%2e%2e/secret-beside.txt',
      '/assets/..%2f..%2fsecret-beside.txt',
    ]) {
      const res = await http(ui.port, path, { headers: { Cookie: cookie } });
      assert.notEqual(res.status, 200, path);
      assert.ok(!res.body.includes('not for the web'), path);
    }
  });

  it('answers malformed percent-encoding in a path with 400, not 500', async () => {
    for (const path of ['/%E0%A4%A', '/assets/%zz.js', '/api/invoke/status.%E0']) {
      const res = await http(ui.port, path, {
        method: path.startsWith('/api/') ? 'POST' : 'GET',
        headers: { Cookie: cookie },
      });
      assert.equal(res.status, 400, path);
    }
  });

  it('answers nothing to a Host that is not its loopback address (DNS rebinding)', async () => {
    for (const host of [`evil.example:${ui.port}`, 'localhost', `127.0.0.1:${ui.port + 1}`]) {
      const res = await http(ui.port, '/api/invoke/files.retryAll', {
        method: 'POST',
        headers: { Host: host, Cookie: cookie, 'Content-Type': 'application/json' },
        body: '{}',
      });
      assert.equal(res.status, 421, `Host ${host}`);
    }
    assert.deepEqual(
      calls.filter((c) => c.name === 'files.retryAll'),
      [],
    );
  });

  it('answers nothing to a page from another site, even one that has the cookie', async () => {
    for (const headers of [
      { Origin: 'http://evil.example' },
      { Origin: `http://127.0.0.1:${ui.port + 1}` },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' },
    ] as Record<string, string>[]) {
      const res = await http(ui.port, '/api/invoke/files.retryAll', {
        method: 'POST',
        headers: { ...headers, Cookie: cookie, 'Content-Type': 'application/json' },
        body: '{}',
      });
      assert.equal(res.status, 403, JSON.stringify(headers));
      const events = await http(ui.port, '/', { headers: { ...headers, Cookie: cookie } });
      assert.equal(events.status, 403);
    }
    assert.deepEqual(
      calls.filter((c) => c.name === 'files.retryAll'),
      [],
    );
  });

  it('runs a command for its own page and answers an Envelope', async () => {
    const res = await http(ui.port, '/api/invoke/files.retryAll', {
      method: 'POST',
      headers: {
        Cookie: cookie,
        Origin: `http://127.0.0.1:${ui.port}`,
        'Sec-Fetch-Site': 'same-origin',
        'Content-Type': 'application/json',
      },
      body: '{}',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { ok: true, value: { retried: 3 } });
  });

  it('accepts the token as a bearer header for scripts', async () => {
    const res = await http(ui.port, '/api/invoke/files.retryAll', {
      method: 'POST',
      headers: { Authorization: `Bearer ${ui.token}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.deepEqual(JSON.parse(res.body), { ok: true, value: { retried: 3 } });
  });

  it('answers malformed arguments, bad JSON and unknown commands with errors as data', async () => {
    const post = (path: string, body: string, type = 'application/json') =>
      http(ui.port, path, {
        method: 'POST',
        headers: { Cookie: cookie, 'Content-Type': type },
        body,
      });
    const bad = JSON.parse((await post('/api/invoke/files.retry', '{"id":"x"}')).body) as {
      ok: boolean;
      error: { code: string; message: string };
    };
    assert.equal(bad.ok, false);
    assert.equal(bad.error.code, 'invalid_argument');
    assert.match(bad.error.message, /files\.retry/);
    const notJson = await post('/api/invoke/files.retry', '{id:');
    assert.equal(notJson.status, 400);
    assert.match(notJson.body, /not valid JSON/);
    const unknown = JSON.parse((await post('/api/invoke/shell.exec', '{}')).body) as {
      ok: boolean;
    };
    assert.equal(unknown.ok, false);
    // A form post (no preflight for cross-site pages) is refused by its content type.
    const form = await post(
      '/api/invoke/files.retryAll',
      'a=1',
      'application/x-www-form-urlencoded',
    );
    assert.equal(form.status, 415);
    assert.deepEqual(
      calls.filter((c) => c.name === 'files.retry'),
      [],
    );
  });

  it('streams engine events as Server-Sent Events and drops payloads that break the contract', async () => {
    const received = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: ui.port,
          path: '/api/events',
          headers: { Host: `127.0.0.1:${ui.port}`, Cookie: cookie },
        },
        (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
            if (text.includes(': connected') && !text.includes('event:')) {
              emitter.emit('activity', { bogus: true });
              emitter.emit('activity', {
                id: 1,
                at: 1700000000000,
                level: 'info',
                message: 'Backed up IMG_0001.JPG',
                path: '/p/IMG_0001.JPG',
                code: null,
              });
            }
            if (text.includes('IMG_0001')) {
              req.destroy();
              resolve(text);
            }
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.match(received, /event: activity\ndata: \{"id":1,/);
    assert.ok(!received.includes('bogus'));
    // The subscription ends with the connection.
    await waitFor(() => emitter.listenerCount('activity') === 0);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
