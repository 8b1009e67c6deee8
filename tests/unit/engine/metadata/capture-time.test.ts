import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import tzLookup from '@photostructure/tz-lookup';
import {
  type CaptureTimeInput,
  dateFromFileName,
  formatInOffset,
  offsetFromGpsClock,
  parseExifDateTime,
  parseOffset,
  parseSubSeconds,
  resolveCaptureTime,
  wallAsUtcMs,
  zoneOffsetForWallClock,
} from '../../../../main/engine/metadata/capture-time.js';

const wall = (s: string) => {
  const p = parseExifDateTime(s);
  assert.ok(p, s);
  return p.wall;
};

describe('capture-time parsing', () => {
  it('parses EXIF, XMP and QuickTime date-times and refuses unset or impossible ones', () => {
    const table: [string, string | null, number | null][] = [
      ['2019:03:12 10:11:12', '2019-03-12T10:11:12.000Z', null],
      ['2019:03:12 10:11:12.5', '2019-03-12T10:11:12.500Z', null],
      ['2019:03:12 10:11:12.409-07:00', '2019-03-12T10:11:12.409Z', -420],
      ['2019-07-24T11:25:40+03:00', '2019-07-24T11:25:40.000Z', 180],
      ['2008:10:23 14:27:07.24Z', '2008-10-23T14:27:07.240Z', 0],
      ['2019:03:12 10:11', '2019-03-12T10:11:00.000Z', null],
      [':07:04 16:24:01', null, null], // osxphotos/badimage.jpeg
      ['0000:00:00 00:00:00', null, null],
      ['2019:02:30 10:00:00', null, null],
      ['2019:13:01 10:00:00', null, null],
      ['2019:03:12', null, null], // a date alone is not a capture time
      ['2019:03:12 25:00:00', null, null],
      ['garbage', null, null],
    ];
    for (const [text, wallIso, offset] of table) {
      const parsed = parseExifDateTime(text);
      if (wallIso === null) {
        assert.equal(parsed, null, text);
        continue;
      }
      assert.ok(parsed, text);
      assert.equal(new Date(wallAsUtcMs(parsed.wall)).toISOString(), wallIso, text);
      assert.equal(parsed.offsetMinutes, offset, text);
    }
  });

  it('parses offsets and sub-seconds as cameras write them', () => {
    assert.equal(parseOffset('+01:00'), 60);
    assert.equal(parseOffset('-07:00'), -420);
    assert.equal(parseOffset('+05:30'), 330);
    assert.equal(parseOffset('+0545'), 345);
    assert.equal(parseOffset('Z'), 0);
    assert.equal(parseOffset('+15:00'), null);
    assert.equal(parseOffset('   :  '), null);
    assert.equal(parseOffset(undefined), null);
    assert.equal(parseSubSeconds('4'), 400);
    assert.equal(parseSubSeconds('45'), 450);
    assert.equal(parseSubSeconds(409), 409);
    assert.equal(parseSubSeconds('4091'), 409);
    assert.equal(parseSubSeconds('x'), null);
  });

  it('finds a date and time in the names phones and cameras give files', () => {
    const table: [string, string | null][] = [
      ['IMG_20190312_101112.jpg', '2019-03-12T10:11:12.000Z'],
      ['VID_20190312_101112.mp4', '2019-03-12T10:11:12.000Z'],
      ['PXL_20210101_101112345.jpg', '2021-01-01T10:11:12.345Z'],
      ['PXL_20210101_101112345.NIGHT.jpg', '2021-01-01T10:11:12.345Z'],
      ['Screenshot_20190312-101112.png', '2019-03-12T10:11:12.000Z'],
      ['Screenshot_20190312-101112_Chrome.jpg', '2019-03-12T10:11:12.000Z'],
      ['2019-03-12 10.11.12.jpg', '2019-03-12T10:11:12.000Z'],
      ['Screenshot 2019-03-12 at 10.11.12.png', '2019-03-12T10:11:12.000Z'],
      ['20190312_101112.jpg', '2019-03-12T10:11:12.000Z'],
      ['IMG_20180725_163423-tiny.jpg', '2018-07-25T16:34:23.000Z'],
      ['IMG_1234.jpg', null],
      ['IMG-20190312-WA0001.jpg', null], // WhatsApp: a date without a time
      ['IMG_20190230_101112.jpg', null], // 30 February
      ['138d3b9e0d9fbf641b8135981e597c3a.jpg', null],
      ['DSC_201903121011120.jpg', null], // a longer digit run is not a date
    ];
    for (const [name, expected] of table) {
      const found = dateFromFileName(name);
      assert.equal(
        found === null ? null : new Date(wallAsUtcMs(found)).toISOString(),
        expected,
        name,
      );
    }
  });

  it('derives an offset from the GPS clock only when it is a whole quarter hour', () => {
    const local = wall('2019:07:01 14:00:00');
    const utc = (s: string) => Date.parse(s);
    assert.equal(offsetFromGpsClock(local, utc('2019-07-01T12:00:00Z')), 120);
    assert.equal(offsetFromGpsClock(local, utc('2019-07-01T12:01:30Z')), 120); // 90 s drift
    assert.equal(offsetFromGpsClock(local, utc('2019-07-01T08:30:00Z')), 330); // India
    assert.equal(offsetFromGpsClock(local, utc('2019-07-01T12:07:00Z')), null); // stale fix
    assert.equal(offsetFromGpsClock(local, utc('2019-06-30T14:00:00Z')), null); // a day off
  });

  it('knows the offset a zone had at a wall-clock time, with DST', () => {
    assert.equal(zoneOffsetForWallClock('Europe/Berlin', wall('2019:01:15 12:00:00')), 60);
    assert.equal(zoneOffsetForWallClock('Europe/Berlin', wall('2019:07:15 12:00:00')), 120);
    assert.equal(zoneOffsetForWallClock('America/New_York', wall('2019:07:15 12:00:00')), -240);
    assert.equal(zoneOffsetForWallClock('Asia/Kolkata', wall('2019:07:15 12:00:00')), 330);
    // 02:30 did not exist in Berlin on 2021-03-28: the clock had not been moved yet
    assert.equal(zoneOffsetForWallClock('Europe/Berlin', wall('2021:03:28 02:30:00')), 60);
    assert.equal(
      formatInOffset(Date.parse('2019-03-12T09:11:12.345Z'), 60),
      '2019-03-12T10:11:12.345+01:00',
    );
    assert.equal(
      formatInOffset(Date.parse('2019-03-12T17:11:12Z'), -420),
      '2019-03-12T10:11:12.000-07:00',
    );
  });
});

