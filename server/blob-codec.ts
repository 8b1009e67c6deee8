// The at-rest format of a compressed blob (blobs/ab/<sha256>.ksz) and its reader: the one
// place that knows how compressed bytes turn back into the original ones.
// See [Note: Compressed blobs].
// Invariant: a reader returns the original bytes or throws BlobDamagedError; a frame whose
// decoded bytes do not match its CRC-32, or a file whose frames do not add up to the size
// its header declares, is never served.
//
// [Note: Compressed blobs]
// A compressed blob is the original bytes cut into frames of FRAME_BYTES (1 MiB; the last
// may be shorter), each compressed on its own:
//   header (24 bytes): magic "KSBLOBZ\x01", codec (u8: 1 = brotli), 3 zero bytes,
//                      frame size (u32 LE), original size (u64 LE)
//   per frame:         compressed length (u32 LE), CRC-32 of the original frame (u32 LE),
//                      the compressed frame
// Why frames: a Range request (a resumed restore, a video scrubbed in the browser) decodes
// from the frame holding its first byte, at most 1 MiB more than it sends, instead of
// decoding everything before it (a read of the last byte of a 100 MB TIFF would otherwise
// decode 100 MB). Opening walks the frame headers (one 8-byte read per MiB of original) and
// checks they add up to the file and to the declared size. Independent 1 MiB frames cost
// about 0.6 % of the original size against one stream on photo pixels (brotli's window is
// 4 MiB), and let the compressor hold one frame in memory at a time.
// Why the CRC per frame: brotli has no checksum of its own, a flipped bit can decode to other
// bytes without an error, and a Range read cannot be proven by the SHA-256 of the whole; the
// CRC makes every decoded frame fail loudly instead (a whole read is still proven by the
// SHA-256 as well, as for a plain blob).
// Why brotli at quality 5: Node 20's zlib has it built in (zstd arrives in Node 22.15), so no
// native dependency. Measured (bench 'compression', SIZE=small, a 2-core machine under a load
// of ~16, one core each, in-memory): on 27 MB of uncompressed photo-pixel TIFFs brotli q5 in
// frames saved 67.8 % at 25 MB/s compressing and 168 MB/s decompressing; zstd -3 64.7 % at 110
// and 637 MB/s, zstd -9 67.9 % at 23 and 462 MB/s, zstd -19 71.6 % at 1.2 and 169 MB/s. On the
// corpus's own compressible files (16 TIFF/DNG/PSD/RAW, 0.17 MB) brotli 52.0 %, zstd -3 50.5 %,
// -19 52.2 %. Quality 1-4 saved 7-9 points less on photo pixels, 6 the same as 5 for more CPU,
// 7+ at a few MB/s. So brotli saves what zstd -9 saves at the same compression speed; zstd
// decompresses 3-4x faster, which matters for reads: a compressed asset read whole through
// the vault came at 0.79 of the plain one's rate in the same run (35 vs 44 MB/s with the
// SHA-256 check, on that loaded machine). A Range read costs the frame-table walk at open
// plus at most one frame decoded beyond what it sends (1 MiB, ~6 ms at 168 MB/s). The codec byte in the header
// lets a vault on Node >= 22.15 write zstd (zlib.zstdCompress, no package) later without a
// migration: the reader dispatches on it.
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants as zlibConstants, crc32 } from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';

export const FRAME_BYTES = 1 << 20;
export const HEADER_BYTES = 24;
const FRAME_HEADER_BYTES = 8;
const MAGIC = Buffer.from('KSBLOBZ\x01', 'latin1');
export const CODEC_BROTLI = 1;
export const BROTLI_QUALITY = 5;

const compressAsync = promisify(brotliCompress);
const decompressAsync = promisify(brotliDecompress);

/** The stored bytes of a blob are not what they should be (found while reading them). */
export class BlobDamagedError extends Error {
  override name = 'BlobDamagedError';
  readonly code = 'blob_damaged';
}

/** One frame of original bytes, compressed (on the threadpool: the event loop stays free). */
export function compressFrame(plain: Buffer): Promise<Buffer> {
  return compressAsync(plain, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: plain.length,
    },
  });
}

