import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyPath } from '../../../../main/engine/watch/media-types.js';
import type { FolderRules } from '../../../../main/engine/watch/types.js';

const noRules: FolderRules = { include: [], exclude: [] };

describe('classifyPath', () => {
  it('recognises photos, RAW and videos by extension, whatever the case, with a mime type', () => {
    const table: [string, string, string][] = [
      ['IMG_0001.JPG', 'image', 'image/jpeg'],
      ['a/b/photo.jpeg', 'image', 'image/jpeg'],
      ['x.jpe', 'image', 'image/jpeg'],
      ['IMG_3582.HEIC', 'image', 'image/heic'],
      ['img.heif', 'image', 'image/heif'],
      ['img.avif', 'image', 'image/avif'],
      ['scan.png', 'image', 'image/png'],
      ['anim.gif', 'image', 'image/gif'],
      ['x.webp', 'image', 'image/webp'],
      ['x.tif', 'image', 'image/tiff'],
      ['x.TIFF', 'image', 'image/tiff'],
      ['x.bmp', 'image', 'image/bmp'],
      ['x.jxl', 'image', 'image/jxl'],
      ['DNG.dng', 'raw', 'image/x-adobe-dng'],
      ['CanonRaw.CR2', 'raw', 'image/x-canon-cr2'],
      ['CanonRaw.cr3', 'raw', 'image/x-canon-cr3'],
      ['CanonRaw.crw', 'raw', 'image/x-canon-crw'],
      ['Nikon.NEF', 'raw', 'image/x-nikon-nef'],
      ['x.nrw', 'raw', 'image/x-nikon-nrw'],
      ['x.ARW', 'raw', 'image/x-sony-arw'],
      ['x.srf', 'raw', 'image/x-sony-srf'],
      ['x.sr2', 'raw', 'image/x-sony-sr2'],
      ['x.orf', 'raw', 'image/x-olympus-orf'],
      ['Panasonic.rw2', 'raw', 'image/x-panasonic-rw2'],
      ['FujiFilm.raf', 'raw', 'image/x-fuji-raf'],
      ['x.pef', 'raw', 'image/x-pentax-pef'],
      ['x.srw', 'raw', 'image/x-samsung-srw'],
      ['Sigma.x3f', 'raw', 'image/x-sigma-x3f'],
      ['PhaseOne.iiq', 'raw', 'image/x-phaseone-iiq'],
      ['x.3fr', 'raw', 'image/x-hasselblad-3fr'],
      ['Minolta.mrw', 'raw', 'image/x-minolta-mrw'],
      ['x.rwl', 'raw', 'image/x-leica-rwl'],
      ['KyoceraRaw.raw', 'raw', 'image/x-panasonic-raw'],
      ['clip.MOV', 'video', 'video/quicktime'],
      ['clip.mp4', 'video', 'video/mp4'],
      ['clip.m4v', 'video', 'video/x-m4v'],
      ['clip.3gp', 'video', 'video/3gpp'],
      ['00001.MTS', 'video', 'video/mp2t'],
      ['00001.m2ts', 'video', 'video/mp2t'],
      ['clip.avi', 'video', 'video/x-msvideo'],
      ['clip.mkv', 'video', 'video/x-matroska'],
      ['clip.wmv', 'video', 'video/x-ms-wmv'],
      ['clip.webm', 'video', 'video/webm'],
      ['clip.mpg', 'video', 'video/mpeg'],
      ['clip.mpeg', 'video', 'video/mpeg'],
      ['clip.dv', 'video', 'video/x-dv'],
    ];
    for (const [relPath, mediaType, mime] of table) {
      assert.deepEqual(classifyPath(relPath, noRules), { kind: 'media', mediaType, mime }, relPath);
    }
  });

  it('treats .xmp and .aae as sidecars that travel with their media', () => {
    assert.equal(classifyPath('2020/IMG_5910.xmp', noRules).kind, 'sidecar');
    assert.equal(classifyPath('IMG_3582.AAE', noRules).kind, 'sidecar');
  });

  it('a name without a known extension is unknown: its content decides (never silently ignored)', () => {
    for (const relPath of ['notes.txt', 'album.json', 'Makefile', 'photo.', 'jpg', 'a/b/readme']) {
      assert.deepEqual(classifyPath(relPath, noRules), { kind: 'unknown' }, relPath);
    }
  });

  it('ignores hidden, system and temporary files even with a media extension', () => {
    const ignored = [
      '.DS_Store',
      'Thumbs.db',
      'THUMBS.DB',
      'desktop.ini',
      '._IMG_0001.JPG', // macOS resource fork on a FAT/exFAT card
      '.hidden.jpg',
      'IMG_0001.jpg.tmp',
      'IMG_0001.JPG.part',
      'video.mp4.crdownload',
      '~$photo.jpg',
      'photo.jpg~',
      'trip/.thumbnails/IMG_0001.jpg', // a dot-folder at any depth
      '.git/objects/x.jpg',
      '@eaDir/IMG_0001.JPG/SYNOFILE_THUMB_XL.jpg', // Synology thumbnails
      '$RECYCLE.BIN/S-1-5-21/IMG_0001.jpg',
      'System Volume Information/x.jpg',
    ];
    for (const relPath of ignored) {
      assert.deepEqual(classifyPath(relPath, noRules), { kind: 'ignored' }, relPath);
    }
  });

  it('an exclude glob gives excluded with the rule named, so the person sees why', () => {
    const rules: FolderRules = { include: [], exclude: ['*.png', 'Screenshots', '2019/raw/**'] };
    assert.deepEqual(classifyPath('a/b/scan.PNG', rules), {
      kind: 'excluded',
      rule: 'exclude: *.png',
    });
    assert.deepEqual(classifyPath('Phone/Screenshots/x.jpg', rules), {
      kind: 'excluded',
      rule: 'exclude: Screenshots',
    });
    assert.deepEqual(classifyPath('2019/raw/deep/x.nef', rules), {
      kind: 'excluded',
      rule: 'exclude: 2019/raw/**',
    });
    assert.equal(classifyPath('2020/raw/x.nef', rules).kind, 'media'); // anchored glob
    assert.equal(classifyPath('a/b/scan.jpg', rules).kind, 'media');
    // a name that says nothing is unknown (its content decides), unless a rule excludes it
    assert.deepEqual(classifyPath('a/notes.png.txt', rules), { kind: 'unknown' });
    assert.deepEqual(classifyPath('Screenshots/notes.txt', rules), {
      kind: 'excluded',
      rule: 'exclude: Screenshots',
    });
  });

  it('a folder glob with a trailing slash excludes what is inside that folder', () => {
    const rules: FolderRules = { include: [], exclude: ['Private/'] };
    assert.equal(classifyPath('2020/Private/x.jpg', rules).kind, 'excluded');
    assert.equal(classifyPath('2020/Privately/x.jpg', rules).kind, 'media');
  });

  it('include globs keep only matching files; the rest are excluded with the include rule', () => {
    const rules: FolderRules = { include: ['DCIM/**', '*.heic'], exclude: ['*.mov'] };
    assert.equal(classifyPath('DCIM/100CANON/IMG_1.JPG', rules).kind, 'media');
    assert.equal(classifyPath('elsewhere/IMG_2.HEIC', rules).kind, 'media');
    const notIncluded = classifyPath('elsewhere/IMG_3.jpg', rules);
    assert.equal(notIncluded.kind, 'excluded');
    assert.match((notIncluded as { rule: string }).rule, /^include: .*DCIM\/\*\*.*\*\.heic/);
    // exclude wins over include
    assert.deepEqual(classifyPath('DCIM/100CANON/MVI_1.MOV', rules), {
      kind: 'excluded',
      rule: 'exclude: *.mov',
    });
  });

  it('gives the same answer for equal rules passed as different objects', () => {
    const a = classifyPath('x/y.png', { include: [], exclude: ['*.png'] });
    const b = classifyPath('x/y.png', { include: [], exclude: ['*.png'] });
    assert.deepEqual(a, b);
    assert.equal(classifyPath('x/y.png', { include: [], exclude: [] }).kind, 'media');
  });
});
