// File names as the engine carries them: a JS string that holds the exact bytes of a name,
// even a name that is not valid UTF-8. Invariant: rawPathBytes(decodeRawName(b)) equals b for
// every byte string b, and two different byte strings never decode to the same string.
//
// [Note: Names that are not UTF-8]
// On Linux a file name is any bytes but '/' and NUL. Old Windows tools, Samba shares and zip
// archives leave names in Latin-1 or CP437 ("caf\xe9.jpg"), which are not valid UTF-8. Node
// decodes names with the 'utf8' encoding by default, turning each bad byte into U+FFFD; the
// later lstat or open of that string then asks for a different name (EF BF BD on disk) and
// fails, so such a photo never reached the database or any count.
//
// The engine keeps its paths as strings (the store, the queue, the contract all key on them),
// so an exact name is carried inside a string the way Python's "surrogateescape" (PEP 383)
// does: each byte that is not part of a valid UTF-8 sequence becomes the lone surrogate
// U+DC00 + byte (0x80..0xFF -> U+DC80..U+DCFF). A valid UTF-8 name decodes exactly as Node
// decodes it, and no valid name ever decodes to a lone surrogate, so the mapping is one to one:
// "caf\xe9.jpg" and "caf\xe8.jpg" stay two names although both show as "caf\uFFFD.jpg".
// - Discovery: the scan lists folders as strings (the fast path) and lists a folder again with
//   encoding 'buffer' only when a name came back with U+FFFD in it (measured on a folder of
//   20,000 names: listing as strings and looking for U+FFFD costs 4 % more than listing alone,
//   listing as Buffers and decoding each name 130 % more; a whole scan of those 20,000 files
//   took as long as before this change: medians 770 and 763 ms, runs interleaved). The watcher
//   does the same for an event whose name holds U+FFFD (see watcher.ts).
// - Every filesystem call on a file of a watched folder goes through fsPath(): the exact
//   bytes as a Buffer when the path holds an escaped byte, the string itself otherwise.
// - The store keeps the exact bytes of such a path in a BLOB column beside the text (see
//   migration 0010 in store/migrations.ts); the vault gets them as base64 (pathB64 of a
//   location), and restore writes the name back from those bytes.
// - The labels an upload carries (Upload-Metadata and batch-frame filename/relpath) and the
//   originalPath in a file's metadata are informational and sent as displayPath() (the vault
//   wants valid text there); no raw-bytes field was added to those, so older vaults and clients
//   are unaffected. The one place the vault keeps exact bytes is the location (pathB64).
// - What a person reads (status, `keepsake files`, the UI, logs) is displayPath(): each
//   escaped byte shows as U+FFFD. Writing such a string to a terminal or the browser shows
//   U+FFFD too (both encode a lone surrogate as U+FFFD), so only JSON needs the explicit call
//   (displayJson; `keepsake files --json` adds the exact bytes as base64 beside it).
// macOS (APFS, HFS+) does not let such names exist on its own disks, so there the escape is
// never produced. Windows names are UTF-16: one holding an unpaired surrogate is a different
// case, not handled here. A watched folder whose own path is not UTF-8 cannot be named on the
// command line losslessly either (argv is decoded as UTF-8): also not handled here.

/** A lone surrogate: with the u flag a valid surrogate pair is one code point, not a match. */
const loneSurrogate = /\p{Cs}/u;
const loneSurrogates = /\p{Cs}/gu;
const splitLoneSurrogates = /(\p{Cs})/u;
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/** The length of the valid UTF-8 sequence starting at i, or 0 when the byte there is not one. */
function validSequenceLength(b: Buffer, i: number): number {
  const c = b[i] as number;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no encoded surrogates
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * A name or path as the engine carries it, from the bytes the OS gave: the same string Node
 * would make when the bytes are valid UTF-8, with each other byte escaped as a lone surrogate.
 * See [Note: Names that are not UTF-8].
 */
export function decodeRawName(bytes: Buffer): string {
  const plain = bytes.toString('utf8');
  // valid UTF-8 decodes without U+FFFD unless the name holds a real U+FFFD: check exactly
  if (!plain.includes('\uFFFD')) return plain;
  let out = '';
  let run = 0;
  for (let i = 0; i < bytes.length;) {
    const n = validSequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += bytes.toString('utf8', run, i) + String.fromCharCode(0xdc00 + (bytes[i] as number));
    i++;
    run = i;
  }
  return out + bytes.toString('utf8', run);
}

/** true when the path holds an escaped byte (its name is not valid UTF-8). */
export function hasRawBytes(path: string): boolean {
  return loneSurrogate.test(path);
}

/** The exact bytes of a path the engine carries (UTF-8 of its text, escaped bytes as they were). */
export function rawPathBytes(path: string): Buffer {
  if (!hasRawBytes(path)) return Buffer.from(path, 'utf8');
  const parts = path.split(splitLoneSurrogates);
  const chunks: Buffer[] = [];
  parts.forEach((part, i) => {
    if (i % 2 === 0) {
      if (part !== '') chunks.push(Buffer.from(part, 'utf8'));
      return;
    }
    const unit = part.charCodeAt(0);
    // an escaped byte; any other lone surrogate (never made here) is what Node would write
    chunks.push(unit >= 0xdc80 && unit <= 0xdcff ? Buffer.from([unit - 0xdc00]) : REPLACEMENT);
  });
  return Buffer.concat(chunks);
}

/** What to hand a filesystem call: the exact bytes when the name is not UTF-8, else the string. */
export function fsPath(path: string): string | Buffer {
  return hasRawBytes(path) ? rawPathBytes(path) : path;
}

/** The path as a person reads it: each byte that is not UTF-8 shows as U+FFFD. */
export function displayPath(path: string): string {
  return hasRawBytes(path) ? path.replace(loneSurrogates, '\uFFFD') : path;
}

/** JSON text with every string as a person reads it (for --json output and log lines). */
export function displayJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? displayPath(v) : v));
}
