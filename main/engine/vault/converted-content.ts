// The client side of GET /api/v1/assets/:sha256/content?format=jpeg|mp4 (issue 15 section 4,
// See common/vault-protocol.ts): a compatible copy the vault makes on request, streamed into
// a file. Invariant: a file is left at `dest` only when the vault answered 200 and the whole
// body arrived; a refusal is a KeepsakeError carrying the vault's reason.
import { open, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import {
  CONVERSION_HEADER,
  type ConversionSource,
  type ConvertFormat,
} from '../../../common/vault-protocol.js';
import { KeepsakeError } from '../errors.js';
import type { HttpClient } from './http-client.js';
import { errorForNetworkFault, errorForStatus } from './response-table.js';

export interface ConvertSource {
  http: HttpClient;
  /** vault base URL, no trailing slash */
  endpoint: string;
  token: string;
}

function urlOf(source: ConvertSource, sha256: string, format: ConvertFormat): string {
  return `${source.endpoint}/api/v1/assets/${sha256}/content?format=${format}`;
}

async function ask(
  source: ConvertSource,
  method: 'GET' | 'HEAD',
  url: string,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const req = source.http.request(new URL(url), {
    method,
    headers: { authorization: `Bearer ${source.token}` },
    signal,
  });
  try {
    return await new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
      req.end();
    });
  } catch (err) {
    req.destroy();
    throw errorForNetworkFault(err, 'convert a file', method, url, signal);
  }
}

async function refusal(res: IncomingMessage, method: string, url: string): Promise<Error> {
  let body = '';
  res.setEncoding('utf8');
  for await (const chunk of res) if (body.length < 8192) body += chunk as string;
  return errorForStatus(
    {
      method,
      url,
      status: res.statusCode ?? 0,
      body,
      retryAfter: res.headers['retry-after'],
      nowMs: Date.now(),
    },
    'convert a file',
  );
}

function sourceOf(res: IncomingMessage): ConversionSource | null {
  const v = res.headers[CONVERSION_HEADER];
  return typeof v === 'string' ? (v as ConversionSource) : null;
}

/** How the vault would make this copy (a HEAD: nothing is converted yet). */
export async function conversionPlan(
  source: ConvertSource,
  sha256: string,
  format: ConvertFormat,
  signal: AbortSignal,
): Promise<ConversionSource | null> {
  const url = urlOf(source, sha256, format);
  const res = await ask(source, 'HEAD', url, signal);
  if (res.statusCode !== 200) throw await refusal(res, 'HEAD', url);
  res.resume();
  return sourceOf(res);
}

/**
 * Streams the vault's converted copy of `sha256` into `dest` (created; must not exist).
 * Returns how the vault made it and the bytes written.
 */
export async function fetchConverted(
  source: ConvertSource,
  sha256: string,
  format: ConvertFormat,
  dest: Buffer | string,
  signal: AbortSignal,
): Promise<{ made: ConversionSource | null; bytes: number }> {
  const url = urlOf(source, sha256, format);
  const res = await ask(source, 'GET', url, signal);
  if (res.statusCode !== 200) throw await refusal(res, 'GET', url);
  const fh = await open(dest, 'wx', 0o644);
  let bytes = 0;
  try {
    try {
      for await (const chunk of res) {
        const buf = chunk as Buffer;
        await fh.write(buf, 0, buf.length);
        bytes += buf.length;
      }
    } catch (err) {
      throw errorForNetworkFault(err, 'convert a file', 'GET', url, signal);
    }
    if (!res.complete) {
      throw new KeepsakeError(
        'vault_unreachable',
        'the converted copy did not arrive whole (the vault ended the conversion early)',
      );
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(dest, { force: true });
    throw err;
  }
  await fh.close();
  return { made: sourceOf(res), bytes };
}
