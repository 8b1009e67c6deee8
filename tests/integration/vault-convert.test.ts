// Format conversion on a real vault on loopback (issue 15 section 4), from real corpus files:
// a HEIC becomes a full-resolution, upright JPEG that keeps its capture date and GPS; AVIF,
// PNG and TIFF become JPEGs too; a JPEG asked as JPEG is the original's bytes; an HEVC video
// becomes an H.264 MP4 that ffprobe reads; what cannot be converted answers 4xx with why;
// a vault without the tool says which package it needs.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExifTool } from 'exiftool-vendored';
import sharp from 'sharp';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { parseMediaPath } from '../../common/contract.js';
import { CONVERSION_HEADER } from '../../common/vault-protocol.js';
import { createMediaSource } from '../../main/engine/library/media.js';
import { createHttpClient } from '../../main/engine/vault/http-client.js';
import { findHeifDecoder, findTool } from '../../server/preview-render.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  type BatchFile,
  postBatch,
  startTestVault,
  type TestVault,
  type VaultEndpoint,
  vaultFetch,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

async function corpus(relPath: string): Promise<BatchFile> {
  return {
    data: await readFile(corpusFile(relPath)),
    filename: relPath.split('/').at(-1)!,
    relpath: relPath,
  };
}

async function uploaded(vault: VaultEndpoint, files: BatchFile[]): Promise<string[]> {
  const r = await postBatch(vault, files);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return (r.json as { results: { sha256: string }[] }).results.map((x) => x.sha256);
}

