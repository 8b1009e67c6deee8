import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeRawName,
  displayJson,
  displayPath,
  fsPath,
  hasRawBytes,
  rawPathBytes,
} from '../../../main/engine/raw-path.js';

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

describe('names that are not UTF-8', () => {
  it('a valid UTF-8 name is the string Node makes of it, and its bytes are its UTF-8', () => {
    for (const name of ['IMG_0001.JPG', 'café.jpg', 'Fotos/日本/💀.heic', 'a\uFFFDb.jpg', '']) {
      const raw = Buffer.from(name, 'utf8');
      assert.equal(decodeRawName(raw), name);
      assert.equal(hasRawBytes(name), false);
      assert.deepEqual(rawPathBytes(name), raw);
      assert.equal(fsPath(name), name);
      assert.equal(displayPath(name), name);
    }
  });

  it('a Latin-1 name keeps its exact bytes and shows U+FFFD where the bad byte is', () => {
    const raw = bytes('caf', [0xe9], '.jpg');
    const name = decodeRawName(raw);
    assert.equal(hasRawBytes(name), true);
    assert.deepEqual(rawPathBytes(name), raw);
    assert.deepEqual(fsPath(name), raw);
    assert.equal(displayPath(name), 'caf\uFFFD.jpg');
    assert.equal(displayJson({ path: name, n: 1 }), '{"path":"caf\uFFFD.jpg","n":1}');
  });

  it('two names that show the same stay two names', () => {
    const a = decodeRawName(bytes('caf', [0xe9], '.jpg'));
    const b = decodeRawName(bytes('caf', [0xe8], '.jpg'));
    assert.notEqual(a, b);
    assert.equal(displayPath(a), displayPath(b));
    // and neither is the name that really holds U+FFFD
    assert.notEqual(a, 'caf\uFFFD.jpg');
  });

  it('every byte string survives the round trip (overlongs, encoded surrogates, cut sequences, valid text around them)', () => {
    const cases = [
      [0xc0, 0xaf], // overlong '/'
      [0xed, 0xa0, 0x80], // an encoded surrogate (CESU/WTF-8)
      [0xe2, 0x82], // a cut sequence
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0xff, 0xfe, 0x80],
      [0xf0, 0x9f, 0x92, 0x80, 0xe9, 0xf0, 0x9f, 0x92, 0x80], // 💀 \xe9 💀
    ];
    for (const c of cases) {
      const raw = bytes('dir/', c, '.jpg');
      assert.deepEqual(rawPathBytes(decodeRawName(raw)), raw, raw.toString('hex'));
    }
    // a seeded sweep of random byte strings
    let seed = Number(process.env.SEED ?? 20261129);
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const raw = Buffer.from(Array.from({ length: 1 + (i % 17) }, next));
      assert.deepEqual(
        rawPathBytes(decodeRawName(raw)),
        raw,
        `SEED ${process.env.SEED ?? 20261129}: ${raw.toString('hex')}`,
      );
    }
  });
});
