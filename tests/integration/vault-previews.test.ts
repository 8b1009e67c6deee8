// Thumbnails and previews on a real vault on loopback, from real corpus files (issue 11
// section 2): pictures decode at the promised size and upright, a RAW gets its thumbnail
// from its embedded JPEG, what cannot be shown gets a 404 that says why, the upload answer
// never waits for a picture, work left pending resumes at start, and `keepsake vault
// previews --rebuild` brings deleted previews back.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import {
  NO_PREVIEW_CODE,
  PREVIEW_PENDING_CODE,
  type PreviewStatus,
  previewStatusSchema,
} from '../../common/vault-protocol.js';
import {
  createPreviewRenderer,
  findFfmpeg,
  findHeifDecoder,
  findTool,
  HEIC_REASON,
  type PreviewRenderer,
  VIDEO_REASON,
} from '../../server/preview-render.js';
import { killAllChildren, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  type BatchFile,
  postBatch,
  spawnVaultProcess,
  startTestVault,
  type TestVault,
  uploadBuffer,
  type VaultEndpoint,
  vaultFetch,
} from '../support/vault.js';
import { blobBackends, cliArgsFor, type BlobBackendSetup } from '../support/blob-backends.js';

async function corpus(relPath: string, mime?: string): Promise<BatchFile> {
  return {
    data: await readFile(corpusFile(relPath)),
    filename: relPath.split('/').at(-1)!,
    relpath: relPath,
    ...(mime === undefined ? {} : { mime }),
  };
}

async function status(vault: VaultEndpoint, sha256: string): Promise<PreviewStatus> {
  const res = await vaultFetch(vault, `/api/v1/assets/${sha256}/previews`);
  assert.equal(res.status, 200);
  return previewStatusSchema.parse(await res.json());
}

/** Waits until the vault says the asset's previews are no longer pending. */
async function settled(vault: VaultEndpoint, sha256: string): Promise<PreviewStatus> {
  for (let i = 0; i < 600; i++) {
    const s = await status(vault, sha256);
    if (s.state !== 'pending') return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`previews of ${sha256} still pending after 30 s`);
}

