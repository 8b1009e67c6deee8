// The one HTTP transport to the vault: every call (tus, batch, dedup check, metadata, usage,
// health) goes through the got instance built here, with keep-alive agents, the proxy chosen
// from HTTP_PROXY/HTTPS_PROXY/NO_PROXY (or given explicitly), and Node's default CAs extended
// by an optional CA bundle. It never retries and never throws on a status: the response
// table (response-table.ts) decides what every status means.
//
// Invariants: TLS certificates are always verified (there is no switch to turn that off);
// no overall request timeout exists (a long PATCH must not be cut), only an idle-socket one.
//
// [Note: Proxies and loopback]
// hpagent tunnels through the proxy with CONNECT, for https and http targets alike, and
// keeps tunnels alive between requests. Proxy variables from the environment are ignored
// for loopback targets (localhost, 127.0.0.0/8, ::1), as Go's net/http does: the embedded
// vault listens on 127.0.0.1 and a corporate proxy can never reach it. An explicit
// `proxyUrl` is used for every target, loopback included.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import got, { type Got } from 'got';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import { KeepsakeError } from '../errors.js';

export interface HttpClientOptions {
  /** The vault base URL; the proxy decision is made once for its origin. */
  endpoint: string;
  caFile?: string;
  /** undefined = from the environment; null = never; a URL = always (loopback included). */
  proxyUrl?: string | null;
  env?: NodeJS.ProcessEnv;
  /** A socket silent for this long fails the request (network fault, retried). */
  idleTimeoutMs: number;
  connectTimeoutMs?: number;
  maxSockets?: number;
}

export interface HttpClient {
  got: Got;
  /**
   * A bare node:http(s) request through the same agents (keep-alive, proxy, CAs) with the
   * same idle-socket timeout (an ETIMEDOUT error), for hot paths where got's per-request
   * cost shows (restore fetching thousands of small contents). The caller ends it.
   */
  request(
    url: URL,
    options: { method: string; headers: Record<string, string>; signal?: AbortSignal },
  ): http.ClientRequest;
  /** The proxy in use for the endpoint, without credentials (for logs), or null. */
  proxy: string | null;
  destroy(): void;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const target = new URL(options.endpoint);
  const proxyUrl =
    options.proxyUrl === undefined
      ? proxyFromEnvironment(target, options.env ?? process.env)
      : options.proxyUrl;

  const ca = options.caFile === undefined ? undefined : trustedCertificates(options.caFile);

  const agentOptions = {
    keepAlive: true,
    keepAliveMsecs: 1000,
    maxSockets: options.maxSockets ?? 32,
    maxFreeSockets: 16,
    scheduling: 'lifo' as const,
  };
  const tlsOptions = { rejectUnauthorized: true, ...(ca ? { ca } : {}) };
  const agents: { http: http.Agent; https: https.Agent } = proxyUrl
    ? {
        http: new HttpProxyAgent({ ...agentOptions, proxy: proxyUrl }),
        https: new HttpsProxyAgent({ ...agentOptions, ...tlsOptions, proxy: proxyUrl }),
      }
    : {
        http: new http.Agent(agentOptions),
        https: new https.Agent({ ...agentOptions, ...tlsOptions }),
      };

  const client = got.extend({
    agent: agents,
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    decompress: false,
    http2: false,
    https: {
      rejectUnauthorized: true,
      ...(ca ? { certificateAuthority: ca } : {}),
    },
    timeout: {
      connect: options.connectTimeoutMs ?? 15_000,
      socket: options.idleTimeoutMs,
    },
    hooks: {},
  });

  return {
    got: client,
    request(url, { method, headers, signal }) {
      const https_ = url.protocol === 'https:';
      const req = (https_ ? https : http).request(url, {
        method,
        headers,
        agent: https_ ? agents.https : agents.http,
        ...(signal ? { signal } : {}),
      });
      req.setTimeout(options.idleTimeoutMs, () => {
        const err = new Error(`no data for ${options.idleTimeoutMs} ms`);
        req.destroy(Object.assign(err, { code: 'ETIMEDOUT' }));
      });
      return req;
    },
    proxy: proxyUrl ? redactUrl(proxyUrl) : null,
    destroy() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/**
 * The certificates a TLS connection trusts when a CA bundle is given: Node's default root
 * CAs plus the bundle. Extend, never replace: a vault with a public certificate keeps working
 * behind an inspecting proxy. Throws invalid_argument for an unreadable or non-PEM file.
 */
export function trustedCertificates(caFile: string): string[] {
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new KeepsakeError(
      'invalid_argument',
      `Could not read the CA bundle ${caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
      false,
      { cause: err },
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new KeepsakeError(
      'invalid_argument',
      `${caFile} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----").`,
    );
  }
  return [...rootCertificates, pem];
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\./.test(h);
}

/**
 * The proxy for `target` according to HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY (either
 * case; lower case wins, as in curl), or null. NO_PROXY holds comma-separated host names,
 * domain suffixes (".example.com" or "example.com" both match sub.example.com), optional
 * ":port", or "*". See [Note: Proxies and loopback].
 */
export function proxyFromEnvironment(target: URL, env: NodeJS.ProcessEnv): string | null {
  if (isLoopback(target.hostname)) return null;
  const pick = (name: string): string | undefined => {
    const v = env[name.toLowerCase()] ?? env[name.toUpperCase()];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const proxy =
    (target.protocol === 'https:' ? pick('https_proxy') : pick('http_proxy')) ?? pick('all_proxy');
  if (proxy === undefined) return null;
  const noProxy = pick('no_proxy');
  if (noProxy !== undefined) {
    const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = target.port || (target.protocol === 'https:' ? '443' : '80');
    for (const raw of noProxy.split(/[\s,]+/)) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      if (entry === '*') return null;
      const m = /^(.*?)(?::(\d+))?$/.exec(entry);
      const name = (m?.[1] ?? entry).replace(/^\*?\./, '').replace(/^\[|\]$/g, '');
      const entryPort = m?.[2];
      if (entryPort !== undefined && entryPort !== port) continue;
      if (host === name || host.endsWith(`.${name}`)) return null;
    }
  }
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

/** A URL fit for logs and errors: no credentials, no token-like query parameters. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    for (const key of [...u.searchParams.keys()]) {
      if (/token|key|sig|auth/i.test(key)) u.searchParams.set(key, 'REDACTED');
    }
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
