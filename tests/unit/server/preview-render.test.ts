// The turns that make a picture upright from its EXIF orientation (used for a RAW's embedded
// JPEG, which usually carries no orientation of its own): for each of the 8 orientations, the
// corpus photo stripped of its EXIF and turned by orient() looks like libvips' own upright
// rendering of the original.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { orient } from '../../../server/preview-render.js';
import { corpusFile } from '../../support/paths.js';

function pixels(image: Sharp): Promise<Buffer> {
  return image.resize(48, 36, { fit: 'fill' }).greyscale().raw().toBuffer();
}

describe('preview orientation', () => {
  for (let orientation = 1; orientation <= 8; orientation++) {
    it(`a picture stored with orientation ${orientation} is turned upright`, async () => {
      const file = corpusFile(`ianare-exif-samples/jpg/orientation/landscape_${orientation}.jpg`);
      assert.equal((await sharp(file).metadata()).orientation, orientation);
      const upright = await pixels(sharp(file).rotate());
      const stripped = await sharp(file).jpeg().toBuffer(); // no EXIF: as a RAW's embedded JPEG
      assert.equal((await sharp(stripped).metadata()).orientation, undefined);
      const turned = await pixels(orient(sharp(stripped), orientation));
      let diff = 0;
      for (let i = 0; i < upright.length; i++) diff += Math.abs(upright[i]! - turned[i]!);
      assert.ok(diff / upright.length < 8, `mean difference ${diff / upright.length}`);
    });
  }
});
