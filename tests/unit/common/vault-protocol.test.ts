import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  batchFrameHeaderSchema,
  batchResponseSchema,
  checkRequestSchema,
  firstIssue,
  isSafeFileName,
  withoutControlCharacters,
  isSafeRelativePath,
  type MediaMetadata,
  mediaMetadataSchema,
  metadataBatchEnvelopeSchema,
  metadataBatchRequestSchema,
  metadataBatchResponseSchema,
  tusUploadMetadataSchema,
} from '../../../common/vault-protocol.js';

const sha = 'a'.repeat(64);

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

describe('file names and relative paths on the wire', () => {
  it('refuses names and paths that could escape a folder', () => {
    for (const name of ['../x.jpg', '..', '.', 'a/b.jpg', 'a\\b.jpg', 'a\0b', '', 'x'.repeat(256)])
      assert.equal(isSafeFileName(name), false, JSON.stringify(name));
    // 255 bytes is the limit, counted in UTF-8 (3 bytes per 日)
    assert.equal(isSafeFileName('日'.repeat(86)), false);
    for (const name of ['a.jpg', '..a.jpg', 'a..jpg', '日本.jpg', 'été 2019.jpg'])
      assert.equal(isSafeFileName(name), true, name);
    for (const p of ['../a', 'a/../../b', '/etc/passwd', 'C:/x', 'a\\b', 'a//b', './a', 'a/', ''])
      assert.equal(isSafeRelativePath(p), false, JSON.stringify(p));
    for (const p of ['a', 'a/b/c.jpg', '2019/..hidden/x'])
      assert.equal(isSafeRelativePath(p), true, p);
  });

  it('refuses control characters in names and paths; a client can replace them', () => {
    for (const name of ['a\nb.jpg', 'a\tb.jpg', 'a\x1b[31m.jpg', 'a\x7f.jpg', 'a\u0085.jpg'])
      assert.equal(isSafeFileName(name), false, JSON.stringify(name));
    assert.equal(isSafeRelativePath('dir/a\rb.jpg'), false);
    assert.equal(withoutControlCharacters('a\nb\t.jpg'), 'a\uFFFDb\uFFFD.jpg');
    assert.equal(isSafeFileName(withoutControlCharacters('a\nb.jpg')), true);
  });

  it('tus Upload-Metadata may leave sha256 out (deferred hash) but never filename', () => {
    assert.equal(tusUploadMetadataSchema.safeParse({ filename: 'a.jpg' }).success, true);
    assert.equal(tusUploadMetadataSchema.safeParse({ sha256: sha }).success, false);
    assert.equal(
      tusUploadMetadataSchema.safeParse({ filename: 'a.jpg', sha256: sha, mtime: '1.5' }).success,
      false,
    );
  });
});

describe('media metadata', () => {
  it('accepts what the engine extracts, full or empty', () => {
    assert.deepEqual(mediaMetadataSchema.parse(full), full);
    assert.deepEqual(mediaMetadataSchema.parse(empty), empty);
    assert.equal(
      mediaMetadataSchema.safeParse({ ...full, captureTime: '2019-03-12T09:11:12Z' }).success,
      true,
    );
  });

  it('refuses out-of-range, mistyped and unknown fields, naming the field', () => {
    const cases: [unknown, string][] = [
      [{ ...full, gps: { lat: 91, lon: 0 } }, 'gps.lat'],
      [{ ...full, orientation: 9 }, 'orientation'],
      [{ ...full, width: -1 }, 'width'],
      [{ ...full, captureTime: '12 March 2019' }, 'captureTime'],
      [{ ...full, captureTimeSource: 'guess' }, 'captureTimeSource'],
      [{ ...full, timeZone: { offsetMinutes: 2000, source: 'gps' } }, 'timeZone.offsetMinutes'],
      [{ ...empty, camera: { make: 'a\0b' } }, 'camera.make'],
      [null, ''],
    ];
    for (const [body, field] of cases) {
      const r = mediaMetadataSchema.safeParse(body);
      assert.equal(r.success, false, JSON.stringify(body).slice(0, 80));
      if (!r.success) assert.equal(firstIssue(r.error).field, field);
    }
    assert.equal(mediaMetadataSchema.safeParse({ ...full, extra: 1 }).success, false);
  });
});

describe('batch upload frames and answers', () => {
  it('a frame header carries the same fields and rules as tus Upload-Metadata', () => {
    const ok = { sha256: sha, size: 16384, filename: 'IMG_1.JPG', mime: 'image/jpeg' };
    assert.deepEqual(batchFrameHeaderSchema.parse(ok), ok);
    assert.equal(
      batchFrameHeaderSchema.safeParse({ ...ok, relpath: 'DCIM/IMG_1.JPG', mtimeMs: 1 }).success,
      true,
    );
    for (const bad of [
      { ...ok, sha256: sha.toUpperCase() },
      { ...ok, size: -1 },
      { ...ok, size: 1.5 },
      { ...ok, filename: '../x' },
      { ...ok, relpath: '/etc/passwd' },
      { ...ok, mime: 'jpeg' },
      { ...ok, mtimeMs: 'yesterday' },
    ])
      assert.equal(batchFrameHeaderSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });

  it('a batch answer keeps unknown refusal codes readable (forward compatible)', () => {
    const body = {
      results: [
        { sha256: sha, status: 'stored' },
        { sha256: sha, status: 'duplicate' },
        { sha256: sha, status: 'refused', code: 'some_new_code', message: 'm', retryable: false },
      ],
    };
    assert.deepEqual(batchResponseSchema.parse(body), body);
    assert.equal(
      batchResponseSchema.safeParse({ results: [{ sha256: sha, status: 'lost' }] }).success,
      false,
    );
  });
});

describe('dedup check and metadata batches', () => {
  it('a check asks about at most 1000 well-formed hashes', () => {
    assert.equal(checkRequestSchema.safeParse({ sha256: [sha] }).success, true);
    assert.equal(checkRequestSchema.safeParse({ sha256: ['x'] }).success, false);
    assert.equal(checkRequestSchema.safeParse({ sha256: Array(1001).fill(sha) }).success, false);
  });

  it('a metadata batch holds 1..500 items; the envelope leaves each item for its own check', () => {
    const item = { sha256: sha, metadata: full };
    assert.equal(metadataBatchRequestSchema.safeParse({ items: [item] }).success, true);
    assert.equal(metadataBatchRequestSchema.safeParse({ items: [] }).success, false);
    assert.equal(
      metadataBatchRequestSchema.safeParse({ items: Array(501).fill(item) }).success,
      false,
    );
    const loose = { items: [item, { sha256: sha, metadata: { width: 'wide' } }] };
    assert.equal(metadataBatchEnvelopeSchema.safeParse(loose).success, true);
    assert.equal(
      metadataBatchResponseSchema.safeParse({
        results: [
          { sha256: sha, status: 'stored' },
          { sha256: sha, status: 'refused', field: 'width', message: 'width: too small' },
          { sha256: sha, status: 'unknown_asset' },
        ],
      }).success,
      true,
    );
  });
});
