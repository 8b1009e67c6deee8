// Every row of [Note: XMP sidecar precedence] (main/engine/metadata/sidecar-merge.ts), as a
// table over tags, and through the real reader with the corpus' sidecars.
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MediaMetadata } from '../../../../common/vault-protocol.js';
import { createMetadataReader } from '../../../../main/engine/metadata/metadata-reader.js';
import { mergeXmpSidecar } from '../../../../main/engine/metadata/sidecar-merge.js';
import type { MetadataReader } from '../../../../main/engine/metadata/types.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { corpusFile, makeTempDir } from '../../../support/paths.js';

const MTIME = Date.parse('2024-05-01T08:00:00Z');
const context = { mtimeMs: MTIME, timeZone: 'Europe/Berlin' };

const stated: MediaMetadata = {
  captureTime: '2015-06-11T10:29:26.690+02:00',
  captureTimeSource: 'exif_original',
  timeZone: { offsetMinutes: 120, source: 'assumed_local' },
  gps: { lat: 1, lon: 2 },
  camera: null,
  width: null,
  height: null,
  durationSec: null,
  orientation: null,
  mime: 'image/jpeg',
};
const guessed: MediaMetadata = {
  ...stated,
  captureTime: '2024-05-01T10:00:00.000+02:00',
  captureTimeSource: 'mtime',
  gps: null,
};

describe('XMP sidecar precedence', () => {
  const cases: {
    name: string;
    file: MediaMetadata;
    xmp: Record<string, unknown>;
    expect: Partial<MediaMetadata>;
  }[] = [
    {
      name: "the file's own capture time and GPS stay; rating, label and keywords are added",
      file: { ...stated, keywords: ['Mum'] },
      xmp: {
        'XMP:DateTimeOriginal': '2001:01:01 00:00:00',
        'XMP:GPSLatitude': 50,
        'XMP:GPSLongitude': 8,
        'XMP:Rating': 3,
        'XMP:Label': 'Red',
        'XMP:Subject': ['Mum', 'Berlin'],
        'IPTC:Keywords': 'Holiday',
      },
      expect: {
        captureTime: stated.captureTime,
        captureTimeSource: 'exif_original',
        gps: { lat: 1, lon: 2 },
        rating: 3,
        label: 'Red',
        keywords: ['Mum', 'Berlin', 'Holiday'],
      },
    },
    {
      name: 'a capture time only guessed from the mtime gives way to the sidecar, with its offset',
      file: guessed,
      xmp: { 'XMP:DateTimeOriginal': '2005:06:09 20:09:27+02:00' },
      expect: {
        captureTime: '2005-06-09T20:09:27.000+02:00',
        captureTimeSource: 'exif_original',
        timeZone: { offsetMinutes: 120, source: 'offset_time_original' },
      },
    },
    {
      name: "the sidecar's CreateDate when it has no DateTimeOriginal",
      file: guessed,
      xmp: { 'XMP:CreateDate': '2014:04:27 12:42:47' },
      expect: { captureTime: '2014-04-27T12:42:47.000+02:00', captureTimeSource: 'exif_create' },
    },
    {
      name: 'GPS from the sidecar when the file has none',
      file: guessed,
      xmp: { 'XMP:GPSLatitude': 53.132559, 'XMP:GPSLongitude': 8.719196 },
      expect: { gps: { lat: 53.132559, lon: 8.719196 } },
    },
    {
      name: 'a rejected photo (-1) is kept; a rating out of range is not',
      file: stated,
      xmp: { 'XMP:Rating': -1 },
      expect: { rating: -1 },
    },
    {
      name: 'an empty sidecar changes nothing',
      file: guessed,
      xmp: {},
      expect: guessed,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const merged = mergeXmpSidecar(c.file, c.xmp, context);
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(merged[key as keyof MediaMetadata], value, key);
      }
    });
  }
  it('a rating outside -1..5 is dropped', () => {
    assert.equal(mergeXmpSidecar(stated, { 'XMP:Rating': 9 }, context).rating, undefined);
  });
});

describe('XMP sidecar merged by the reader (real exiftool, corpus sidecars)', () => {
  let reader: MetadataReader;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    temp = await makeTempDir('keepsake-xmp-merge-');
    reader = createMetadataReader({
      logger: silentLogger,
      clock: systemClock,
      timeZone: 'Europe/Berlin',
      maxProcs: 1,
    });
  });
  after(async () => {
    await reader.close();
    await temp.cleanup();
  });

  it("a phone photo keeps its own date and gains its sidecar's rating and keywords", async () => {
    const { metadata } = await reader.read(
      corpusFile('exifr-fixtures/sidecar/IMG_5910.jpg'),
      MTIME,
      undefined,
      { xmpSidecar: corpusFile('exifr-fixtures/sidecar/IMG_5910.xmp') },
    );
    assert.equal(metadata.captureTimeSource, 'exif_original');
    assert.equal(metadata.rating, 3);
    assert.deepEqual(metadata.keywords, ['Alvin the Squirrel', 'Berkley', 'USA']);
  });

  it('a photo without metadata takes its date, position and keywords from a digiKam sidecar', async () => {
    const photo = join(temp.dir, 'scan.jpg');
    const xmp = join(temp.dir, 'scan.xmp');
    await copyFile(corpusFile('exifr-fixtures/noexif.jpg'), photo);
    await copyFile(corpusFile('metadata-extractor-images/xmp/digikam-example.xmp'), xmp);
    const { metadata } = await reader.read(photo, MTIME, undefined, { xmpSidecar: xmp });
    assert.equal(metadata.captureTimeSource, 'exif_create');
    assert.equal(metadata.captureTime, '2014-04-27T12:42:47.000+02:00');
    assert.deepEqual(metadata.gps, { lat: 53.132559, lon: 8.719196 });
    assert.deepEqual(metadata.keywords, ['test3', 'test', 'test2']);
  });
});
