// The compressed blob format (See [Note: Compressed blobs] in server/blob-codec.ts): any
// position reads back the original bytes, and every kind of damage to the stored file (a cut
// end, a wrong frame length, a flipped payload byte, a wrong CRC, a foreign header) fails
// loudly with BlobDamagedError instead of returning other bytes.
import assert from 'node:assert/strict';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import {
  BlobDamagedError,
  CompressedBlobReader,
  compressFrame,
  encodeFrameHeader,
  encodeHeader,
  FRAME_BYTES,
  HEADER_BYTES,
} from '../../../server/blob-codec.js';
import { corpusFile, makeTempDir } from '../../support/paths.js';
import { flipByte } from '../../support/vault-damage.js';

async function encode(data: Buffer): Promise<Buffer> {
  const parts = [encodeHeader(data.length)];
  for (let pos = 0; pos < data.length; pos += FRAME_BYTES) {
    const plain = data.subarray(pos, pos + FRAME_BYTES);
    const packed = await compressFrame(plain);
    parts.push(encodeFrameHeader(plain, packed), packed);
  }
  return Buffer.concat(parts);
}

/** Reads [start, start+length) through a fresh reader; throws what the reader throws. */
async function readAt(path: string, start: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const reader = await CompressedBlobReader.open(fh);
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await reader.read(buf, got, length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

describe('compressed blob format', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let original: Buffer;
  let encoded: Buffer;
  const fresh = async (name: string) => {
    const path = join(temp.dir, name);
    await writeFile(path, encoded);
    return path;
  };

  before(async () => {
    temp = await makeTempDir('keepsake-codec-');
    // real photo pixels, uncompressed, a little over 2 frames
    const tiff = await sharp(corpusFile('osxphotos/wedding.jpg'))
      .tiff({ compression: 'none' })
      .toBuffer();
    original = Buffer.concat([tiff, tiff, tiff]).subarray(0, 2 * FRAME_BYTES + 4321);
    encoded = await encode(original);
  });
  after(async () => {
    await temp.cleanup();
  });

  it('reads back the original bytes at any position, across frames and at the very end', async () => {
    const path = await fresh('ok.ksz');
    assert.ok(encoded.length < original.length * 0.95, 'smaller than the original');
    assert.ok((await readAt(path, 0, original.length)).equals(original));
    for (const [start, length] of [
      [0, 1],
      [FRAME_BYTES - 3, 7],
      [2 * FRAME_BYTES, 4321],
      [original.length - 1, 1],
      [12345, FRAME_BYTES + 777],
    ] as const) {
      assert.ok(
        (await readAt(path, start, length)).equals(original.subarray(start, start + length)),
        `${start}+${length}`,
      );
    }
    assert.equal((await readAt(path, original.length, 10)).length, 0, 'nothing past the end');
  });

  it('fails loudly on a cut end, a wrong frame length, a flipped byte, a wrong CRC or a foreign header', async () => {
    const firstLength = encoded.readUInt32LE(HEADER_BYTES);
    const cut = await fresh('cut.ksz');
    await truncate(cut, encoded.length - 10);
    const length = await fresh('length.ksz');
    await flipByte(length, HEADER_BYTES); // the first frame's length
    const payload = await fresh('payload.ksz');
    await flipByte(payload, HEADER_BYTES + 8 + (firstLength >> 1));
    const crc = await fresh('crc.ksz');
    await flipByte(crc, HEADER_BYTES + 4);
    const header = await fresh('header.ksz');
    await flipByte(header, 2);
    for (const path of [cut, length, payload, crc, header]) {
      await assert.rejects(readAt(path, 0, original.length), BlobDamagedError, path);
    }
    // a read that stays out of the damaged first frame is still served, byte-exact
    assert.ok(
      (await readAt(payload, FRAME_BYTES + 10, 100)).equals(
        original.subarray(FRAME_BYTES + 10, FRAME_BYTES + 110),
      ),
    );
    assert.equal((await readFile(payload)).length, encoded.length);
  });
});