async function converted(vault: VaultEndpoint, sha256: string, format: string) {
  // An HEVC transcode takes 20-30 s on a busy 2-core machine: more than vaultFetch's 30 s.
  const res = await vaultFetch(vault, `/api/v1/assets/${sha256}/content?format=${format}`, {
    signal: AbortSignal.timeout(300_000),
  });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
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

    describe('vault format conversion', () => {
      let vault: TestVault;
      let exiftool: ExifTool;
      let temp: Awaited<ReturnType<typeof makeTempDir>>;
      before(async () => {
        vault = await startTestVault({ ...setup!.vaultOptions, scrub: false, previews: false });
        exiftool = new ExifTool({ maxProcs: 1 });
        temp = await makeTempDir('keepsake-convert-test-');
      });
      after(async () => {
        await vault.close();
        await exiftool.end();
        await temp.cleanup();
      });

      async function tagsOf(bytes: Buffer, name: string) {
        const path = join(temp.dir, name);
        await writeFile(path, bytes);
        return exiftool.readRaw<Record<string, unknown>>(path, {
          readArgs: ['-n', '-DateTimeOriginal', '-GPSLatitude', '-GPSLongitude', '-Orientation'],
        });
      }

      it('a HEIC becomes a full-size upright JPEG with its capture date and GPS', async (t) => {
        if ((await findHeifDecoder()) === null) {
          t.skip('no heif-dec/heif-convert on PATH (Debian: libheif-examples)');
          return;
        }
        // Stored 4032 x 3024 with a 90-degree turn (EXIF Orientation 6): seen 3024 x 4032.
        const name = 'osxphotos/IMG_1853.HEIC';
        const [sha] = await uploaded(vault, [await corpus(name)]);
        const { res, body } = await converted(vault, sha!, 'jpeg');
        assert.equal(res.status, 200, body.toString());
        assert.equal(res.headers.get('content-type'), 'image/jpeg');
        assert.equal(res.headers.get(CONVERSION_HEADER), 'heif-dec');
        assert.match(res.headers.get('content-disposition') ?? '', /IMG_1853\.jpg/);
        const heic = await sharp(corpusFile(name)).metadata(); // libheif's upright size
        const jpeg = await sharp(body).metadata();
        assert.equal(jpeg.format, 'jpeg');
        assert.deepEqual([jpeg.width, jpeg.height], [heic.width, heic.height]);
        assert.deepEqual(
          [jpeg.width, jpeg.height],
          [3024, 4032],
          'portrait, as the phone showed it',
        );
        const stats = await sharp(body).stats();
        assert.ok(stats.channels[0]!.stdev > 10, 'real pixels, not a blank');
        const original = await exiftool.readRaw<Record<string, unknown>>(corpusFile(name), {
          readArgs: ['-n', '-DateTimeOriginal', '-GPSLatitude', '-GPSLongitude'],
        });
        const tags = await tagsOf(body, 'heic.jpg');
        assert.equal(tags.DateTimeOriginal, original.DateTimeOriginal);
        assert.equal(tags.GPSLatitude, original.GPSLatitude);
        assert.equal(tags.GPSLongitude, original.GPSLongitude);
        assert.equal(tags.Orientation, 1, 'the pixels are upright, so the tag says so');
      });

      it('AVIF, PNG and TIFF become JPEGs at full size, keeping EXIF', async () => {
        const names = [
          'exifr-fixtures/avif/Irvine_CA.avif',
          'exifr-fixtures/png/png_with_exif_and_gps.png',
          'ianare-exif-samples/tiff/Crémieux11.tiff',
        ];
        const shas = await uploaded(vault, await Promise.all(names.map((n) => corpus(n))));
        for (const [i, name] of names.entries()) {
          const { res, body } = await converted(vault, shas[i]!, 'jpeg');
          assert.equal(res.status, 200, `${name}: ${body.toString()}`);
          assert.equal(res.headers.get(CONVERSION_HEADER), 'decoded');
          const src = await sharp(corpusFile(name)).metadata();
          const out = await sharp(body).metadata();
          assert.equal(out.format, 'jpeg');
          const turned = (src.orientation ?? 1) >= 5;
          assert.deepEqual(
            [out.width, out.height],
            turned ? [src.height, src.width] : [src.width, src.height],
            name,
          );
        }
        const png = await tagsOf((await converted(vault, shas[1]!, 'jpeg')).body, 'png.jpg');
        assert.match(String(png.DateTimeOriginal), /^2003:12:14 12:01:44/);
        assert.ok(Math.abs(Number(png.GPSLatitude) - 50.2996) < 0.001, 'GPS kept');
      });

      it('a JPEG asked as JPEG is the original, byte for byte', async () => {
        const file = await corpus('metadata-extractor-images/jpg/Apple iPhone 4.jpg');
        const [sha] = await uploaded(vault, [file]);
        const { res, body } = await converted(vault, sha!, 'jpeg');
        assert.equal(res.status, 200);
        assert.equal(res.headers.get(CONVERSION_HEADER), 'original');
        assert.deepEqual(body, file.data);
      });

      it('an HEVC video becomes an H.264 MP4, streamed, keeping its creation date', async (t) => {
        const ffprobe = await findTool(['ffprobe']);
        if ((await findTool(['ffmpeg'])) === null || ffprobe === null) {
          t.skip('no ffmpeg/ffprobe on PATH');
          return;
        }
        const name = 'osxphotos/media_types/IMG_3582.mov'; // the Live Photo's video: HEVC
        const probe = (path: string, what: string) =>
          execFileSync(ffprobe, ['-v', 'error', ...what.split(' '), '-of', 'json', path], {
            encoding: 'utf8',
          });
        assert.match(
          probe(corpusFile(name), '-select_streams v:0 -show_entries stream=codec_name'),
          /hevc/,
        );
        const [sha] = await uploaded(vault, [await corpus(name)]);
        const { res, body } = await converted(vault, sha!, 'mp4');
        assert.equal(res.status, 200, body.toString());
        assert.equal(res.headers.get('content-type'), 'video/mp4');
        assert.equal(res.headers.get(CONVERSION_HEADER), 'transcoded');
        assert.equal(res.headers.get('content-length'), null, 'streamed');
        const out = join(temp.dir, 'hevc.mp4');
        await writeFile(out, body);
        const info = JSON.parse(
          probe(out, '-show_entries stream=codec_name,codec_type:format_tags=creation_time'),
        ) as {
          streams: { codec_name: string; codec_type: string }[];
          format: { tags: Record<string, string> };
        };
        const video = info.streams.find((s) => s.codec_type === 'video');
        assert.equal(video?.codec_name, 'h264');
        assert.equal(info.streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac');
        assert.equal(info.format.tags.creation_time, '2025-05-26T14:27:06.000000Z');
      });

      it('what cannot be converted answers 4xx with the reason', async () => {
        const [jpeg, mov, xmp, raf] = await uploaded(vault, [
          await corpus('metadata-extractor-images/jpg/Apple iPhone 4.jpg'),
          await corpus('takeout/osxphotos/Takeout/Google Photos/Photos from 2020/Jellyfish.mov'),
          await corpus('exifr-fixtures/BonTonARTSTORplusIPTC.xmp'),
          await corpus('exiftool-t-images/FujiFilm.raf'), // image data stripped: a 160 px preview
        ]);
        const cases: [string, string, number, string, RegExp][] = [
          [mov!, 'jpeg', 415, 'conversion_unsupported', /video cannot be converted to JPEG/],
          [jpeg!, 'mp4', 415, 'conversion_unsupported', /only a video/],
          [xmp!, 'jpeg', 415, 'conversion_unsupported', /not a photo/],
          [jpeg!, 'png', 400, 'invalid_format', /jpeg, mp4/],
          [raf!, 'jpeg', 422, 'conversion_failed', /160 px .* of 4256 px.*no RAW decoder/],
        ];
        for (const [sha, format, status, code, message] of cases) {
          const { res, body } = await converted(vault, sha, format);
          const json = JSON.parse(body.toString()) as { error: string; message: string };
          assert.equal(res.status, status, `${format}: ${body.toString()}`);
          assert.equal(json.error, code);
          assert.match(json.message, message);
        }
      });

      it('a vault without heif-dec on its PATH says which package converts HEIC', async () => {
        const bin = join(temp.dir, 'empty-bin');
        await mkdir(bin, { recursive: true });
        const heifDecoderPath = await findHeifDecoder(bin); // a real PATH without the tool
        assert.equal(heifDecoderPath, null);
        const bare = await startTestVault({
          ...(await setup!.freshVaultOptions()),
          scrub: false,
          previews: { heifDecoderPath },
        });
        try {
          const [sha] = await uploaded(bare, [await corpus('osxphotos/IMG_1853.HEIC')]);
          const { res, body } = await converted(bare, sha!, 'jpeg');
          assert.equal(res.status, 501);
          const json = JSON.parse(body.toString()) as { error: string; message: string };
          assert.equal(json.error, 'converter_missing');
          assert.match(json.message, /heif-dec/);
          assert.match(json.message, /libheif-examples/);
        } finally {
          await bare.close();
        }
      });

      it("the Library's Most compatible download is the JPEG, as an attachment never inline", async (t) => {
        if ((await findHeifDecoder()) === null) {
          t.skip('no heif-dec/heif-convert on PATH (Debian: libheif-examples)');
          return;
        }
        const [sha] = await uploaded(vault, [await corpus('osxphotos/IMG_1853.HEIC')]);
        assert.deepEqual(parseMediaPath(`/media/${sha}/jpeg`), { sha256: sha, variant: 'jpeg' });
        const http = createHttpClient({
          endpoint: vault.url,
          proxyUrl: null,
          idleTimeoutMs: 60_000,
        });
        try {
          const media = createMediaSource({ http, endpoint: vault.url, token: vault.token });
          const answer = await media.fetch(sha!, 'jpeg', {});
          assert.equal(answer.status, 200);
          assert.equal(answer.headers['Content-Type'], 'application/octet-stream');
          assert.match(answer.headers['Content-Disposition'] ?? '', /^attachment; .*IMG_1853\.jpg/);
          assert.ok(answer.body instanceof Readable);
          const m = await sharp(await buffer(answer.body)).metadata();
          assert.deepEqual([m.format, m.width, m.height], ['jpeg', 3024, 4032]);
        } finally {
          http.destroy();
        }
      });
    });
  });
}
