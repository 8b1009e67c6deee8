// Makes every error response @tus/server writes a JSON error body ({"error", "message"}), as
// the rest of the vault's. Most tus errors pass through onResponseError, but a few are
// written directly (412, 400 for a malformed header, 404 for an unknown method), as text.
// This adapter holds back the head of a >= 400 response, collects its (small) body, and
// sends it as JSON with the right Content-Type and Content-Length. Success responses pass
// through untouched.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { codeForStatus } from './http-error.js';

type Callback = (err?: Error | null) => void;

function headerPairs(args: unknown[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const arg of args) {
    if (Array.isArray(arg)) {
      for (let i = 0; i + 1 < arg.length; i += 2) pairs.push([String(arg[i]), String(arg[i + 1])]);
    } else if (typeof arg === 'object' && arg !== null) {
      for (const [k, v] of Object.entries(arg as OutgoingHttpHeaders)) {
        if (v !== undefined) pairs.push([k, Array.isArray(v) ? v.join(', ') : String(v)]);
      }
    }
  }
  return pairs.filter(([k]) => !/^content-(type|length)$/i.test(k));
}

export function toJsonErrorBody(status: number, text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return trimmed;
  return JSON.stringify({ error: codeForStatus(status), message: trimmed || `HTTP ${status}` });
}

export function sendErrorsAsJson(res: ServerResponse): void {
  const realWriteHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  const realWrite = res.write.bind(res) as (...args: unknown[]) => boolean;
  const realEnd = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  let held: { status: number; headers: [string, string][] } | undefined;
  const body: Buffer[] = [];

  res.writeHead = (status: number, ...rest: unknown[]) => {
    if (status < 400) return realWriteHead(status, ...rest);
    held = { status, headers: headerPairs(rest) };
    return res;
  };

  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!held) return realWrite(chunk, ...rest);
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) body.push(Buffer.from(chunk));
    const cb = rest.find((r) => typeof r === 'function') as Callback | undefined;
    if (cb) process.nextTick(cb);
    return true;
  }) as typeof res.write;

  res.end = ((...args: unknown[]) => {
    if (!held) return realEnd(...args);
    const [chunk] = args;
    if (typeof chunk === 'string' || chunk instanceof Uint8Array) body.push(Buffer.from(chunk));
    const cb = args.find((a) => typeof a === 'function') as Callback | undefined;
    const text = toJsonErrorBody(held.status, Buffer.concat(body).toString('utf8'));
    const flat = held.headers.flat();
    flat.push('Content-Type', 'application/json; charset=utf-8');
    flat.push('Content-Length', String(Buffer.byteLength(text)));
    realWriteHead(held.status, flat);
    return cb ? realEnd(text, cb) : realEnd(text);
  }) as typeof res.end;
}
