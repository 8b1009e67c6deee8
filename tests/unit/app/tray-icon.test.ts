// The tray's status pictures are valid PNGs whose colour follows the status.
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { crc32, statusColours, statusTooltips, trayIconPng } from '../../../main/app/tray-icon.js';
import { fileStates, SyncStatus } from '../../../common/contract.js';

function decode(png: Buffer) {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let offset = 8;
  const chunks: { type: string; data: Buffer }[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const crc = png.readUInt32BE(offset + 8 + length);
    assert.equal(crc, crc32(png.subarray(offset + 4, offset + 8 + length)), `${type} CRC`);
    chunks.push({ type, data });
    offset += 12 + length;
  }
  const ihdr = chunks.find((c) => c.type === 'IHDR')?.data;
  assert.ok(ihdr);
  const idat = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
  return { width: ihdr.readUInt32BE(0), height: ihdr.readUInt32BE(4), raw: inflateSync(idat) };
}

describe('tray icon', () => {
  it('computes the standard CRC-32', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });

  for (const status of SyncStatus.options) {
    it(`draws a ${status} icon in its colour with a tooltip in words`, () => {
      const { width, height, raw } = decode(trayIconPng(status, 32));
      assert.equal(width, 32);
      assert.equal(height, 32);
      assert.equal(raw.length, 32 * (1 + 32 * 4));
      const centre = 16 * (1 + 32 * 4) + 1 + 16 * 4;
      assert.deepEqual([...raw.subarray(centre, centre + 4)], [...statusColours[status], 255]);
      assert.equal(raw[4], 0, 'the corner is transparent');
      assert.match(statusTooltips[status], /^Keepsake: /);
    });
  }

  it('covers every status of the contract', () => {
    assert.deepEqual(Object.keys(statusColours).sort(), [...SyncStatus.options].sort());
    assert.ok(fileStates.length > 0);
  });
});
