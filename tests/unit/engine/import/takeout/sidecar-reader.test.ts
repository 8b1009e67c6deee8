// Every row of [Note: Takeout sidecar fields] (main/engine/import/takeout/sidecar-reader.ts),
// read from the real sidecars of the corpus exports where they show the row.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import tzLookup from '@photostructure/tz-lookup';
import { mediaMetadataSchema } from '../../../../../common/vault-protocol.js';
import {
  mergeMetadata,
  metadataFromSidecar,
  parseTakeoutAlbum,
  parseTakeoutSidecar,
  type TakeoutSidecar,
} from '../../../../../main/engine/import/takeout/sidecar-reader.js';
import { corpusFile } from '../../../../support/paths.js';

const OSX = 'takeout/osxphotos/Takeout/Google Photos';
const GOPHERS = 'takeout/immich-go-gophers/gophers/Google Photos';

function sidecar(rel: string): TakeoutSidecar {
  const parsed = parseTakeoutSidecar(readFileSync(corpusFile(rel), 'utf8'));
  assert.ok(parsed.ok, rel);
  return parsed.value;
}

const opts = { mime: 'image/jpeg', zoneAt: (lat: number, lon: number) => tzLookup(lat, lon) };

describe('what a Takeout sidecar says about its photo', () => {
  it('the capture time is photoTakenTime, in the zone of the position (Los Angeles, DST)', () => {
    const m = metadataFromSidecar(sidecar(`${OSX}/Photos from 2021/IMG_4179.jpeg.json`), opts);
    assert.equal(m.captureTime, '2021-04-08T16:04:55.000-07:00');
    assert.equal(Date.parse(m.captureTime ?? ''), 1617923095 * 1000);
    assert.equal(m.captureTimeSource, 'takeout');
    assert.deepEqual(m.timeZone, { offsetMinutes: -420, source: 'gps' });
    assert.deepEqual(m.gps, { lat: 33.7150639, lon: -118.31967219999999, alt: 2.9 });
    assert.equal(m.source, 'takeout');
    assert.equal(m.description, 'Used for testing osxphotos');
    assert.equal(m.favorite, true);
    assert.ok(mediaMetadataSchema.safeParse(m).success);
  });

  it('a half-hour zone (Adelaide) and a description with direction-isolate characters', () => {
    const m = metadataFromSidecar(sidecar(`${OSX}/Adelaide/IMG_4547.jpg.json`), opts);
    assert.equal(m.captureTime, '2017-06-20T17:18:00.000+09:30');
    assert.equal(
      m.description,
      '\u2068Elder Park\u2069, \u2068Adelaide\u2069, \u2068Australia\u2069',
    );
    assert.ok(mediaMetadataSchema.safeParse(m).success);
  });

  it('without a position the instant is kept in UTC and the zone is recorded as unknown', () => {
    const m = metadataFromSidecar(
      sidecar(
        `${GOPHERS}/Photos from 2025/PinClipart.com_gopher-clipart_4000224.jpg.supplemental-metadata.json`,
      ),
      opts,
    );
    assert.equal(m.captureTime, '2025-03-13T17:05:10.000Z');
    assert.equal(m.timeZone, null);
    assert.equal(m.gps, null);
    assert.equal(m.description, undefined); // "" is no caption
    assert.ok(mediaMetadataSchema.safeParse(m).success);
  });

  it('a position of 0,0 is no position; geoDataExif is used when geoData has none', () => {
    const base = { photoTakenTime: { timestamp: '1600000000' } };
    const none = metadataFromSidecar(
      {
        ...base,
        geoData: { latitude: 0, longitude: 0 },
        geoDataExif: { latitude: 0, longitude: 0 },
      },
      opts,
    );
    assert.equal(none.gps, null);
    assert.equal(none.timeZone, null);
    const exif = metadataFromSidecar(
      {
        ...base,
        geoData: { latitude: 0, longitude: 0 },
        geoDataExif: { latitude: 48.8584, longitude: 2.2945, altitude: 35 },
      },
      opts,
    );
    assert.deepEqual(exif.gps, { lat: 48.8584, lon: 2.2945, alt: 35 });
    assert.equal(exif.captureTime, '2020-09-13T14:26:40.000+02:00');
  });

  it('a timestamp of 0 or none is no capture time (creationTime, the upload, is not used)', () => {
    const m = metadataFromSidecar(
      { photoTakenTime: { timestamp: '0' }, geoData: { latitude: 1, longitude: 1 } },
      opts,
    );
    assert.equal(m.captureTime, null);
    assert.equal(m.captureTimeSource, null);
    assert.equal(metadataFromSidecar({}, opts).captureTime, null);
  });

  it('favourites, archived and the names of people (as keywords, each once) are kept', () => {
    const parsed = parseTakeoutSidecar(
      JSON.stringify({
        title: 'x.jpg',
        favorited: false,
        archived: true,
        trashed: true,
        people: [{ name: 'Ada ' }, { name: 'Grace' }, { name: 'Ada' }, { name: '' }],
      }),
    );
    assert.ok(parsed.ok);
    assert.equal(parsed.value.trashed, true);
    const m = metadataFromSidecar(parsed.value, opts);
    assert.equal(m.favorite, false);
    assert.equal(m.archived, true);
    assert.deepEqual(m.keywords, ['Ada', 'Grace']);
    assert.ok(mediaMetadataSchema.safeParse(m).success);
  });

  it('a sidecar that is not JSON or not shaped like one is a problem with a reason', () => {
    const bad = parseTakeoutSidecar('{"photoTakenTime": {"timestamp": 12}');
    assert.deepEqual(bad, { ok: false, problem: 'not valid JSON' });
    const odd = parseTakeoutSidecar('{"photoTakenTime": {"timestamp": "soon"}}');
    assert.equal(odd.ok, false);
    assert.match(odd.ok ? '' : odd.problem, /photoTakenTime\.timestamp/);
  });

  it("an album's metadata.json gives its title, which may differ from the folder name", () => {
    const album = parseTakeoutAlbum(
      readFileSync(corpusFile(`${GOPHERS}/gophers/metadata.json`), 'utf8'),
    );
    assert.ok(album.ok);
    assert.equal(album.value.title, "Gopher's gallery");
  });

  it("laid over what a backup read from the file: camera and file facts stay, the date is the sidecar's", () => {
    const fromFile = {
      captureTime: '2021-04-08T12:00:00.000+02:00',
      captureTimeSource: 'exif_original' as const,
      timeZone: { offsetMinutes: 120, source: 'assumed_local' as const },
      gps: null,
      camera: { make: 'Apple', model: 'iPhone 12' },
      width: 4032,
      height: 3024,
      durationSec: null,
      orientation: 6,
      mime: 'image/jpeg',
      originalPath: 'Pictures/IMG_4179.jpeg',
    };
    const sidecarMeta = metadataFromSidecar(
      sidecar(`${OSX}/Photos from 2021/IMG_4179.jpeg.json`),
      opts,
    );
    const merged = mergeMetadata(fromFile, sidecarMeta);
    assert.deepEqual(merged.camera, fromFile.camera);
    assert.equal(merged.width, 4032);
    assert.equal(merged.orientation, 6);
    assert.equal(merged.originalPath, 'Pictures/IMG_4179.jpeg');
    assert.equal(merged.captureTime, '2021-04-08T16:04:55.000-07:00');
    assert.equal(merged.captureTimeSource, 'takeout');
    assert.deepEqual(merged.gps, sidecarMeta.gps);
    assert.equal(merged.favorite, true);
    assert.equal(merged.source, 'takeout');
    assert.ok(mediaMetadataSchema.safeParse(merged).success);
  });

  it('the same instant with a known zone from the file keeps that zone (the sidecar has none)', () => {
    const fromFile = {
      captureTime: '2025-03-13T18:05:10.000+01:00',
      captureTimeSource: 'exif_original' as const,
      timeZone: { offsetMinutes: 60, source: 'offset_time_original' as const },
      gps: null,
      camera: null,
      width: null,
      height: null,
      durationSec: null,
      orientation: null,
      mime: null,
    };
    const merged = mergeMetadata(
      fromFile,
      metadataFromSidecar({ photoTakenTime: { timestamp: '1741885510' } }, opts),
    );
    assert.equal(merged.captureTime, fromFile.captureTime);
    assert.deepEqual(merged.timeZone, fromFile.timeZone);
    // metadata the vault holds that is not valid is replaced whole
    const sidecarOnly = metadataFromSidecar({ photoTakenTime: { timestamp: '1741885510' } }, opts);
    assert.deepEqual(mergeMetadata({ bogus: 1 }, sidecarOnly), sidecarOnly);
  });
});
