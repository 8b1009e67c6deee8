// Every row of [Note: iCloud Photo Details columns] (main/engine/import/icloud/photo-details.ts),
// with CSV text in Apple's format: a BOM, CRLF line ends, the date quoted because of its comma.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseAlbumList,
  parseAppleDate,
  parsePhotoDetails,
} from '../../../../../main/engine/import/icloud/photo-details.js';

const HEADER =
  'imgName,fileChecksum,favorite,hidden,deleted,originalCreationDate,viewCount,importDate';
const row = (name: string, fav: string, hidden: string, deleted: string, date: string) =>
  `${name},AfQj57ORF2JIumUCjO+PawZ9nqPg,${fav},${hidden},${deleted},"${date}",10,"${date}"`;
const csv = (...lines: string[]) => `\ufeff${[HEADER, ...lines].join('\r\n')}\r\n`;

describe("what iCloud's Photo Details.csv says about a photo", () => {
  it('reads originalCreationDate as Apple writes it: the instant in GMT, to the minute', () => {
    assert.equal(
      parseAppleDate('Tuesday June 14,2022 8:10 PM GMT'),
      Date.parse('2022-06-14T20:10:00Z'),
    );
    assert.equal(
      parseAppleDate('Friday October 06,2023 12:11 AM GMT'),
      Date.parse('2023-10-06T00:11:00Z'),
    );
    assert.equal(
      parseAppleDate('Saturday June 4,2022 12:11 PM GMT'),
      Date.parse('2022-06-04T12:11:00Z'),
    );
    assert.equal(
      parseAppleDate('Sunday February 9,2025 1:36 AM GMT'),
      Date.parse('2025-02-09T01:36:00Z'),
    );
  });

  it('refuses a date not in that form rather than guessing one', () => {
    for (const bad of [
      '2022-06-14 20:10',
      'Tuesday June 14,2022 8:10 PM',
      'Tuesday June 14,2022 8:10 PM CEST',
      'Monday February 31,2022 8:10 PM GMT',
      'Tuesday Juin 14,2022 8:10 PM GMT',
      'Tuesday June 14,2022 13:10 PM GMT',
    ]) {
      assert.equal(parseAppleDate(bad), null, bad);
    }
  });

  it('reads favourite, hidden and deleted, with a BOM and CRLF line ends', () => {
    const r = parsePhotoDetails(
      csv(
        row('IMG_1853.HEIC', 'yes', 'no', 'no', 'Tuesday June 14,2022 8:10 PM GMT'),
        row('IMG_3582.HEIC', 'no', 'yes', 'no', 'Friday October 06,2023 12:11 AM GMT'),
        row('IMG_0001.JPG', 'no', 'no', 'yes', 'Sunday February 9,2025 1:36 AM GMT'),
      ),
    );
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.rows, [
      {
        name: 'IMG_1853.HEIC',
        line: 2,
        createdMs: Date.parse('2022-06-14T20:10:00Z'),
        favorite: true,
        hidden: false,
        deleted: false,
      },
      {
        name: 'IMG_3582.HEIC',
        line: 3,
        createdMs: Date.parse('2023-10-06T00:11:00Z'),
        favorite: false,
        hidden: true,
        deleted: false,
      },
      {
        name: 'IMG_0001.JPG',
        line: 4,
        createdMs: Date.parse('2025-02-09T01:36:00Z'),
        favorite: false,
        hidden: false,
        deleted: true,
      },
    ]);
  });

  it('a malformed line is a problem naming its line, and the rows after it are still read', () => {
    const r = parsePhotoDetails(
      csv(
        'IMG_0002.JPG,abc,no,no,no',
        row('IMG_0003.JPG', 'maybe', 'no', 'no', 'Tuesday June 14,2022 8:10 PM GMT'),
        row('IMG_0004.JPG', 'no', 'no', 'no', 'June 14 2022'),
        row('IMG_0005.JPG', 'no', 'no', 'no', 'Tuesday June 14,2022 8:10 PM GMT'),
      ),
    );
    assert.deepEqual(
      r.problems.map((p) => p.line),
      [2, 3, 4],
    );
    assert.match(r.problems[0]?.message ?? '', /5 fields where the header has 8/);
    assert.match(r.problems[1]?.message ?? '', /favorite is "maybe"/);
    assert.match(r.problems[2]?.message ?? '', /"June 14 2022" is not a date in Apple's form/);
    assert.deepEqual(
      r.rows.map((x) => [x.name, x.createdMs !== null, x.favorite]),
      [
        ['IMG_0003.JPG', true, undefined], // the bad flag is left out, the date kept
        ['IMG_0004.JPG', false, false],
        ['IMG_0005.JPG', true, false],
      ],
    );
  });

  it('a quote left open is a problem with its line; what came before it is kept', () => {
    const r = parsePhotoDetails(
      csv(
        row('IMG_0006.JPG', 'no', 'no', 'no', 'Tuesday June 14,2022 8:10 PM GMT'),
        'IMG_0007.JPG,abc,no,no,no,"Tuesday June 14,2022 8:10 PM GMT,1,x',
      ),
    );
    assert.deepEqual(
      r.rows.map((x) => x.name),
      ['IMG_0006.JPG'],
    );
    assert.equal(r.problems.length, 1);
    assert.equal(typeof r.problems[0]?.line, 'number');
  });

  it('a file without an imgName column is one problem, not a guess at its columns', () => {
    const r = parsePhotoDetails('name,date\r\nIMG_1.JPG,x\r\n');
    assert.deepEqual(r.rows, []);
    assert.match(r.problems[0]?.message ?? '', /no imgName column/);
  });
});

describe("an iCloud album's CSV", () => {
  it('lists its file names in album order under the "Images" header', () => {
    const r = parseAlbumList(
      '\ufeffImages\r\nIMG_3582.HEIC\r\nIMG_1853.HEIC\r\n\r\n"A, B.jpg"\r\n',
    );
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.names, [
      { name: 'IMG_3582.HEIC', line: 2 },
      { name: 'IMG_1853.HEIC', line: 3 },
      { name: 'A, B.jpg', line: 5 },
    ]);
  });

  it('takes the imgName header some exports write too; two names on a line are a problem', () => {
    const r = parseAlbumList('imgName\nIMG_1.JPG\nIMG_2.JPG,IMG_3.JPG\nIMG_4.JPG\n');
    assert.deepEqual(
      r.names.map((n) => n.name),
      ['IMG_1.JPG', 'IMG_4.JPG'],
    );
    assert.deepEqual(
      r.problems.map((p) => p.line),
      [3],
    );
  });
});
