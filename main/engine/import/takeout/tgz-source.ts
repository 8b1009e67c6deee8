// A Takeout .tgz part, read in order (gzip has no index): the listing pass hashes every media
// entry and keeps each small JSON in memory, so nothing but the entries the vault lacks is
// ever read again, and those in one more pass (scan). The tar format is read here, without a
// library: ustar headers, GNU long names ('L') and pax records ('x': path, size, mtime), as
// GNU tar and Google write them (POSIX.1-2008 pax, GNU tar manual "Basic Tar Format").
// Invariant: nothing is written; a name that would leave the export is refused, never used.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type ExportEntry, type ExportSource, exportPath } from '../common/export-source.js';

const BLOCK = 512;
/** JSON up to this size is kept from the listing pass (sidecars are a few KiB). */
const KEEP_JSON_BYTES = 1024 * 1024;

interface TarEntry {
  name: string;
  size: number;
  mtimeMs: number;
  /** '0' regular file, '5' directory, ... */
  type: string;
  /** Its bytes; must be consumed (or abandoned) before the next entry is asked for. */
  body: AsyncGenerator<Buffer>;
}

/** Reads exact byte counts from an async iterable of chunks. */
class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Exactly n bytes, or null at a clean end of input. */
  async exact(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) {
      const r = await this.it.next();
      if (r.done) {
        if (this.buf.length === 0) return null;
        throw new Error('the archive ends in the middle of an entry');
      }
      this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Up to n bytes (at least 1). */
  async some(n: number): Promise<Buffer> {
    if (this.buf.length === 0) {
      const r = await this.it.next();
      if (r.done) throw new Error('the archive ends in the middle of an entry');
      this.buf = r.value;
    }
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  async skip(n: number): Promise<void> {
    for (let left = n; left > 0;) left -= (await this.some(left)).length;
  }
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul < 0 ? b : b.subarray(0, nul)).toString('utf8');
}

/** A numeric header field: octal text, or base-256 when the high bit is set (GNU). */
function tarNumber(b: Buffer): number {
  if (b.length > 0 && ((b[0] ?? 0) & 0x80) !== 0) {
    let n = (b[0] ?? 0) & 0x7f;
    for (let i = 1; i < b.length; i++) n = n * 256 + (b[i] ?? 0);
    return n;
  }
  const text = cString(b).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** "LEN key=value\n" records of a pax header. */
function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(data.subarray(at, space).toString('ascii'));
    if (!Number.isSafeInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The entries of a tar stream, in order. */
export async function* tarEntries(input: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(input[Symbol.asyncIterator]());
  let longName: string | null = null;
  let pax = new Map<string, string>();
  for (;;) {
    const header = await reader.exact(BLOCK);
    if (header === null || header.every((b) => b === 0)) return;
    const type = String.fromCharCode(header[156] ?? 0x30).replace('\0', '0');
    let size = tarNumber(header.subarray(124, 136));
    const magic = header.subarray(257, 262).toString('ascii');
    const prefix = magic === 'ustar' ? cString(header.subarray(345, 500)) : '';
    let name = cString(header.subarray(0, 100));
    if (prefix !== '') name = `${prefix}/${name}`;
    let mtimeMs = tarNumber(header.subarray(136, 148)) * 1000;
    if (type === 'L' || type === 'x' || type === 'g') {
      const data = await reader.exact(size);
      await reader.skip((BLOCK - (size % BLOCK)) % BLOCK);
      if (data === null) throw new Error('the archive ends in the middle of an entry');
      if (type === 'L') longName = cString(data);
      else if (type === 'x') pax = paxRecords(data);
      continue;
    }
    if (longName !== null) name = longName;
    const paxPath = pax.get('path');
    if (paxPath !== undefined) name = paxPath;
    const paxSize = pax.get('size');
    if (paxSize !== undefined && /^\d+$/.test(paxSize)) size = Number(paxSize);
    const paxMtime = pax.get('mtime');
    if (paxMtime !== undefined && Number.isFinite(Number(paxMtime))) {
      mtimeMs = Math.trunc(Number(paxMtime) * 1000);
    }
    longName = null;
    pax = new Map();
    const state = { left: size };
    const body = (async function* () {
      while (state.left > 0) {
        const chunk = await reader.some(state.left);
        state.left -= chunk.length;
        yield chunk;
      }
    })();
    yield { name, size, mtimeMs, type, body };
    await reader.skip(state.left);
    await reader.skip((BLOCK - (size % BLOCK)) % BLOCK);
  }
}

function gunzipped(file: string): Readable {
  const input = createReadStream(file);
  const gunzip = createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  return input.pipe(gunzip);
}

/** Lists (and hashes) one .tgz part. See the module header. */
export async function openTgzSource(file: string, signal?: AbortSignal): Promise<ExportSource> {
  const entries: ExportEntry[] = [];
  const refused: ExportSource['refused'] = [];
  const stream = gunzipped(file);
  try {
    for await (const e of tarEntries(stream)) {
      signal?.throwIfAborted();
      if (e.type !== '0' && e.type !== '7') continue; // files only (7: contiguous file)
      const path = exportPath(e.name);
      if (path === null) {
        refused.push({ path: e.name, message: 'the name leaves the export' });
        continue;
      }
      const base: Omit<ExportEntry, 'open'> = {
        path,
        size: e.size,
        mtimeMs: e.mtimeMs,
        part: file,
        diskPath: null,
      };
      if (/\.json$/i.test(path) && e.size <= KEEP_JSON_BYTES) {
        const data = await collect(e.body);
        entries.push({ ...base, open: () => Promise.resolve(Readable.from([data])) });
        continue;
      }
      const hash = createHash('sha256');
      for await (const chunk of e.body) hash.update(chunk);
      entries.push({
        ...base,
        sha256: hash.digest('hex'),
        open: () => openOne(file, path),
      });
    }
  } finally {
    stream.destroy();
  }
  return {
    part: file,
    entries,
    refused,
    scan: (wanted, scanSignal) => scanTgz(file, wanted, scanSignal),
    close: () => undefined,
  };
}

/** One more pass, handing out the bytes of the wanted paths as they come. */
async function* scanTgz(
  file: string,
  wanted: ReadonlySet<string>,
  signal: AbortSignal,
): AsyncGenerator<{ path: string; body: Readable }> {
  const stream = gunzipped(file);
  try {
    for await (const e of tarEntries(stream)) {
      signal.throwIfAborted();
      const path = exportPath(e.name);
      if (path === null || !wanted.has(path) || (e.type !== '0' && e.type !== '7')) continue;
      yield { path, body: Readable.from(e.body) };
    }
  } finally {
    stream.destroy();
  }
}

/** A single entry's bytes (a whole pass: used only outside the import's own flow). */
async function openOne(file: string, path: string): Promise<Readable> {
  for await (const found of scanTgz(file, new Set([path]), new AbortController().signal)) {
    // Buffer it: the pass cannot stay open past this call.
    return Readable.from([await collect(found.body)]);
  }
  throw new Error(`${path} is no longer in ${file}`);
}
