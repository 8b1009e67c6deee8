// [Note: iCloud rows and files] (main/engine/import/icloud/icloud-import.ts): which Photo
// Details row describes which file, where names repeat across parts, and where it is not
// certain (then reported, never guessed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PhotoDetailsRow } from '../../../../../main/engine/import/icloud/photo-details.js';
import { matchRows, partOf } from '../../../../../main/engine/import/icloud/row-match.js';

const P1 = 'iCloud Photos Part 1 of 2';
const P2 = 'iCloud Photos Part 2 of 2';
let nextLine = 2;
const row = (name: string): PhotoDetailsRow => ({ name, line: nextLine++, createdMs: 0 });

describe('iCloud Photo Details rows and files', () => {
  it("a part is what comes before Apple's Photos, Recently Deleted, Albums or Memories folder", () => {
    assert.equal(partOf(`${P1}/Photos/IMG_1.HEIC`), P1);
    assert.equal(partOf(`${P1}/Recently Deleted/IMG_1.HEIC`), P1);
    assert.equal(partOf(`${P1}/Photo Details.csv`), P1);
    assert.equal(partOf('IMG_1.HEIC'), '');
  });

  it('the same name in two parts: each file takes the row beside it', () => {
    const a = row('IMG_0100.MOV');
    const b = row('IMG_0100.MOV');
    const m = matchRows(
      [`${P1}/Photos/IMG_0100.MOV`, `${P2}/Photos/IMG_0100.MOV`],
      [
        { csv: `${P1}/Photos/Photo Details.csv`, rows: [a] },
        { csv: `${P2}/Photos/Photo Details-1.csv`, rows: [b] },
      ],
    );
    assert.equal(m.rowOf.get(`${P1}/Photos/IMG_0100.MOV`), a);
    assert.equal(m.rowOf.get(`${P2}/Photos/IMG_0100.MOV`), b);
    assert.deepEqual(m.unmatched, []);
  });

  it("a file in Recently Deleted takes its part's row; a CSV at the part's top serves its Photos", () => {
    const deleted = { ...row('IMG_7.JPG'), deleted: true };
    const top = row('IMG_8.JPG');
    const m = matchRows(
      [`${P1}/Recently Deleted/IMG_7.JPG`, `${P2}/Photos/IMG_8.JPG`],
      [
        { csv: `${P1}/Photos/Photo Details.csv`, rows: [deleted] },
        { csv: `${P2}/Photo Details.csv`, rows: [top] },
      ],
    );
    assert.equal(m.rowOf.get(`${P1}/Recently Deleted/IMG_7.JPG`), deleted);
    assert.equal(m.rowOf.get(`${P2}/Photos/IMG_8.JPG`), top);
  });

  it('a row with no file beside it is taken by the only file of its name elsewhere in the copy', () => {
    const r = row('IMG_9.JPG');
    const m = matchRows(
      [`${P2}/Photos/IMG_9.JPG`],
      [{ csv: `${P1}/Photos/Photo Details.csv`, rows: [r] }],
    );
    assert.equal(m.rowOf.get(`${P2}/Photos/IMG_9.JPG`), r);
  });

  it('a name listed twice in one folder, or one row for two files, is reported, never picked', () => {
    const twice = [row('IMG_0300.MOV'), row('IMG_0300.MOV')];
    const one = row('IMG_0400.JPG');
    const m = matchRows(
      [`${P1}/Photos/IMG_0300.MOV`, `${P1}/Photos/IMG_0400.JPG`, `${P2}/Photos/IMG_0400.JPG`],
      [
        { csv: `${P1}/Photos/Photo Details.csv`, rows: twice },
        { csv: `${P1}/Albums/../Photo Details.csv`, rows: [] },
        { csv: `${P2}/Photo Details-9.csv`, rows: [] },
        { csv: 'elsewhere/Photo Details.csv', rows: [one] },
      ],
    );
    assert.equal(m.rowOf.size, 0);
    assert.match(
      m.why.get(`${P1}/Photos/IMG_0300.MOV`) ?? '',
      /its folder's Photo Details list the name 2 times/,
    );
    assert.match(
      m.why.get(`${P2}/Photos/IMG_0400.JPG`) ?? '',
      /2 files of that name share one row/,
    );
    assert.deepEqual(
      m.unmatched.map((u) => u.name),
      ['IMG_0300.MOV', 'IMG_0300.MOV', 'IMG_0400.JPG'],
    );
  });

  it('a file no row names says so; a row naming no file is listed with its line', () => {
    const r = row('IMG_GONE.JPG');
    const m = matchRows(
      [`${P1}/Photos/IMG_1.JPG`],
      [{ csv: `${P1}/Photos/Photo Details.csv`, rows: [r] }],
    );
    assert.equal(m.why.get(`${P1}/Photos/IMG_1.JPG`), 'no Photo Details row names it');
    assert.deepEqual(m.unmatched, [
      {
        path: `${P1}/Photos/Photo Details.csv`,
        line: r.line,
        name: 'IMG_GONE.JPG',
        reason: 'no photo or video of that name in the copy',
      },
    ]);
  });
});
