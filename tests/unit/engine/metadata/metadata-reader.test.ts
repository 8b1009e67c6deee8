import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExifTool } from 'exiftool-vendored';
import { createMetadataReader } from '../../../../main/engine/metadata/metadata-reader.js';
import type { MetadataReader } from '../../../../main/engine/metadata/types.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { makeMotionPhoto } from '../../../support/motion-photo.js';
import { corpusFile, corpusRoot, makeTempDir } from '../../../support/paths.js';

const MTIME = Date.parse('2024-05-01T08:00:00Z');

/** The corpus' own record of each file's format (exiftool 12.57 FileType). */
function manifestFormats(): Map<string, string> {
  const rows = readFileSync(join(corpusRoot, 'MANIFEST.tsv'), 'utf8').trim().split('\n').slice(1);
  return new Map(rows.map((r) => r.split('\t')).map((c) => [c[0] ?? '', c[3] ?? '']));
}

/** exiftool processes started by this test process. */
function exiftoolChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('exiftool'))
        pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe('metadata reader on the corpus (real exiftool)', () => {
  let reader: MetadataReader;
  before(() => {
    reader = createMetadataReader({
      logger: silentLogger,
      clock: systemClock,
      timeZone: 'Europe/Berlin',
      maxProcs: 1,
    });
  });
  after(() => reader.close());

  it("an iPhone video: Apple's CreationDate with its zone, GPS, camera, size, duration, rotation", async () => {
    const { metadata, problems } = await reader.read(
      corpusFile('metadata-extractor-images/mov/with-gps.mov'),
      MTIME,
    );
    assert.deepEqual(problems, []);
    assert.equal(metadata.captureTime, '2019-07-24T11:25:40.000+03:00');
    assert.equal(metadata.captureTimeSource, 'quicktime');
    assert.deepEqual(metadata.timeZone, { offsetMinutes: 180, source: 'quicktime_tz' });
    assert.deepEqual(metadata.gps, { lat: 32.0929, lon: 34.862, alt: 28.516 });
    assert.deepEqual(metadata.camera, { make: 'Apple', model: 'iPhone 6' });
    assert.equal(metadata.width, 568);
    assert.equal(metadata.height, 320);
    assert.ok(Math.abs((metadata.durationSec ?? 0) - 4.0017) < 0.001, String(metadata.durationSec));
    assert.equal(metadata.orientation, 6); // Rotation 90
    assert.equal(metadata.mime, 'video/quicktime');
  });

  it('an Android video: the UTC movie header date shown in the zone of its GPS position', async () => {
    const { metadata } = await reader.read(
      corpusFile('metadata-extractor-images/mp4/with-gps.mp4'),
      MTIME,
    );
    assert.equal(metadata.captureTime, '2017-02-22T08:20:28.000+00:00'); // London in February
    assert.deepEqual(metadata.timeZone, { offsetMinutes: 0, source: 'gps' });
    assert.deepEqual(metadata.gps, { lat: 51.4169, lon: -0.0806 });
    assert.equal(metadata.mime, 'video/mp4');
  });

  it('an iPhone HEIC: OffsetTimeOriginal, sub-seconds, lens and signed GPS', async () => {
    const { metadata, problems, raw } = await reader.read(
      corpusFile('osxphotos/IMG_1853.HEIC'),
      MTIME,
    );
    assert.deepEqual(problems, []);
    assert.equal(metadata.captureTime, '2023-03-23T10:19:38.409-07:00');
    assert.deepEqual(metadata.timeZone, { offsetMinutes: -420, source: 'offset_time_original' });
    assert.equal(metadata.gps?.lat, 32.8439722222222);
    assert.equal(metadata.gps?.lon, -116.529266666667);
    assert.deepEqual(metadata.camera, {
      make: 'Apple',
      model: 'iPhone SE (2nd generation)',
      lens: 'iPhone SE (2nd generation) back camera 3.99mm f/1.8',
    });
    assert.equal(metadata.width, 4032);
    assert.equal(metadata.height, 3024);
    assert.equal(metadata.orientation, 6);
    assert.equal(metadata.mime, 'image/heic');
    assert.equal(raw['EXIF:OffsetTimeOriginal'], '-07:00');
    assert.ok(JSON.stringify(raw).length < 40_000);
  });

  it("a Live Photo's still and video carry the same Apple content identifier", async () => {
    const [still, video, orphan] = await Promise.all([
      reader.read(corpusFile('osxphotos/media_types/IMG_3582.HEIC'), MTIME),
      reader.read(corpusFile('osxphotos/media_types/IMG_3582.mov'), MTIME),
      reader.read(corpusFile('osxphotos/IMG_1853.HEIC'), MTIME),
    ]);
    const id = '602FEBB7-6B59-4799-96E6-9C8484D873C7';
    assert.equal(still.grouping?.appleContentId, id);
    assert.equal(video.grouping?.appleContentId, id);
    assert.equal(orphan.grouping?.appleContentId, 'DC121C25-1A7C-4FEC-BB42-99FB89A4719D');
    assert.equal(still.grouping?.capturedAtMs, Date.parse('2025-05-26T09:27:06.603-05:00'));
  });

  it('an edited copy states the capture time of its original; a file dated by its mtime states none', async () => {
    const [original, edit, noDate] = await Promise.all([
      reader.read(corpusFile('osxphotos/IMG_1853.HEIC'), MTIME),
      reader.read(corpusFile('osxphotos/IMG_E1853.heic'), MTIME),
      reader.read(corpusFile('exifr-fixtures/noexif.jpg'), MTIME),
    ]);
    assert.ok(original.grouping?.capturedAtMs);
    assert.equal(edit.grouping?.capturedAtMs, original.grouping.capturedAtMs);
    assert.equal(noDate.metadata.captureTimeSource, 'mtime');
    assert.equal(noDate.grouping?.capturedAtMs, null);
  });

  it('a sidecar (AAE, XMP) has no problems of its own, not even a missing date', async () => {
    for (const rel of [
      'osxphotos/IMG_1853.AAE',
      'osxphotos/wedding.AAE',
      'osxphotos/IMG_4179.jpeg.xmp',
    ]) {
      const { problems } = await reader.read(corpusFile(rel), MTIME);
      assert.deepEqual(problems, [], rel);
    }
  });

  it('a photo without offset tags gets the zone of its GPS position (iPhone 4 in Rome, January)', async () => {
    const { metadata } = await reader.read(
      corpusFile('metadata-extractor-images/jpg/Apple iPhone 4.jpg'),
      MTIME,
    );
    assert.equal(metadata.captureTime, '2011-01-13T14:33:39.000+01:00');
    assert.deepEqual(metadata.timeZone, { offsetMinutes: 60, source: 'gps' });
  });

  it('a RAW file without any zone is in the machine zone, recorded as assumed', async () => {
    const { metadata } = await reader.read(corpusFile('exiftool-t-images/Nikon.nef'), MTIME);
    assert.equal(metadata.captureTime, '2004-06-09T16:02:35.000+02:00');
    assert.deepEqual(metadata.timeZone, { offsetMinutes: 120, source: 'assumed_local' });
    assert.deepEqual(metadata.camera, {
      make: 'NIKON CORPORATION',
      model: 'NIKON D70',
      lens: 'AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED',
    });
    assert.equal(metadata.mime, 'image/x-nikon-nef');
  });

  it('reads orientation 1 to 8', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) =>
        reader.read(corpusFile(`ianare-exif-samples/jpg/orientation/landscape_${n}.jpg`), MTIME),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.metadata.orientation),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
  });

  it('a PNG named .jpeg and a JPEG named .nef are problems, with the real mime type', async () => {
    const png = await reader.read(corpusFile('osxphotos/screenshot-really-a-png.jpeg'), MTIME);
    assert.equal(png.metadata.mime, 'image/png');
    assert.ok(
      png.problems.some((p) => p.message === 'This file is named .jpeg but contains a PNG file.'),
    );
    const nef = await reader.read(
      corpusFile('metadata-extractor-images/nef/Issue 247-1.nef'),
      MTIME,
    );
    assert.equal(nef.metadata.mime, 'image/jpeg');
    assert.ok(
      nef.problems.some((p) => p.message === 'This file is named .nef but contains a JPEG file.'),
    );
  });

  it('damaged EXIF and unreadable dates are problems; the modification time stands in', async () => {
    const { metadata, problems } = await reader.read(corpusFile('osxphotos/badimage.jpeg'), MTIME);
    const text = problems.map((p) => p.message).join('\n');
    assert.match(text, /metadata is damaged \(exiftool: Bad format \(25\) for ExifIFD entry 20\)/);
    assert.match(text, /DateTimeOriginal date in the file is unreadable/);
    assert.equal(metadata.captureTimeSource, 'mtime');
    assert.equal(metadata.captureTime, '2024-05-01T10:00:00.000+02:00');
    assert.deepEqual(metadata.camera, { make: 'FUJIFILM', model: 'X-T1' });
  });

  it('every corrupt or hostile test file gives a result, never an exception', async () => {
    const formats = manifestFormats();
    const hostile = [...formats.keys()]
      .filter(
        (p) =>
          p.startsWith('metadata-extractor-images/jpg/ImageTestSuite/') ||
          p.startsWith('ianare-exif-samples/jpg/invalid/') ||
          p.startsWith('ianare-exif-samples/jpg/tests/') ||
          p.startsWith('exifr-fixtures/RangeError_') ||
          p === 'exifr-fixtures/broken1.jpg' ||
          p === 'ianare-exif-samples/jpg/corrupted.jpg',
      )
      .filter((p) => !p.endsWith('README'));
    assert.ok(hostile.length >= 100, `only ${hostile.length} hostile files found`);
    const results = await Promise.all(hostile.map((p) => reader.read(corpusFile(p), MTIME)));
    hostile.forEach((path, i) => {
      const result = results[i];
      assert.ok(result, path);
      assert.ok(result.metadata.captureTime, path);
      if (formats.get(path)?.startsWith('UNRECOGNIZED')) {
        assert.equal(result.metadata.mime, null, path);
        assert.match(
          result.problems[0]?.message ?? '',
          /not a photo or video format Keepsake recognises/,
          path,
        );
      }
    });
  });

  it('a text file with a photo extension is a problem, not a crash', async () => {
    const { dir, cleanup } = await makeTempDir('keepsake-meta-');
    try {
      const fake = join(dir, 'holiday.jpg');
      await writeFile(fake, 'this is not a photo\n');
      const { metadata, problems } = await reader.read(fake, MTIME);
      assert.match(
        problems[0]?.message ?? '',
        /has a \.jpg name but contains text, not a photo or video/,
      );
      assert.equal(metadata.captureTimeSource, 'mtime');
    } finally {
      await cleanup();
    }
  });

  it('reads many files at once in batches, and a file missing from a batch fails alone', async () => {
    const { dir, cleanup } = await makeTempDir('keepsake-meta-');
    try {
      const good = await Promise.all(
        [0, 1, 2, 3, 4].map(async (i) => {
          const p = join(dir, `IMG_${i}.jpg`);
          await copyFile(corpusFile('exiftool-t-images/GPS.jpg'), p);
          return p;
        }),
      );
      const missing = join(dir, 'IMG_gone.jpg');
      const results = await Promise.all([...good, missing].map((p) => reader.read(p, MTIME)));
      for (const r of results.slice(0, 5)) {
        assert.deepEqual(r.problems, []);
        assert.equal(r.metadata.captureTimeSource, 'exif_original');
      }
      const gone = results[5];
      assert.match(
        gone?.problems[0]?.message ?? '',
        /metadata could not be read \(exiftool failed: .*not found/i,
      );
    } finally {
      await cleanup();
    }
  });

  it('a video named .heic keeps its date, GPS and duration (read again without -fast2)', async () => {
    const { dir, cleanup } = await makeTempDir('keepsake-meta-');
    try {
      const clip = join(dir, 'clip.heic');
      await copyFile(corpusFile('metadata-extractor-images/mov/with-gps.mov'), clip);
      const { metadata } = await reader.read(clip, MTIME);
      assert.equal(metadata.captureTime, '2019-07-24T11:25:40.000+03:00');
      assert.deepEqual(metadata.gps, { lat: 32.0929, lon: 34.862, alt: 28.516 });
      assert.ok((metadata.durationSec ?? 0) > 4);
      assert.equal(metadata.mime, 'video/quicktime');
    } finally {
      await cleanup();
    }
  });

  it('an Android motion photo: where its video begins, from the XMP (new and old style)', async () => {
    const { dir, cleanup } = await makeTempDir('keepsake-meta-');
    const exiftool = new ExifTool({ maxProcs: 1 });
    try {
      const still = corpusFile('ianare-exif-samples/jpg/Canon_40D.jpg');
      const video = corpusFile('metadata-extractor-images/mp4/with-gps.mp4');
      for (const xmp of ['motion-photo', 'micro-video'] as const) {
        const path = join(dir, `${xmp}.jpg`);
        const mp4 = await makeMotionPhoto(exiftool, path, still, video, xmp);
        const { metadata, problems } = await reader.read(path, MTIME);
        assert.deepEqual(
          metadata.motionPhoto,
          { format: xmp, videoFromEnd: mp4.length, videoBytes: mp4.length },
          xmp,
        );
        assert.deepEqual(problems, [], xmp);
        assert.equal(metadata.camera?.model, 'Canon EOS 40D', "the still's own metadata stays");
      }
      const plain = await reader.read(still, MTIME);
      assert.equal(plain.metadata.motionPhoto, undefined);
      // XMP that says a video is appended where none begins: no motion photo
      const lying = join(dir, 'lying.jpg');
      await makeMotionPhoto(exiftool, lying, still, video, 'micro-video-lying');
      assert.equal((await reader.read(lying, MTIME)).metadata.motionPhoto, undefined);
    } finally {
      await exiftool.end();
      await cleanup();
    }
  });

  it('an aborted read rejects with AbortError', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      reader.read(corpusFile('exiftool-t-images/GPS.jpg'), MTIME, controller.signal),
      {
        name: 'AbortError',
      },
    );
  });
});

