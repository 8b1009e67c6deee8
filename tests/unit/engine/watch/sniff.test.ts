// Recognising photos and videos by their first bytes (watch/sniff.ts), checked against every
// file of the real corpus: what exiftool calls an image or video format is media, what it
// calls JSON, XMP, text, HTML or XML is skipped as "not a photo or video".
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { classifyContent, NOT_MEDIA, sniffFile } from '../../../../main/engine/watch/sniff.js';
import { corpusFile, makeTempDir } from '../../../support/paths.js';
import { readManifest } from '../../../support/tree.js';

/** exiftool FileTypes (MANIFEST.tsv) that are photos or videos with a signature we know. */
const mediaFormats = new Set([
  'JPEG',
  'PNG',
  'HEIC',
  'HEIF',
  'TIFF',
  'MOV',
  'MP4',
  'AVIF',
  'M2TS',
  'AVI',
  'Extended WEBP',
  'WEBP',
  'GIF',
  'BMP',
  'JXL',
  'JXL Codestream',
  'JP2',
  'JPS',
  'PSD',
  'BPG',
  'FLIF',
  'MKV',
  'WMV',
  '3GP',
  'CR2',
  'CR3',
  'CRW',
  'NEF',
  'DNG',
  'RW2',
  'RAF',
  'MRW',
  'X3F',
]);
const notMediaFormats = /^(JSON|XMP|TXT|HTML|XML|AAE|SVG)/;

describe('sniffing content', () => {
  const manifest = readManifest();

  it('every photo and video of the corpus is recognised by its first bytes alone', async () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const row of manifest) {
      if (!mediaFormats.has(row.format)) continue;
      const c = await sniffFile(corpusFile(row.path));
      checked++;
      if (c.kind !== 'media') wrong.push(`${row.path} (${row.format})`);
    }
    assert.ok(checked > 250, `checked ${checked}`);
    assert.deepEqual(wrong, []);
  });

  it('sidecars, Takeout JSON, text and HTML are not photos or videos', async () => {
    const wrong: string[] = [];
    for (const row of manifest) {
      if (!notMediaFormats.test(row.format)) continue;
      const c = await sniffFile(corpusFile(row.path));
      if (c.kind !== 'skipped' || c.reason !== 'not a photo or video') {
        wrong.push(`${row.path} (${row.format}): ${JSON.stringify(c)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('knows the formats the extension list does not: JPEG XR, PGF, HEIF with JPEG 2000', () => {
    const jxr = Buffer.from([0x49, 0x49, 0xbc, 0x01, 0x08, 0x00, 0x00, 0x00]);
    assert.deepEqual(classifyContent(jxr), {
      kind: 'media',
      mediaType: 'image',
      mime: 'image/jxr',
    });
    const pgf = Buffer.concat([Buffer.from('PGF6'), Buffer.alloc(12)]);
    assert.equal(classifyContent(pgf).kind, 'media');
    const hej2 = Buffer.concat([
      Buffer.from([0, 0, 0, 0x18]),
      Buffer.from('ftypj2ki\0\0\0\0mif1j2ki'),
    ]);
    assert.deepEqual(classifyContent(hej2), {
      kind: 'media',
      mediaType: 'image',
      mime: 'image/heif',
    });
    // an audio-only MP4 is not a video
    const m4a = Buffer.concat([
      Buffer.from([0, 0, 0, 0x18]),
      Buffer.from('ftypM4A \0\0\0\0M4A mp42'),
    ]);
    assert.equal(classifyContent(m4a), NOT_MEDIA);
  });

  it('an empty or tiny file is not a photo; one that cannot be read is unreadable, never "not a photo"', async () => {
    assert.equal(classifyContent(Buffer.alloc(0)), NOT_MEDIA);
    assert.equal(classifyContent(Buffer.from('hi')), NOT_MEDIA);
    const { dir, cleanup } = await makeTempDir('keepsake-sniff-');
    try {
      const gone = await sniffFile(join(dir, 'nothing-here'));
      assert.deepEqual(gone, {
        kind: 'unreadable',
        code: 'file_not_found',
        message: 'could not read: it is gone',
      });
      const text = join(dir, 'README');
      await writeFile(text, 'just words\n');
      await chmod(text, 0o644);
      assert.equal(await sniffFile(text), NOT_MEDIA);
    } finally {
      await cleanup();
    }
  });
});
