import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MediaMetadata } from '../../../common/vault-protocol.js';
import { kindOf, parseMetadataBody, parseUploadMetadata } from '../../../server/metadata-schema.js';
import { VaultHttpError } from '../../../server/http-error.js';

// The schemas are tested in tests/unit/common/vault-protocol.test.ts; here, the vault's
// answers (status and code) when a client sends something they refuse.

const sha = 'a'.repeat(64);

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VaultHttpError);
    return `${err.status} ${err.code}`;
  }
  return 'no error';
}

describe('upload metadata (tus Upload-Metadata)', () => {
  it('accepts filename and sha256, with optional mime, mtime and relpath', () => {
    assert.deepEqual(
      parseUploadMetadata({
        filename: 'IMG_0001.JPG',
        sha256: sha,
        mime: 'image/jpeg',
        mtime: '1552385472000',
        relpath: 'DCIM/100APPLE/IMG_0001.JPG',
      }),
      {
        sha256: sha,
        filename: 'IMG_0001.JPG',
        mime: 'image/jpeg',
        mtimeMs: 1552385472000,
        relpath: 'DCIM/100APPLE/IMG_0001.JPG',
      },
    );
    assert.deepEqual(parseUploadMetadata({ filename: 'été 2019.jpg', sha256: sha }).relpath, null);
  });

  it('refuses a missing or malformed sha256 with a message that says so', () => {
    for (const bad of [undefined, '', 'A'.repeat(64), 'a'.repeat(63), 'g'.repeat(64), `${sha} `]) {
      assert.equal(
        errorCode(() =>
          parseUploadMetadata({ filename: 'a.jpg', ...(bad === undefined ? {} : { sha256: bad }) }),
        ),
        '400 invalid_sha256',
        String(bad),
      );
    }
    assert.equal(
      errorCode(() => parseUploadMetadata(undefined)),
      '400 invalid_sha256',
    );
  });

  it('refuses file names and relative paths that could escape a folder', () => {
    assert.equal(
      errorCode(() => parseUploadMetadata({ filename: '../x.jpg', sha256: sha })),
      '400 invalid_path',
    );
    assert.equal(
      errorCode(() => parseUploadMetadata({ filename: 'x.jpg', sha256: sha, relpath: '../a' })),
      '400 invalid_path',
    );
    assert.equal(
      errorCode(() => parseUploadMetadata({ sha256: sha })),
      '400 invalid_metadata',
    );
  });

  it('refuses malformed mime and mtime', () => {
    assert.equal(
      errorCode(() => parseUploadMetadata({ filename: 'a', sha256: sha, mime: 'jpeg' })),
      '400 invalid_metadata',
    );
    assert.equal(
      errorCode(() => parseUploadMetadata({ filename: 'a', sha256: sha, mtime: '-1' })),
      '400 invalid_metadata',
    );
    assert.equal(
      errorCode(() => parseUploadMetadata({ filename: 'a', sha256: sha, mtime: '1.5' })),
      '400 invalid_metadata',
    );
  });

  it('classifies content as image, video or other by MIME type, else extension', () => {
    assert.equal(kindOf('image/heic', 'x.bin'), 'image');
    assert.equal(kindOf('video/quicktime', 'x'), 'video');
    assert.equal(kindOf(null, 'IMG_1.CR3'), 'image');
    assert.equal(kindOf('application/octet-stream', 'clip.MOV'), 'video');
    assert.equal(kindOf(null, 'notes.xmp'), 'other');
    assert.equal(kindOf(null, 'README'), 'other');
  });
});

describe('media metadata (PUT /api/v1/assets/:sha256/metadata)', () => {
  const full: MediaMetadata = {
    captureTime: '2019-03-12T10:11:12.345+01:00',
    captureTimeSource: 'exif_original',
    timeZone: { offsetMinutes: 60, source: 'offset_time_original' },
    gps: { lat: -33.86, lon: 151.21, alt: 12.5 },
    camera: { make: 'Apple', model: 'iPhone 12', lens: 'iPhone 12 back dual wide camera' },
    width: 4032,
    height: 3024,
    durationSec: null,
    orientation: 6,
    mime: 'image/heic',
    originalPath: 'C:\\Users\\ana\\Pictures\\IMG_0001.HEIC',
    device: 'ana-pc',
  };
  const empty: MediaMetadata = {
    captureTime: null,
    captureTimeSource: null,
    timeZone: null,
    gps: null,
    camera: null,
    width: null,
    height: null,
    durationSec: null,
    orientation: null,
    mime: null,
  };

  it('accepts what the engine extracts, full or empty', () => {
    assert.deepEqual(parseMetadataBody(Buffer.from(JSON.stringify(full))), full);
    assert.deepEqual(parseMetadataBody(Buffer.from(JSON.stringify(empty))), empty);
  });

  it('refuses out-of-range, mistyped, unknown and oversized fields, naming the field', () => {
    const cases: [unknown, string, RegExp?][] = [
      [{ ...full, gps: { lat: 91, lon: 0 } }, '400 invalid_metadata'],
      [{ ...full, orientation: 9 }, '400 invalid_metadata'],
      [{ ...full, width: -1 }, '400 invalid_metadata'],
      [{ ...full, captureTime: '12 March 2019' }, '400 invalid_metadata'],
      [{ ...full, captureTimeSource: 'guess' }, '400 invalid_metadata'],
      [{ ...full, timeZone: { offsetMinutes: 2000, source: 'gps' } }, '400 invalid_metadata'],
      [{ ...full, extra: 1 }, '400 invalid_metadata'],
      [{ ...empty, camera: { make: 'a\0b' } }, '400 invalid_metadata'],
      [[], '400 invalid_metadata'],
      [null, '400 invalid_metadata'],
    ];
    for (const [body, code] of cases) {
      assert.equal(
        errorCode(() => parseMetadataBody(Buffer.from(JSON.stringify(body)))),
        code,
        JSON.stringify(body).slice(0, 80),
      );
    }
    assert.equal(
      errorCode(() => parseMetadataBody(Buffer.from('{'))),
      '400 invalid_json',
    );
    assert.equal(
      errorCode(() =>
        parseMetadataBody(Buffer.from(JSON.stringify({ ...full, device: 'd'.repeat(70_000) }))),
      ),
      '413 payload_too_large',
    );
    try {
      parseMetadataBody(Buffer.from(JSON.stringify({ ...full, gps: { lat: 91, lon: 0 } })));
    } catch (err) {
      assert.match((err as Error).message, /gps\.lat/);
    }
  });
});
