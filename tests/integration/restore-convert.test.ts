// `keepsake restore --convert` end to end (issue 15 section 4) against a real vault process:
// a backed-up HEIC comes back as a JPEG that decodes at its size with its capture date, an
// HEVC Live Photo video as an H.264 MP4; with --keep-originals the originals stay beside
// them byte-exact, a converted name already taken is never overwritten, and without it the
// copies replace the originals.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExifTool } from 'exiftool-vendored';
import sharp from 'sharp';
import { findFfmpeg, findHeifDecoder } from '../../server/preview-render.js';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { spawnVaultProcess, type VaultProcess } from '../support/vault.js';

interface Summary {
  files: number;
  restored: number;
  failed: number;
  converted: { path: string; to: string; renamedFrom: string | null; checked: string }[];
  notConverted: { path: string; reason: string }[];
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('restore --convert', () => {
  let vault: VaultProcess;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let photos: string;
  let hasTools = true;

  before(async () => {
    hasTools = (await findHeifDecoder()) !== null && (await findFfmpeg()) !== null;
    temp = await makeTempDir('keepsake-restore-convert-');
    vault = await spawnVaultProcess({ dataDir: join(temp.dir, 'vault') });
    photos = join(temp.dir, 'src', 'Photos');
    mkdirSync(photos, { recursive: true });
    copyFileSync(corpusFile('osxphotos/IMG_1853.HEIC'), join(photos, 'IMG_1853.HEIC'));
    copyFileSync(corpusFile('osxphotos/media_types/IMG_3582.mov'), join(photos, 'IMG_3582.mov'));
    copyFileSync(corpusFile('osxphotos/wedding.jpg'), join(photos, 'wedding.jpg'));
    const backup = await runCli([
      'backup', photos, '--to', vault.url, '--token', vault.token,
      '--data-dir', join(temp.dir, 'data'), '--json',
    ]); // prettier-ignore
    assert.equal(backup.code, 0, describeRun(backup));
  });
  after(async () => {
    await killAllChildren();
    await vault?.stop();
    await temp?.cleanup();
  });

  const restore = (to: string, ...extra: string[]) =>
    runCli([
      'restore',
      '--to',
      to,
      '--from',
      vault.url,
      '--token',
      vault.token,
      '--json',
      ...extra,
    ]);

  it('with --keep-originals, copies land beside the originals and a taken name is kept', async (t) => {
    if (!hasTools) {
      t.skip('needs heif-dec/heif-convert and ffmpeg on PATH');
      return;
    }
    const to = join(temp.dir, 'keep');
    mkdirSync(join(to, 'Photos'), { recursive: true });
    writeFileSync(join(to, 'Photos', 'IMG_1853.jpg'), 'a file of the same name, not ours');
    const run = await restore(to, '--convert', 'heic=jpeg,hevc=h264', '--keep-originals');
    assert.equal(run.code, 0, describeRun(run));
    const s = parseJsonOutput<Summary>(run);
    assert.equal(s.failed, 0);
    assert.deepEqual(s.notConverted, []);
    const dir = join(to, 'Photos');
    // originals, byte-exact
    for (const name of ['IMG_1853.HEIC', 'IMG_3582.mov', 'wedding.jpg']) {
      assert.equal(sha(join(dir, name)), sha(join(photos, name)), name);
    }
    // the taken name is untouched; the copy took the next free one, and the summary says so
    assert.equal(
      readFileSync(join(dir, 'IMG_1853.jpg'), 'utf8'),
      'a file of the same name, not ours',
    );
    const heic = s.converted.find((c) => c.path.endsWith('IMG_1853.HEIC'));
    assert.deepEqual(heic && [heic.to, heic.renamedFrom, heic.checked], [
      'Photos/IMG_1853 (converted).jpg',
      'Photos/IMG_1853.jpg',
      'decoded',
    ]);
    const jpeg = join(dir, 'IMG_1853 (converted).jpg');
    const meta = await sharp(jpeg).metadata();
    const source = await sharp(join(photos, 'IMG_1853.HEIC')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', source.width, source.height]);
    const et = new ExifTool({ maxProcs: 1 });
    try {
      const [a, b] = await Promise.all(
        [jpeg, join(photos, 'IMG_1853.HEIC')].map((p) =>
          et.readRaw<Record<string, unknown>>(p, { readArgs: ['-DateTimeOriginal'] }),
        ),
      );
      assert.equal(a!.DateTimeOriginal, b!.DateTimeOriginal);
    } finally {
      await et.end();
    }
    // the HEVC video has an H.264 copy; the JPEG needed none
    const mov = s.converted.find((c) => c.path.endsWith('IMG_3582.mov'));
    assert.equal(mov?.to, 'Photos/IMG_3582.mp4');
    assert.ok(existsSync(join(dir, 'IMG_3582.mp4')));
    assert.ok(!s.converted.some((c) => c.path.endsWith('wedding.jpg')));
  });

  it('without --keep-originals, the copies replace the originals', async (t) => {
    if (!hasTools) {
      t.skip('needs heif-dec/heif-convert on PATH');
      return;
    }
    const to = join(temp.dir, 'replace');
    const run = await restore(to, '--convert', 'heic=jpeg');
    assert.equal(run.code, 0, describeRun(run));
    const s = parseJsonOutput<Summary>(run);
    assert.equal(s.converted.length, 1);
    assert.deepEqual(readdirSync(join(to, 'Photos')).sort(), [
      'IMG_1853.jpg',
      'IMG_3582.mov',
      'wedding.jpg',
    ]);
    assert.equal((await sharp(join(to, 'Photos', 'IMG_1853.jpg')).metadata()).format, 'jpeg');
  });

  it('an unknown conversion is refused before anything is written', async () => {
    const to = join(temp.dir, 'bad');
    const run = await restore(to, '--convert', 'heic=png');
    assert.equal(run.code, 2, describeRun(run));
    assert.match(run.stderr, /unknown conversion "heic=png"/);
    assert.ok(!existsSync(to));
  });
});