describe('resolveCaptureTime: the policy of [Note: Capture time and time zones]', () => {
  const base: CaptureTimeInput = {
    tags: {},
    fileName: 'IMG_0001.JPG',
    mtimeMs: Date.parse('2024-05-01T08:00:00Z'),
    timeZone: 'Europe/Berlin',
  };
  // a position table for the policy's zone lookup (the reader passes tz-lookup itself)
  const zoneAt = (lat: number, lon: number): string | undefined =>
    lat > 41 && lat < 42 && lon > 12 && lon < 13
      ? 'Europe/Rome'
      : lat > 35 && lat < 36 && lon > 139 && lon < 140
        ? 'Asia/Tokyo'
        : undefined;

  const cases: {
    name: string;
    input: Partial<CaptureTimeInput>;
    captureTime: string;
    source: string;
    tz: [number, string];
    problems?: RegExp[];
  }[] = [
    {
      name: 'DateTimeOriginal with OffsetTimeOriginal and sub-seconds',
      input: {
        tags: {
          'EXIF:DateTimeOriginal': '2023:03:23 10:19:38',
          'EXIF:SubSecTimeOriginal': 409,
          'EXIF:OffsetTimeOriginal': '-07:00',
          'EXIF:OffsetTime': '+01:00',
          'EXIF:CreateDate': '2020:01:01 00:00:00',
        },
      },
      captureTime: '2023-03-23T10:19:38.409-07:00',
      source: 'exif_original',
      tz: [-420, 'offset_time_original'],
    },
    {
      name: 'OffsetTime when OffsetTimeOriginal is missing',
      input: {
        tags: { 'EXIF:DateTimeOriginal': '2019:03:12 10:11:12', 'EXIF:OffsetTime': '+05:30' },
      },
      captureTime: '2019-03-12T10:11:12.000+05:30',
      source: 'exif_original',
      tz: [330, 'offset_time'],
    },
    {
      name: 'no offset tags: the zone at the GPS position beats the GPS clock and the machine',
      input: {
        tags: {
          'EXIF:DateTimeOriginal': '2011:01:13 14:33:39',
          'Composite:GPSLatitude': 41.853,
          'Composite:GPSLongitude': 12.4888,
          'EXIF:GPSDateStamp': '2011:01:13',
          'EXIF:GPSTimeStamp': '14:33:35.62', // local time written as UTC (early iPhone)
        },
        zoneAt,
      },
      captureTime: '2011-01-13T14:33:39.000+01:00',
      source: 'exif_original',
      tz: [60, 'gps'],
    },
    {
      name: 'no position: the GPS clock difference, rounded to a quarter hour',
      input: {
        tags: {
          'EXIF:DateTimeOriginal': '2019:07:01 14:00:00',
          'EXIF:GPSDateStamp': '2019:07:01',
          'EXIF:GPSTimeStamp': '08:29:10',
        },
      },
      captureTime: '2019-07-01T14:00:00.000+05:30',
      source: 'exif_original',
      tz: [330, 'gps'],
    },
    {
      name: 'nothing but a wall-clock time: the machine zone, recorded as assumed (summer)',
      input: { tags: { 'EXIF:DateTimeOriginal': '2019:07:01 14:00:00' } },
      captureTime: '2019-07-01T14:00:00.000+02:00',
      source: 'exif_original',
      tz: [120, 'assumed_local'],
    },
    {
      name: 'the machine zone in winter',
      input: { tags: { 'EXIF:DateTimeOriginal': '2019:01:01 14:00:00' } },
      captureTime: '2019-01-01T14:00:00.000+01:00',
      source: 'exif_original',
      tz: [60, 'assumed_local'],
    },
    {
      name: 'a corrupt DateTimeOriginal is skipped with a problem; CreateDate is used',
      input: {
        tags: {
          'EXIF:DateTimeOriginal': ':07:04 16:24:01',
          'EXIF:CreateDate': '2019:07:04 16:24:01',
        },
      },
      captureTime: '2019-07-04T16:24:01.000+02:00',
      source: 'exif_create',
      tz: [120, 'assumed_local'],
      problems: [/DateTimeOriginal date in the file is unreadable/],
    },
    {
      name: 'an XMP date carries its own offset',
      input: {
        tags: { 'XMP:CreateDate': '2010:04:13 09:37:22+02:00', 'XMP:DateCreated': '2010:04:13' },
      },
      captureTime: '2010-04-13T09:37:22.000+02:00',
      source: 'exif_create',
      tz: [120, 'offset_time'],
    },
    {
      name: "Apple's QuickTime CreationDate with its zone beats the UTC movie header",
      input: {
        tags: {
          'QuickTime:CreateDate': '2019:07:24 08:25:57',
          'QuickTime:CreationDate': '2019:07:24 11:25:40+03:00',
        },
      },
      captureTime: '2019-07-24T11:25:40.000+03:00',
      source: 'quicktime',
      tz: [180, 'quicktime_tz'],
    },
    {
      name: 'the QuickTime movie header CreateDate is UTC by spec',
      input: { tags: { 'QuickTime:CreateDate': '2017:02:22 08:20:28' } },
      captureTime: '2017-02-22T08:20:28.000+00:00',
      source: 'quicktime',
      tz: [0, 'utc'],
    },
    {
      name: 'a UTC QuickTime date is shown in the zone of its GPS position (same instant)',
      input: {
        tags: {
          'QuickTime:CreateDate': '2017:02:22 08:20:28',
          'QuickTime:GPSCoordinates': '35.6 139.7 10',
        },
        zoneAt,
      },
      captureTime: '2017-02-22T17:20:28.000+09:00',
      source: 'quicktime',
      tz: [540, 'gps'],
    },
    {
      name: 'an unset QuickTime date (zeros) is not used, quietly; GPS time is',
      input: {
        tags: {
          'QuickTime:CreateDate': '0000:00:00 00:00:00',
          'Composite:GPSDateTime': '2008:10:23 14:27:07.24Z',
        },
      },
      captureTime: '2008-10-23T14:27:07.240+00:00',
      source: 'gps',
      tz: [0, 'utc'],
      problems: [],
    },
    {
      name: 'a date in the file name, in the machine zone',
      input: { fileName: 'PXL_20210101_101112345.jpg' },
      captureTime: '2021-01-01T10:11:12.345+01:00',
      source: 'filename',
      tz: [60, 'assumed_local'],
    },
    {
      name: 'nothing at all: the modification time, with a problem saying so',
      input: { fileName: 'scan.png' },
      captureTime: '2024-05-01T10:00:00.000+02:00',
      source: 'mtime',
      tz: [120, 'assumed_local'],
      problems: [/modification time/],
    },
    {
      name: 'Null Island (0, 0) is no position',
      input: {
        tags: {
          'EXIF:DateTimeOriginal': '2019:07:01 14:00:00',
          'Composite:GPSLatitude': 0,
          'Composite:GPSLongitude': 0,
        },
        zoneAt: () => 'Africa/Abidjan',
      },
      captureTime: '2019-07-01T14:00:00.000+02:00',
      source: 'exif_original',
      tz: [120, 'assumed_local'],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const result = resolveCaptureTime({ ...base, ...c.input });
      assert.equal(result.captureTime, c.captureTime);
      assert.equal(result.captureTimeSource, c.source);
      assert.deepEqual(result.timeZone, { offsetMinutes: c.tz[0], source: c.tz[1] });
      if (c.problems) {
        assert.equal(result.problems.length, c.problems.length, result.problems.join(' | '));
        c.problems.forEach((re, i) => assert.match(result.problems[i] ?? '', re));
      }
    });
  }

  it('uses the real position-to-zone table for a GPS sample (DSCN0010: Tuscany, October, CEST)', () => {
    const result = resolveCaptureTime({
      ...base,
      tags: {
        'EXIF:DateTimeOriginal': '2008:10:22 16:28:39',
        'Composite:GPSLatitude': 43.4674483333333,
        'Composite:GPSLongitude': 11.8851266666639,
        'Composite:GPSDateTime': '2008:10:23 14:27:07.24Z', // this camera's GPS date is a day off
      },
      zoneAt: (lat, lon) => tzLookup(lat, lon),
    });
    assert.equal(result.captureTime, '2008-10-22T16:28:39.000+02:00');
    assert.deepEqual(result.timeZone, { offsetMinutes: 120, source: 'gps' });
  });
});
