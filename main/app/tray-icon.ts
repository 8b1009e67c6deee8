// The tray icon's pictures: a filled circle in the status colour, drawn as a PNG here (no
// binary assets to keep in step with the status list). Pure: no Electron import; main.ts
// turns the bytes into a nativeImage.
import { deflateSync } from 'node:zlib';
import type { SyncStatus } from '../../common/contract.js';

export const statusColours: Record<SyncStatus, [number, number, number]> = {
  up_to_date: [0x1a, 0x9f, 0x53],
  backing_up: [0x24, 0x58, 0xd6],
  paused: [0xc9, 0x7a, 0x00],
  offline: [0x80, 0x88, 0x94],
  needs_attention: [0xd6, 0x2f, 0x34],
};

export const statusTooltips: Record<SyncStatus, string> = {
  up_to_date: 'Keepsake: up to date',
  backing_up: 'Keepsake: backing up',
  paused: 'Keepsake: paused',
  offline: 'Keepsake: vault offline',
  needs_attention: 'Keepsake: needs attention',
};

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (crcTable[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A size x size RGBA PNG: an anti-aliased disc in the status colour on transparency. */
export function trayIconPng(status: SyncStatus, size = 32): Buffer {
  const [r, g, b] = statusColours[status];
  const rows: Buffer[] = [];
  const centre = (size - 1) / 2;
  const radius = size * 0.42;
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 4); // filter byte 0, then RGBA
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - centre, y - centre);
      const alpha = Math.max(0, Math.min(1, radius - d + 0.5));
      row.writeUInt8(r, 1 + x * 4);
      row.writeUInt8(g, 2 + x * 4);
      row.writeUInt8(b, 3 + x * 4);
      row.writeUInt8(Math.round(alpha * 255), 4 + x * 4);
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(6, 9); // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
