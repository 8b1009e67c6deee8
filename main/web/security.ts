// The web UI's request gate, as pure functions (no sockets) so tests can assert each rule.
// Invariant: a request reaches the API or the renderer only when (1) its Host names this
// loopback server, (2) it does not come from another site's page, and (3) it carries the
// session cookie or the token. See [Note: Why Host and Origin both].
//
// [Note: Why Host and Origin both]
// DNS rebinding: a page on evil.example re-resolves its own name to 127.0.0.1 and then talks
// to us "same-origin" from the browser's view; its requests still say `Host: evil.example`,
// so only loopback Host names are accepted. Cross-site requests from a page that knows the
// port (CSRF, or reading SSE): the browser adds `Origin` (and `Sec-Fetch-Site`) that name the
// other site; both are refused. The cookie is SameSite=Strict and HttpOnly, so a cross-site
// page never sends it and page scripts never read it; the token is only in the URL once and
// is exchanged for the cookie with a redirect that drops it from the address bar.
import { timingSafeEqual } from 'node:crypto';

/** Content-Security-Policy for every response of the web UI: only our own scripts and styles,
 * API calls only to ourselves, never framed. */
export const webCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "media-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const webSecurityHeaders: Readonly<Record<string, string>> = {
  'Content-Security-Policy': webCsp,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/** Host header values that name this server: loopback names with our port, nothing else. */
export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

export function allowedOrigins(port: number): Set<string> {
  return new Set([...allowedHosts(port)].map((h) => `http://${h}`));
}

export interface GateInput {
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
}

export type GateVerdict = { ok: true } | { ok: false; status: number; reason: string };

/** Rules (1) and (2) of the module header: Host names us; no other site's page. */
export function checkHostAndOrigin(port: number, req: GateInput): GateVerdict {
  const host = (req.host ?? '').toLowerCase();
  if (!allowedHosts(port).has(host)) {
    return { ok: false, status: 421, reason: 'This server answers only to its loopback address.' };
  }
  if (req.origin !== undefined && !allowedOrigins(port).has(req.origin.toLowerCase())) {
    return { ok: false, status: 403, reason: 'Requests from other sites are refused.' };
  }
  const site = req.secFetchSite?.toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { ok: false, status: 403, reason: 'Requests from other sites are refused.' };
  }
  return { ok: true };
}

export function secretsEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

export function sessionCookieName(port: number): string {
  return `keepsake_ui_${port}`;
}

export function sessionCookie(port: number, secret: string): string {
  return `${sessionCookieName(port)}=${secret}; HttpOnly; SameSite=Strict; Path=/`;
}