describe('metadata reader when exiftool hangs', () => {
  it('a hung exiftool answers with a problem within the task timeout, and the next read works', async () => {
    const { dir, cleanup } = await makeTempDir('keepsake-meta-');
    const reader = createMetadataReader({
      logger: silentLogger,
      clock: systemClock,
      timeZone: 'UTC',
      taskTimeoutMs: 1500,
      maxProcs: 1,
    });
    try {
      const photo = join(dir, 'IMG_20190312_101112.jpg');
      await copyFile(corpusFile('exiftool-t-images/GPS.jpg'), photo);
      assert.equal((await reader.read(photo, MTIME)).metadata.captureTimeSource, 'exif_original');
      const pids = exiftoolChildren();
      assert.ok(pids.length > 0, 'no exiftool process found');
      for (const pid of pids) process.kill(pid, 'SIGSTOP'); // a real hang: the process stops answering
      const started = Date.now();
      const hung = await reader.read(photo, MTIME);
      const waited = Date.now() - started;
      assert.ok(waited < 15_000, `waited ${waited} ms`);
      assert.match(
        hung.problems[0]?.message ?? '',
        /could not be read \(exiftool did not answer within 2 s\)/,
      );
      // without exiftool, the name still gives the date
      assert.equal(hung.metadata.captureTimeSource, 'filename');
      assert.equal(hung.metadata.captureTime, '2019-03-12T10:11:12.000+00:00');
      const again = await reader.read(photo, MTIME);
      assert.equal(again.metadata.captureTimeSource, 'exif_original');
      // a batch caught by a hang is retried file by file: nobody loses their metadata
      const stopped = exiftoolChildren();
      for (const pid of stopped) process.kill(pid, 'SIGSTOP');
      pids.push(...stopped);
      const batch = await Promise.all([photo, photo, photo].map((p) => reader.read(p, MTIME)));
      assert.deepEqual(
        batch.map((r) => r.metadata.captureTimeSource),
        ['exif_original', 'exif_original', 'exif_original'],
      );
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already ended by exiftool-vendored
        }
      }
    } finally {
      await reader.close();
      await cleanup();
    }
  });
});