async function picture(
  vault: VaultEndpoint,
  sha256: string,
  variant: 'thumbnail' | 'preview',
): Promise<{ res: Response; body: Buffer }> {
  const res = await vaultFetch(vault, `/api/v1/assets/${sha256}/${variant}`);
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

async function uploaded(vault: VaultEndpoint, files: BatchFile[]): Promise<string[]> {
  const r = await postBatch(vault, files);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const results = (r.json as { results: { sha256: string; status: string }[] }).results;
  for (const x of results) assert.equal(x.status, 'stored');
  return results.map((x) => x.sha256);
}

/** The real renderer, held until released: shows what the vault does while a picture is made. */
function gated(inner: PreviewRenderer): PreviewRenderer & { release(): void } {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return {
    ffmpegPath: inner.ffmpegPath,
    heifDecoderPath: inner.heifDecoderPath,
    async render(path, subject) {
      await gate;
      return inner.render(path, subject);
    },
    close: () => inner.close(),
    release: () => open(),
  };
}

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault previews', () => {
      let vault: TestVault;
      let hasFfmpeg: boolean;
      before(async () => {
        vault = await startTestVault({ ...setup!.vaultOptions, scrub: false });
        hasFfmpeg = (await findFfmpeg()) !== null;
      });
      after(async () => {
        await vault.close();
        await killAllChildren();
      });

      it('a rotated JPEG gets an upright 256 px thumbnail and a preview, cacheable by ETag', async () => {
        // Stored 450 x 600 with EXIF orientation 6: a person sees it 600 x 450.
        const [sha] = await uploaded(vault, [
          await corpus('ianare-exif-samples/jpg/orientation/landscape_6.jpg', 'image/jpeg'),
        ]);
        assert.ok(sha);
        const s = await settled(vault, sha);
        assert.equal(s.state, 'made');
        assert.equal(s.state === 'made' ? s.source : undefined, 'decoded');
        const thumb = await picture(vault, sha, 'thumbnail');
        assert.equal(thumb.res.status, 200);
        assert.equal(thumb.res.headers.get('content-type'), 'image/jpeg');
        assert.match(thumb.res.headers.get('cache-control') ?? '', /immutable/);
        const meta = await sharp(thumb.body).metadata();
        assert.equal(meta.format, 'jpeg');
        assert.deepEqual([meta.width, meta.height], [256, 192], 'landscape, longest side 256');
        assert.equal(meta.orientation, undefined, 'no orientation left to apply');

        const preview = await picture(vault, sha, 'preview');
        assert.equal(preview.res.status, 200);
        const pmeta = await sharp(preview.body).metadata();
        assert.deepEqual(
          [pmeta.width, pmeta.height],
          [600, 450],
          'never enlarged past the original',
        );

        const etag = thumb.res.headers.get('etag');
        assert.ok(etag);
        const again = await vaultFetch(vault, `/api/v1/assets/${sha}/thumbnail`, {
          headers: { 'If-None-Match': etag },
        });
        assert.equal(again.status, 304);
      });

      it('a large photo gets a 1440 px preview and a 256 px thumbnail', async () => {
        const [sha] = await uploaded(vault, [
          await corpus('takeout/osxphotos/Takeout/Google Photos/Adelaide/IMG_4547.jpg'),
        ]);
        assert.ok(sha);
        assert.equal((await settled(vault, sha)).state, 'made');
        for (const [variant, side] of [
          ['thumbnail', 256],
          ['preview', 1440],
        ] as const) {
          const { res, body } = await picture(vault, sha, variant);
          assert.equal(res.status, 200);
          const m = await sharp(body).metadata();
          assert.equal(Math.max(m.width ?? 0, m.height ?? 0), side, variant);
        }
      });

      it('HEIC/HEIF photos get upright thumbnails through the system libheif', async (t) => {
        if ((await findHeifDecoder()) === null) {
          t.skip('no heif-dec/heif-convert on PATH (Debian: libheif-examples)');
          return;
        }
        // IMG_1853 and IMG_0102 are stored 4032 x 3024 / 3088 x 2320 with a 90-degree irot (EXIF
        // Orientation 6): a person sees them portrait. heic-collection holds 4 images.
        const names = [
          'osxphotos/IMG_1853.HEIC',
          'osxphotos/media_types/IMG_0102.HEIC',
          'ianare-exif-samples/heic/IMG_5195.HEIC',
          'ianare-exif-samples/heic/samplefilehub.heif',
          'exifr-fixtures/heic-collection.heic',
        ];
        const shas = await uploaded(vault, await Promise.all(names.map((n) => corpus(n))));
        const expected: Record<string, [number, number]> = {
          'osxphotos/IMG_1853.HEIC': [192, 256],
          'osxphotos/media_types/IMG_0102.HEIC': [192, 256],
          'ianare-exif-samples/heic/IMG_5195.HEIC': [198, 256],
          'ianare-exif-samples/heic/samplefilehub.heif': [256, 170],
          'exifr-fixtures/heic-collection.heic': [256, 171],
        };
        for (const [i, name] of names.entries()) {
          const sha = shas[i]!;
          const s = await settled(vault, sha);
          assert.equal(s.state, 'made', `${name}: ${s.state === 'none' ? s.reason : ''}`);
          const { res, body } = await picture(vault, sha, 'thumbnail');
          assert.equal(res.status, 200, name);
          const m = await sharp(body).metadata();
          assert.equal(m.format, 'jpeg');
          assert.deepEqual(
            [m.width, m.height],
            expected[name],
            `${name} upright, longest side 256`,
          );
          assert.equal(m.orientation, undefined, 'no orientation left to apply');
          const p = await sharp((await picture(vault, sha, 'preview')).body).metadata();
          assert.equal(Math.max(p.width ?? 0, p.height ?? 0) <= 1440, true);
          assert.equal(p.width < p.height, m.width < m.height, `${name}: preview as turned`);
        }
      });

      it('a vault without heif-dec on its PATH says which tool and package are missing, and makes the thumbnail once it has one', async (t) => {
        if ((await findHeifDecoder()) === null) {
          t.skip('no heif-dec/heif-convert on PATH (Debian: libheif-examples)');
          return;
        }
        const temp = await makeTempDir('keepsake-vault-noheif-');
        try {
          // A real PATH holding only what the vault needs besides node (exiftool's perl).
          const bin = join(temp.dir, 'bin');
          await mkdir(bin);
          const perl = await findTool(['perl']);
          if (perl !== null) await symlink(perl, join(bin, 'perl'));
          assert.equal(await findHeifDecoder(bin), null);
          const dataDir = join(temp.dir, 'vault');
          const extraArgs = cliArgsFor(await setup!.freshVaultOptions());
          const without = await spawnVaultProcess({ dataDir, extraArgs, env: { PATH: bin } });
          let sha: string;
          try {
            [sha] = (await uploaded(without, [await corpus('osxphotos/IMG_1853.HEIC')])) as [
              string,
            ];
            const s = await settled(without, sha);
            assert.equal(s.state === 'none' ? s.reason : s.state, HEIC_REASON);
            assert.match(HEIC_REASON, /heif-dec/);
            assert.match(HEIC_REASON, /libheif-examples/);
            const res = await vaultFetch(without, `/api/v1/assets/${sha}/thumbnail`);
            assert.equal(res.status, 404);
            assert.equal(((await res.json()) as { message: string }).message, HEIC_REASON);
          } finally {
            await without.stop();
          }
          // The tool is on PATH again: the vault forgets the reason at start and makes it.
          const withIt = await spawnVaultProcess({ dataDir, extraArgs });
          try {
            const s = await settled(withIt, sha);
            assert.equal(s.state, 'made');
            const m = await sharp((await picture(withIt, sha, 'thumbnail')).body).metadata();
            assert.deepEqual([m.width, m.height], [192, 256]);
          } finally {
            await withIt.stop();
          }
        } finally {
          await temp.cleanup();
        }
      });

      it('a RAW file gets its thumbnail from the JPEG the camera embedded', async () => {
        // Its image data was stripped; the preview JPEG the camera wrote is still there.
        const [sha] = await uploaded(vault, [await corpus('exiftool-t-images/FujiFilm.raf')]);
        assert.ok(sha);
        const s = await settled(vault, sha);
        assert.equal(s.state, 'made');
        assert.equal(s.state === 'made' ? s.source : undefined, 'embedded');
        const { res, body } = await picture(vault, sha, 'thumbnail');
        assert.equal(res.status, 200);
        const m = await sharp(body).metadata();
        assert.equal(m.format, 'jpeg');
        assert.ok((m.width ?? 0) > 0 && (m.height ?? 0) > 0);
      });

      it('what cannot be shown answers 404 with the reason, and the upload still counts', async () => {
        const files = [
          await corpus('osxphotos/badimage.jpeg'), // a damaged JPEG
          await corpus('osxphotos/media_types/IMG_3582.mov'),
          await corpus('exifr-fixtures/BonTonARTSTORplusIPTC.xmp'), // a sidecar
        ];
        const [bad, mov, xmp] = await uploaded(vault, files);
        for (const sha of [bad, mov, xmp]) assert.ok(sha);
        const reasons = new Map<string, string>();
        for (const sha of [bad!, xmp!, ...(hasFfmpeg ? [] : [mov!])]) {
          const s = await settled(vault, sha);
          assert.equal(s.state, 'none', sha);
          reasons.set(sha, s.state === 'none' ? s.reason : '');
          for (const variant of ['thumbnail', 'preview'] as const) {
            const res = await vaultFetch(vault, `/api/v1/assets/${sha}/${variant}`);
            assert.equal(res.status, 404);
            const body = (await res.json()) as { error: string; message: string };
            assert.equal(body.error, NO_PREVIEW_CODE);
            assert.equal(body.message, reasons.get(sha));
          }
        }
        assert.match(reasons.get(bad!) ?? '', /could not be decoded/);
        assert.ok(!(reasons.get(bad!) ?? '').includes(vault.dataDir), 'no vault paths in reasons');
        assert.equal(reasons.get(xmp!), 'not a photo or video');
        if (!hasFfmpeg) assert.equal(reasons.get(mov!), VIDEO_REASON);
        else await settled(vault, mov!);
        // the content itself is held and served as uploaded
        const content = await vaultFetch(vault, `/api/v1/assets/${bad}/content`);
        assert.equal(content.status, 200);
        assert.deepEqual(Buffer.from(await content.arrayBuffer()), files[0]!.data);
      });

      it('a video gets an upright, non-blank poster frame when the vault has ffmpeg', async (t) => {
        if (!hasFfmpeg) {
          t.skip(
            'no ffmpeg on this machine: videos get the "no video decoder" reason (tested above)',
          );
          return;
        }
        const files = [
          await corpus('metadata-extractor-images/mp4/with-gps.mp4'), // 1920 x 1080, 0.17 s
          await corpus('metadata-extractor-images/mov/with-gps.mov'), // 568 x 320, turned -90
          await corpus('metadata-extractor-images/mp4/sample_mpeg4.mp4'), // opens on a white fade
          await corpus('exiftool-t-images/Matroska.mkv'), // a truncated file
        ];
        const [mp4, phone, fade, broken] = await uploaded(vault, files);
        const thumbOf = async (sha: string) => {
          const s = await settled(vault, sha);
          assert.equal(s.state === 'made' ? s.source : s.state, 'poster', sha);
          const body = (await picture(vault, sha, 'thumbnail')).body;
          return { meta: await sharp(body).metadata(), stats: await sharp(body).stats() };
        };
        const wide = await thumbOf(mp4!);
        assert.deepEqual([wide.meta.width, wide.meta.height], [256, 144]);
        const upright = await thumbOf(phone!);
        assert.deepEqual([upright.meta.width, upright.meta.height], [144, 256], 'shown portrait');
        const faded = await thumbOf(fade!);
        const spread = Math.max(...faded.stats.channels.map((c) => c.stdev));
        assert.ok(spread > 20, `a frame with something in it, not the blank opening (${spread})`);

        const s = await settled(vault, broken!);
        assert.equal(s.state, 'none');
        const reason = s.state === 'none' ? s.reason : '';
        assert.match(reason, /^the video could not be decoded: /);
        assert.ok(!reason.includes(vault.dataDir), `no vault paths in reasons: ${reason}`);
        assert.ok(!/0x[0-9a-f]{6,}/.test(reason), `no addresses that change each run: ${reason}`);

        // A clip that is black throughout (a pocket recording) says so rather than show black.
        const tmp = await makeTempDir();
        try {
          const file = join(tmp.dir, 'black.mp4');
          execFileSync('ffmpeg', [
            '-v',
            'error',
            '-f',
            'lavfi',
            '-i',
            'color=black:s=64x48:d=5',
            file,
          ]);
          const [black] = await uploaded(vault, [
            { data: await readFile(file), filename: 'black.mp4', relpath: 'black.mp4' },
          ]);
          const b = await settled(vault, black!);
          assert.match(b.state === 'none' ? b.reason : b.state, /^the video is black/);
        } finally {
          await tmp.cleanup();
        }
      });

      it('the metrics count previews made, impossible and pending', async () => {
        const text = await (await vaultFetch(vault, '/metrics')).text();
        const value = (state: string) =>
          Number(
            new RegExp(`keepsake_vault_previews\\{state="${state}"\\} (\\d+)`).exec(text)?.[1],
          );
        assert.ok(value('made') >= 3, text);
        assert.ok(value('none') >= 2, text);
        assert.equal(value('pending'), 0);
      });

      it('an unknown asset answers 404 not_found', async () => {
        const res = await vaultFetch(vault, `/api/v1/assets/${'0'.repeat(64)}/thumbnail`);
        assert.equal(res.status, 404);
        assert.equal(((await res.json()) as { error: string }).error, 'not_found');
      });
    });

    describe('vault previews: background work', () => {
      after(() => killAllChildren());

      it('an upload is answered before its previews exist (batch and tus)', async () => {
        const renderer = gated(createPreviewRenderer({ ffmpegPath: null }));
        const vault = await startTestVault({
          ...(await setup!.freshVaultOptions()),
          scrub: false,
          previews: { renderer },
        });
        try {
          const [fromBatch] = await uploaded(vault, [
            await corpus('ianare-exif-samples/jpg/orientation/portrait_3.jpg'),
          ]);
          const tus = await uploadBuffer(
            vault,
            await readFile(corpusFile('ianare-exif-samples/jpg/orientation/portrait_8.jpg')),
            { filename: 'portrait_8.jpg' },
          );
          assert.equal(tus.res.status, 201, tus.text);
          for (const sha of [fromBatch!, tus.sha256]) {
            assert.deepEqual(await status(vault, sha), { state: 'pending' });
            const res = await vaultFetch(vault, `/api/v1/assets/${sha}/thumbnail`);
            assert.equal(res.status, 404);
            assert.equal(res.headers.get('retry-after'), '2');
            assert.equal(((await res.json()) as { error: string }).error, PREVIEW_PENDING_CODE);
          }
          renderer.release();
          for (const sha of [fromBatch!, tus.sha256]) {
            assert.equal((await settled(vault, sha)).state, 'made');
            const { res, body } = await picture(vault, sha, 'thumbnail');
            assert.equal(res.status, 200);
            const m = await sharp(body).metadata();
            assert.equal(Math.max(m.width ?? 0, m.height ?? 0), 256);
            assert.ok((m.height ?? 0) > (m.width ?? 0), 'portrait stays portrait');
          }
        } finally {
          renderer.release();
          await vault.close();
        }
      });

      it('content whose damaged bytes an upload repaired gets its previews made again', async () => {
        // The bytes are damaged while no preview has been made (the vault stopped before its
        // previews ran), so the vault that starts on them cannot make any. Stopping, not a
        // gated renderer: S3's blob store copies the object out before rendering, so a gate
        // in the renderer would hold bytes read before the damage.
        const temp = await makeTempDir('keepsake-vault-previews-');
        // The setup's own vault options: its damage() reaches this vault's blobs.
        const options = { ...setup!.vaultOptions, dataDir: temp.dir, scrub: false } as const;
        let vault = await startTestVault({ ...options, previews: false });
        try {
          const photo = await corpus('ianare-exif-samples/jpg/orientation/landscape_3.jpg');
          const [sha] = await uploaded(vault, [photo]);
          assert.deepEqual(await status(vault, sha!), { state: 'pending' });
          await vault.close();
          await setup!.damage(temp.dir, sha!, 0);
          vault = await startTestVault(options);
          assert.equal((await settled(vault, sha!)).state, 'none');
          const verify = await vaultFetch(vault, '/api/v1/verify', {
            method: 'POST',
            body: JSON.stringify({ sha256: [sha] }),
          });
          assert.equal(verify.status, 200);
          // A client holding the original uploads it again: the blob is repaired...
          await uploaded(vault, [photo]);
          // ...and the previews are made from the good bytes.
          assert.equal((await settled(vault, sha!)).state, 'made');
          assert.equal((await picture(vault, sha!, 'thumbnail')).res.status, 200);
        } finally {
          await vault.close();
          await temp.cleanup();
        }
      });

      it('previews left pending are made when the vault starts again', async () => {
        const temp = await makeTempDir('keepsake-vault-previews-');
        const opts = await setup!.freshVaultOptions();
        try {
          const off = await startTestVault({
            ...opts,
            dataDir: temp.dir,
            scrub: false,
            previews: false,
          });
          let sha: string | undefined;
          try {
            [sha] = await uploaded(off, [
              await corpus('exifr-fixtures/IMG_20180725_163423-tiny.jpg'),
            ]);
            assert.deepEqual(await status(off, sha!), { state: 'pending' });
          } finally {
            await off.close();
          }
          const on = await startTestVault({ ...opts, dataDir: temp.dir, scrub: false });
          try {
            assert.equal((await settled(on, sha!)).state, 'made');
            assert.equal((await picture(on, sha!, 'thumbnail')).res.status, 200);
          } finally {
            await on.close();
          }
        } finally {
          await temp.cleanup();
        }
      });

      it('keepsake vault previews --rebuild makes deleted previews again', async () => {
        const temp = await makeTempDir('keepsake-vault-previews-');
        const opts = await setup!.freshVaultOptions();
        try {
          const first = await startTestVault({ ...opts, dataDir: temp.dir, scrub: false });
          const shas: string[] = [];
          try {
            shas.push(
              ...(await uploaded(first, [
                await corpus('ianare-exif-samples/jpg/orientation/landscape_6.jpg'),
                await corpus('exiftool-t-images/Panasonic.rw2'),
                await corpus('osxphotos/badimage.jpeg'),
              ])),
            );
            for (const sha of shas) await settled(first, sha);
          } finally {
            await first.close();
          }
          await rm(join(temp.dir, 'previews'), { recursive: true, force: true });

          const run = await runCli([
            'vault',
            'previews',
            '--rebuild',
            '--json',
            '--data-dir',
            temp.dir,
            ...cliArgsFor(opts),
          ]);
          assert.equal(run.code, 0, run.stderr);
          const summary = JSON.parse(run.stdout) as { assets: number; made: number; none: number };
          assert.deepEqual(
            { assets: summary.assets, made: summary.made, none: summary.none },
            { assets: 3, made: 2, none: 1 },
          );

          const again = await startTestVault({ ...opts, dataDir: temp.dir, scrub: false });
          try {
            const [landscape, raw, bad] = shas;
            const m = await sharp((await picture(again, landscape!, 'thumbnail')).body).metadata();
            assert.deepEqual([m.width, m.height], [256, 192]);
            assert.equal((await picture(again, raw!, 'preview')).res.status, 200);
            assert.equal((await picture(again, bad!, 'thumbnail')).res.status, 404);
          } finally {
            await again.close();
          }
        } finally {
          await temp.cleanup();
        }
      });
    });
  });
}
