// Every row of [Note: Takeout folders] (main/engine/import/takeout/album-folders.ts), and the
// rule that names a file inside an export the same in a zip part and in its unpacked folder.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { folderRole } from '../../../../../main/engine/import/takeout/album-folders.js';
import { exportPath } from '../../../../../main/engine/import/common/export-source.js';

describe('which Takeout folders are albums', () => {
  it('a folder with metadata.json is an album, whatever its name', () => {
    assert.equal(folderRole('gophers', true), 'album');
    assert.equal(folderRole('Photos from 2020', true), 'album');
  });

  it('"Photos from YYYY" and its localised forms are the timeline, not albums', () => {
    for (const name of [
      'Photos from 2021',
      'Fotos von 2019',
      'Photos de 2018',
      'Fotos de 2017',
      'Foto del 2016',
      "Foto's uit 2015",
      'Zdjęcia z 2014',
      '2013年の写真',
    ]) {
      assert.equal(folderRole(name, false), 'year', name);
    }
  });

  it('trash and archive folders are not albums', () => {
    assert.equal(folderRole('Trash', false), 'trash');
    assert.equal(folderRole('Papierkorb', false), 'trash');
    assert.equal(folderRole('Archive', false), 'archive');
  });

  it('any other folder of media is an album named after it (emoji included)', () => {
    assert.equal(folderRole('Pumpkin Farm', false), 'album');
    assert.equal(folderRole('Summer 2019 🏖', false), 'album');
    assert.equal(folderRole('Photos from the wedding', false), 'album');
  });
});

describe('paths inside an export', () => {
  it('a zip part and its unpacked folder name a file alike (the leading Takeout/ dropped)', () => {
    assert.equal(exportPath('Takeout/Google Photos/A/x.jpg'), 'Google Photos/A/x.jpg');
    assert.equal(exportPath('Google Photos/A/x.jpg'), 'Google Photos/A/x.jpg');
    assert.equal(exportPath('Google Photos\\A\\x.jpg'), 'Google Photos/A/x.jpg');
  });

  it('a name that would leave the export is refused', () => {
    assert.equal(exportPath('../etc/passwd'), null);
    assert.equal(exportPath('Takeout/../../x.jpg'), null);
    assert.equal(exportPath('/etc/passwd'), null);
    assert.equal(exportPath('C:/x.jpg'), null);
    assert.equal(exportPath('a\0b.jpg'), null);
  });
});
