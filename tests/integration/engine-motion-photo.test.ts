// Android motion photos (issue 11 section 1): one file, a still with its short video appended.
// Motion photos made from corpus files with the real exiftool (tests/support/motion-photo.ts)
// are backed up through the real engine (exiftool reads their XMP) to a real vault, which then
// lists them as Live Photos and plays their video: the MP4 inside the file, byte-exact, through
// the engine's media route as the Library asks for it. An XMP that points at no video makes no
// motion photo, and the vault answers a 404 that says so, never the still's bytes.
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { ExifTool } from 'exiftool-vendored';
import type { FileRow } from '../../common/contract.js';
import {
  libraryPageSchema,
  type MediaMetadata,
  NO_VIDEO_CODE,
} from '../../common/vault-protocol.js';
import type { KeepsakeEngine } from '../../main/engine/api.js';
import { createMediaSource } from '../../main/engine/library/media.js';
import { createHttpClient } from '../../main/engine/vault/http-client.js';
import { listFiles, openEngine } from '../support/cli.js';
import { makeMotionPhoto } from '../support/motion-photo.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';

const MOTION = 'android/PXL_20231001_101112345.MP.jpg';
const MICRO = 'android/MVIMG_20180101_101112.jpg';
const LYING = 'android/MVIMG_20180102_101112.jpg';
const PLAIN = 'android/IMG_20180103_101112.jpg';

describe('engine: Android motion photos are Live Photos whose video plays from the vault', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let vault: TestVault;
  let engine: KeepsakeEngine | null = null;
  let rows: FileRow[] = [];
  const videos = new Map<string, Buffer>();
  const sha = (rel: string): string => {
    const row = rows.find((r) => r.path.endsWith(`/${rel}`));
    assert.ok(row?.sha256, `${rel} is backed up`);
    return row.sha256;
  };
  const metadataOf = async (rel: string): Promise<MediaMetadata> => {
    const res = await vaultFetch(vault, `/api/v1/assets/${sha(rel)}`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { metadata: MediaMetadata }).metadata;
  };

  before(async () => {
    temp = await makeTempDir('keepsake-motion-photo-');
    vault = await startTestVault({ previews: false });
    const src = join(temp.dir, 'Pictures');
    await mkdir(join(src, 'android'), { recursive: true });
    const exiftool = new ExifTool({ maxProcs: 1 });
    try {
      const still = corpusFile('ianare-exif-samples/jpg/Canon_40D.jpg');
      const withGps = corpusFile('metadata-extractor-images/mp4/with-gps.mp4');
      const sample = corpusFile('metadata-extractor-images/mp4/sample_mpeg4.mp4');
      videos.set(
        MOTION,
        await makeMotionPhoto(exiftool, join(src, MOTION), still, withGps, 'motion-photo'),
      );
      videos.set(
        MICRO,
        await makeMotionPhoto(exiftool, join(src, MICRO), still, sample, 'micro-video'),
      );
      await makeMotionPhoto(exiftool, join(src, LYING), still, sample, 'micro-video-lying');
      await copyFile(
        corpusFile('ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg'),
        join(src, PLAIN),
      );
    } finally {
      await exiftool.end();
    }
    engine = (await openEngine(join(temp.dir, 'data'), vault, {
      createWatcher: null,
      settleMs: 0,
    })) as KeepsakeEngine;
    await engine.api['folders.add']({ path: src });
    await engine.start();
    await engine.whenSettled(AbortSignal.timeout(120_000));
    await engine.whenMetadataSent(AbortSignal.timeout(120_000));
    rows = await listFiles(engine);
  });
  after(async () => {
    await engine?.close();
    await vault?.close();
    await temp?.cleanup();
  });

  it("the engine reads where a motion photo's video is from its XMP, new and old style", async () => {
    const mp4 = (rel: string) => videos.get(rel)?.length;
    assert.deepEqual((await metadataOf(MOTION)).motionPhoto, {
      format: 'motion-photo',
      videoFromEnd: mp4(MOTION),
      videoBytes: mp4(MOTION),
    });
    assert.deepEqual((await metadataOf(MICRO)).motionPhoto, {
      format: 'micro-video',
      videoFromEnd: mp4(MICRO),
      videoBytes: mp4(MICRO),
    });
    assert.equal((await metadataOf(PLAIN)).motionPhoto, undefined);
  });

  it('the Library lists motion photos as Live Photos, with the LIVE badge', async () => {
    const res = await vaultFetch(vault, '/api/v1/library?type=live');
    const page = libraryPageSchema.parse(await res.json());
    const live = new Map(page.items.map((i) => [i.sha256, i.badge]));
    assert.equal(live.get(sha(MOTION)), 'live');
    assert.equal(live.get(sha(MICRO)), 'live');
    assert.equal(live.has(sha(PLAIN)), false);
  });

  it('the vault serves the video inside a motion photo byte-exact, and a part of it for seeking', async () => {
    for (const rel of [MOTION, MICRO]) {
      const res = await vaultFetch(vault, `/api/v1/assets/${sha(rel)}/video`);
      assert.equal(res.status, 200, rel);
      assert.equal(res.headers.get('content-type'), 'video/mp4', rel);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(videos.get(rel)!), rel);
    }
    const part = await vaultFetch(vault, `/api/v1/assets/${sha(MOTION)}/video`, {
      headers: { Range: 'bytes=100-199' },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${videos.get(MOTION)!.length}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(videos.get(MOTION)!.subarray(100, 200)));
  });

  it("the Library's video route plays it through the engine, as for any video", async () => {
    const http = createHttpClient({ endpoint: vault.url, proxyUrl: null, idleTimeoutMs: 30_000 });
    try {
      const media = createMediaSource({ http, endpoint: vault.url, token: vault.token });
      const answer = await media.fetch(sha(MICRO), 'video', {});
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['Content-Type'], 'video/mp4');
      assert.ok(answer.body instanceof Readable);
      assert.ok((await buffer(answer.body)).equals(videos.get(MICRO)!));
    } finally {
      http.destroy();
    }
  });

  it('a still whose XMP points at no video (an editor dropped it) is no motion photo', async () => {
    assert.equal((await metadataOf(LYING)).motionPhoto, undefined);
    const res = await vaultFetch(vault, '/api/v1/library?type=live');
    const page = libraryPageSchema.parse(await res.json());
    assert.equal(
      page.items.some((i) => i.sha256 === sha(LYING)),
      false,
    );
  });

  it('an XMP that points at no video, or a plain photo, gets a 404 that says why', async () => {
    // The vault checks for itself whatever a client says (here: the lying XMP's offset).
    const said = await metadataOf(LYING);
    const offset = videos.get(MICRO)!.length + 1000;
    const put = await vaultFetch(vault, `/api/v1/assets/${sha(LYING)}/metadata`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        ...said,
        motionPhoto: { format: 'micro-video', videoFromEnd: offset, videoBytes: offset },
      }),
    });
    assert.equal(put.status, 200, await put.text());
    const lying = await vaultFetch(vault, `/api/v1/assets/${sha(LYING)}/video`);
    assert.equal(lying.status, 404);
    const body = (await lying.json()) as { error: string; message: string };
    assert.equal(body.error, NO_VIDEO_CODE);
    assert.match(body.message, /no MP4 begins there/);
    const plain = await vaultFetch(vault, `/api/v1/assets/${sha(PLAIN)}/video`);
    assert.equal(plain.status, 404);
    assert.match(((await plain.json()) as { message: string }).message, /no video in it/);
  });
});
