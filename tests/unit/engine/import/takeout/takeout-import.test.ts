// The import's own choices, in a dry run without a vault (the end-to-end runs are in
// tests/integration/import-takeout.test.ts): what Google Photos had in its trash is skipped
// unless asked for, year folders are not albums, an album is titled by its metadata.json.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openFolderSource } from '../../../../../main/engine/import/common/export-source.js';
import { importTakeout } from '../../../../../main/engine/import/takeout/takeout-import.js';
import { silentLogger } from '../../../../../main/engine/ports.js';
import { makeTempDir } from '../../../../support/paths.js';

const sidecar = (extra: Record<string, unknown>) =>
  JSON.stringify({ photoTakenTime: { timestamp: '1600000000' }, ...extra });

describe('takeout import choices (dry run)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const files: Record<string, string> = {
    'Google Photos/Photos from 2020/kept.jpg': 'kept',
    'Google Photos/Photos from 2020/kept.jpg.json': sidecar({}),
    'Google Photos/Photos from 2020/binned.jpg': 'binned',
    'Google Photos/Photos from 2020/binned.jpg.json': sidecar({ trashed: true }),
    'Google Photos/Trash/old.jpg': 'old',
    'Google Photos/Holiday/kept.jpg': 'kept',
    'Google Photos/Holiday/kept.jpg.json': sidecar({}),
    'Google Photos/Holiday/metadata.json': JSON.stringify({ title: 'Été 2020 ☀️' }),
  };
  before(async () => {
    tmp = await makeTempDir('keepsake-takeout-choices-');
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(join(tmp.dir, 'Takeout', rel, '..'), { recursive: true });
      await writeFile(join(tmp.dir, 'Takeout', rel), text);
    }
  });
  after(async () => {
    await tmp?.cleanup();
  });

  const run = async (includeTrashed: boolean) =>
    importTakeout(
      [await openFolderSource(join(tmp.dir, 'Takeout'))],
      {
        vault: null,
        uploader: null,
        stagingDir: join(tmp.dir, 'staging'),
        zoneAt: () => undefined,
        logger: silentLogger,
        device: null,
      },
      { dryRun: true, includeTrashed, signal: new AbortController().signal },
    );

  it("what was in Google Photos' trash is skipped and listed, unless --include-trashed", async () => {
    const r = await run(false);
    assert.deepEqual(r.skippedTrash, [
      'Google Photos/Photos from 2020/binned.jpg',
      'Google Photos/Trash/old.jpg',
    ]);
    assert.equal(r.files, 2);
    assert.equal(r.photos, 1); // the album copy is the year folder's photo
    const all = await run(true);
    assert.deepEqual(all.skippedTrash, []);
    assert.equal(all.files, 4);
    assert.deepEqual(all.mediaWithoutSidecar, ['Google Photos/Trash/old.jpg']);
  });

  it('the album is titled by its metadata.json; the year folder is not an album', async () => {
    const r = await run(false);
    assert.deepEqual(r.albums, [
      { name: 'Été 2020 ☀️', key: 'Holiday', members: 1, created: null },
    ]);
    assert.equal(r.dryRun, true);
    assert.equal(r.uploaded, 1);
  });
});