export function encodeHeader(originalSize: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt8(CODEC_BROTLI, 8);
  h.writeUInt32LE(FRAME_BYTES, 12);
  h.writeBigUInt64LE(BigInt(originalSize), 16);
  return h;
}

/** The 8 bytes in front of a compressed frame. */
export function encodeFrameHeader(plain: Buffer, compressed: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUInt32LE(compressed.length, 0);
  h.writeUInt32LE(crc32(plain), 4);
  return h;
}

/** Random access to the original bytes of a compressed blob (See [Note: Compressed blobs]). */
export class CompressedBlobReader {
  /** the decoded frame last asked for: sequential reads decode each frame once */
  private cached: { index: number; bytes: Buffer } | null = null;

  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly frameBytes: number,
    /** [file offset of the compressed payload, its length, CRC-32 of the original] */
    private readonly frames: readonly (readonly [number, number, number])[],
  ) {}

  /** Reads and checks the header and the frame table; the handle stays the caller's. */
  static async open(fh: FileHandle): Promise<CompressedBlobReader> {
    const fileSize = (await fh.stat()).size;
    const head = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await fh.read(head, 0, HEADER_BYTES, 0);
    if (bytesRead < HEADER_BYTES || !head.subarray(0, 8).equals(MAGIC)) {
      throw new BlobDamagedError('not a compressed blob (bad header)');
    }
    if (head.readUInt8(8) !== CODEC_BROTLI) {
      throw new BlobDamagedError(`unknown codec ${head.readUInt8(8)}`);
    }
    const frameBytes = head.readUInt32LE(12);
    const size = Number(head.readBigUInt64LE(16));
    if (frameBytes === 0 || !Number.isSafeInteger(size)) {
      throw new BlobDamagedError('bad compressed blob header');
    }
    const count = Math.ceil(size / frameBytes);
    const frames: [number, number, number][] = [];
    const fh8 = Buffer.alloc(FRAME_HEADER_BYTES);
    let at = HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      const r = await fh.read(fh8, 0, FRAME_HEADER_BYTES, at);
      if (r.bytesRead < FRAME_HEADER_BYTES) throw new BlobDamagedError('frame table cut short');
      const length = fh8.readUInt32LE(0);
      frames.push([at + FRAME_HEADER_BYTES, length, fh8.readUInt32LE(4)]);
      at += FRAME_HEADER_BYTES + length;
      if (at > fileSize) throw new BlobDamagedError('a frame runs past the end of the file');
    }
    if (at !== fileSize) throw new BlobDamagedError('the frames do not add up to the file');
    return new CompressedBlobReader(fh, size, frameBytes, frames);
  }

  private async frame(index: number): Promise<Buffer> {
    if (this.cached?.index === index) return this.cached.bytes;
    const [offset, length, crc] = this.frames[index]!;
    const compressed = Buffer.allocUnsafe(length);
    for (let got = 0; got < length;) {
      const { bytesRead } = await this.fh.read(compressed, got, length - got, offset + got);
      if (bytesRead === 0) throw new BlobDamagedError('the blob ended early');
      got += bytesRead;
    }
    let plain: Buffer;
    try {
      plain = await decompressAsync(compressed);
    } catch (err) {
      throw new BlobDamagedError(`frame ${index} does not decode`, { cause: err });
    }
    const expected = Math.min(this.frameBytes, this.size - index * this.frameBytes);
    if (plain.length !== expected || crc32(plain) !== crc) {
      throw new BlobDamagedError(`frame ${index} decodes to other bytes than were stored`);
    }
    this.cached = { index, bytes: plain };
    return plain;
  }

  /** FileHandle.read's contract over the original bytes: fills buf[offset, offset+length). */
  async read(
    buf: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }> {
    let done = 0;
    while (done < length && position + done < this.size) {
      const at = position + done;
      const index = Math.floor(at / this.frameBytes);
      const plain = await this.frame(index);
      const from = at - index * this.frameBytes;
      done += plain.copy(buf, offset + done, from, Math.min(plain.length, from + length - done));
    }
    return { bytesRead: done };
  }
}
