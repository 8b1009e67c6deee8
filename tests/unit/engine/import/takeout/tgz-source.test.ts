// The .tgz reader (main/engine/import/takeout/tgz-source.ts) against archives GNU tar writes:
// long and non-ASCII names in both GNU ('L') and pax ('x') form, every byte intact, and the
// in-order second pass handing out only what is asked for.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openTgzSource } from '../../../../../main/engine/import/takeout/tgz-source.js';
import { makeTempDir } from '../../../../support/paths.js';

const LONG = `Google Photos/Album with a long name 🎃/${'PXL_20230615_123456789_'.repeat(5)}.jpg`;
const FILES: [string, Buffer][] = [
  ['Google Photos/Photos from 2021/a.jpg', Buffer.alloc(70_000, 7)],
  ['Google Photos/Photos from 2021/a.jpg.json', Buffer.from('{"title":"a.jpg"}')],
  [LONG, Buffer.from('x'.repeat(1025))],
  ['Google Photos/Photos from 2021/empty.jpg', Buffer.alloc(0)],
];

describe('.tgz parts', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await makeTempDir('keepsake-tgz-');
    for (const [name, data] of FILES) {
      const path = join(tmp.dir, 'src', 'Takeout', name);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, data);
    }
  });
  after(async () => {
    await tmp?.cleanup();
  });

  for (const format of ['gnu', 'pax']) {
    it(`lists every file with its size and hash, long and emoji names included (${format})`, async () => {
      const file = join(tmp.dir, `${format}.tgz`);
      const made = spawnSync('tar', [
        `--format=${format}`,
        '-czf',
        file,
        '-C',
        join(tmp.dir, 'src'),
        'Takeout',
      ]);
      assert.equal(made.status, 0, made.stderr.toString());
      const source = await openTgzSource(file);
      assert.deepEqual(
        source.entries.map((e) => [e.path, e.size]).sort(),
        FILES.map(([n, d]) => [n, d.length]).sort(),
      );
      const json = source.entries.find((e) => e.path.endsWith('.json'));
      const text: Buffer[] = [];
      for await (const c of await json!.open()) text.push(c as Buffer);
      assert.equal(Buffer.concat(text).toString(), '{"title":"a.jpg"}');
      // the second pass hands out the wanted bytes only, intact
      const got = new Map<string, Buffer>();
      for await (const found of source.scan!(
        new Set([LONG, 'Google Photos/Photos from 2021/a.jpg']),
        new AbortController().signal,
      )) {
        const chunks: Buffer[] = [];
        for await (const c of found.body) chunks.push(c as Buffer);
        got.set(found.path, Buffer.concat(chunks));
      }
      assert.deepEqual(
        [...got.keys()].sort(),
        ['Google Photos/Photos from 2021/a.jpg', LONG].sort(),
      );
      assert.deepEqual(got.get(LONG), FILES[2]![1]);
      assert.deepEqual(got.get('Google Photos/Photos from 2021/a.jpg'), FILES[0]![1]);
    });
  }
});
