// The Library page end to end (issue 11 section 3), as a person sees it: `keepsake daemon
// --ui-port` backing up real corpus photos and videos to a real vault that makes their
// previews, in Debian's Chromium. Thumbnails arrive as decoded pictures through the daemon
// (never from the vault directly), a Live Photo pair is one tile with its badge, the filters
// narrow the grid, and the detail view shows the metadata and the vault's proof; an Android
// motion photo is a Live Photo whose embedded video plays. Screenshots of the empty, loading,
// error and filled states, light and dark, at 1280 and 420 px, go to /tmp/library-shots/
// (KEEPSAKE_LIBRARY_SHOTS to change).
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExifTool } from 'exiftool-vendored';
import type { Browser, Page } from 'playwright-core';
import { killAllChildren, startDaemon, type DaemonHandle } from '../support/cli.js';
import { makeMotionPhoto } from '../support/motion-photo.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { findHeifDecoder } from '../../server/preview-render.js';
import { sha256Hex, startTestVault, vaultFetch, type TestVault } from '../support/vault.js';
import { buildRenderer, chromiumMissing, launchChromium } from './support/browser.js';

const shotsDir = process.env.KEEPSAKE_LIBRARY_SHOTS ?? '/tmp/library-shots';
const livePhoto = 'osxphotos/media_types/IMG_3582.HEIC';
const liveVideo = 'osxphotos/media_types/IMG_3582.mov';
const gpsPhoto = 'ianare-exif-samples/jpg/gps/DSCN0010.jpg';
// decoded by the vault's system libheif where it has one (heif-dec/heif-convert)
const heicPhoto = 'osxphotos/IMG_1853.HEIC';
const files = [
  gpsPhoto,
  heicPhoto,
  'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
  'exifr-fixtures/BonTonARTSTORplusIPTC.jpg',
  'metadata-extractor-images/mov/with-gps.mov',
  'exiftool-t-images/Nikon.nef',
  livePhoto,
  liveVideo,
];
const timeoutMs = 180_000;

/** The little of the DOM the page functions below use (this file compiles without DOM types). */
type Img = { complete: boolean; naturalWidth: number; currentSrc: string };
type Video = { readyState: number; duration: number; error: { code: number } | null };
type BrowserDocument = {
  querySelectorAll(selector: string): ArrayLike<Img & { getAttribute(n: string): string | null }>;
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
};

describe(
  'Library page in Chromium against keepsake daemon',
  { skip: chromiumMissing() ?? false },
  () => {
    let temp: { dir: string; cleanup: () => Promise<void> };
    let vault: TestVault;
    let daemon: DaemonHandle;
    let browser: Browser;
    let page: Page;
    let origin: string;
    let token: string;
    let photos: string;
    const hashes = new Map<string, string>();
    const pageProblems: string[] = [];

    async function invoke(command: string, args: unknown): Promise<unknown> {
      const res = await fetch(`${origin}/api/invoke/${command}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(args),
      });
      const env = (await res.json()) as { ok: boolean; value?: unknown; error?: unknown };
      if (!env.ok) throw new Error(`${command}: ${JSON.stringify(env.error)}`);
      return env.value;
    }

    async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await check();
        if (value !== undefined) return value;
        if (Date.now() > deadline)
          throw new Error(`${what}: gave up\n${daemon.stderr().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    async function shoot(name: string, widths: readonly number[] = [1280, 420]): Promise<void> {
      for (const width of widths) {
        await page.setViewportSize({ width, height: 860 });
        for (const scheme of ['light', 'dark'] as const) {
          await page.emulateMedia({ colorScheme: scheme });
          await page.screenshot({ path: join(shotsDir, `library-${name}-${width}-${scheme}.png`) });
        }
      }
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 1280, height: 860 });
    }

    let visit = 0;
    /** A fresh load of the Library (a new query string: the page reloads, not just the hash). */
    async function openLibrary(on: Page = page, state = 'ready'): Promise<void> {
      await on.goto(`${origin}/?visit=${++visit}#/library`);
      await on.waitForSelector(`[data-testid="library-total"][data-state="${state}"]`, {
        timeout: timeoutMs,
      });
    }

    /** Waits until the grid shows this filter's first page. */
    async function filtered(filter: Record<string, unknown>): Promise<void> {
      await page.waitForSelector(
        `[data-testid="library-total"][data-state="ready"][data-filter='${JSON.stringify(filter)}']`,
        { timeout: 30_000 },
      );
    }

    before(async () => {
      temp = await makeTempDir('keepsake-library-e2e-');
      photos = join(temp.dir, 'Pictures');
      await mkdir(photos);
      await mkdir(shotsDir, { recursive: true });
      for (const rel of files) {
        hashes.set(rel, sha256Hex(await readFile(corpusFile(rel))));
      }
      const rendererDir = join(temp.dir, 'renderer');
      buildRenderer(rendererDir);
      await mkdir(join(temp.dir, 'vault'));
      vault = await startTestVault({ dataDir: join(temp.dir, 'vault') });
      daemon = startDaemon(
        [
          '--data-dir',
          join(temp.dir, 'data'),
          '--to',
          vault.url,
          '--token',
          vault.token,
          '--ui-port',
          '0',
        ],
        { env: { KEEPSAKE_RENDERER_DIR: rendererDir }, timeoutMs: 600_000 },
      );
      const printed = await daemon.waitForOutput(/ui (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w%-]+)/);
      const url = new URL(printed[1] ?? '');
      origin = url.origin;
      token = url.searchParams.get('token') ?? '';
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 860 }, locale: 'en-GB' });
      page.on('console', (m) => {
        if (m.text().includes('Content Security Policy')) pageProblems.push(m.text());
      });
      page.on('pageerror', (err) => pageProblems.push(err.message));
      await page.goto(printed[1] ?? '');
    });

    after(async () => {
      await browser?.close().catch(() => {});
      if (daemon) {
        daemon.terminate();
        await daemon.waitForExit(20_000).catch(() => daemon.killGroup());
      }
      await killAllChildren();
      await vault?.close().catch(() => {});
      await temp?.cleanup();
    });

    it('says the library is empty, loading, or failing, in words', async () => {
      await openLibrary();
      await page.waitForSelector('.state-empty');
      assert.match((await page.textContent('.state-empty')) ?? '', /Nothing on the vault yet/);
      await shoot('empty');

      // Loading: the first page held back in the transport; error: the transport fails.
      const main = page;
      try {
        page = await browser.newPage({ viewport: { width: 1280, height: 860 }, locale: 'en-GB' });
        await page.goto(`${origin}/?token=${token}`);
        let release: () => void = () => {};
        const held = new Promise<void>((r) => (release = r));
        await page.route('**/api/invoke/library.list', async (route) => {
          await held;
          await route.continue().catch(() => {});
        });
        await openLibrary(page, 'loading');
        await page.waitForSelector('.state-loading');
        await shoot('loading');
        release();
        await page.unroute('**/api/invoke/library.list');
        await page.route('**/api/invoke/library.list', (route) => route.abort('connectionrefused'));
        await openLibrary(page, 'error');
        await page.waitForSelector('.state-error');
        assert.match((await page.textContent('.state-error')) ?? '', /Cannot reach Keepsake/);
        await shoot('error');
      } finally {
        await page.close();
        page = main;
      }
    });

    it('shows every backed-up photo and video as a decoded thumbnail, a Live Photo as one tile', async () => {
      for (const rel of files) await copyFile(corpusFile(rel), join(photos, basename(rel)));
      await invoke('folders.add', { path: photos });
      const all = [...hashes.values()];
      // Backed up, metadata sent, and the previews made (or reasoned out) on the vault.
      await until('everything backed up with its metadata and previews', async () => {
        // Every content, grouped or not (the upload-order listing), with its metadata.
        const held = (await (await vaultFetch(vault, '/api/v1/assets?limit=100')).json()) as {
          assets: { sha256: string; metadata: unknown }[];
        };
        if (held.assets.length < all.length) return undefined;
        if (held.assets.some((a) => a.metadata === null)) return undefined;
        for (const sha of all) {
          const s = (await (await vaultFetch(vault, `/api/v1/assets/${sha}/previews`)).json()) as {
            state: string;
          };
          if (s.state === 'pending') return undefined;
        }
        return true;
      });
      // The Live Photo's still and video as one asset: what the engine declares (issue 11 §1);
      // declared here too, so this test stands whether the engine has declared it yet or not.
      const declared = await vaultFetch(vault, '/api/v1/groups', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          groups: [
            {
              members: [
                { sha256: hashes.get(livePhoto), role: 'primary' },
                { sha256: hashes.get(liveVideo), role: 'live-video' },
              ],
            },
          ],
        }),
      });
      assert.equal(declared.status, 200);

      // Tall enough for every day's row at once (the grid renders only what is on screen).
      await page.setViewportSize({ width: 1280, height: 1800 });
      await openLibrary();
      await page.waitForSelector('[data-testid="tile"]');
      const shown = await page
        .locator('[data-testid="tile"]')
        .evaluateAll((els) =>
          els.map((e) =>
            (e as unknown as { getAttribute(n: string): string }).getAttribute('aria-label'),
          ),
        );
      assert.equal(
        shown.length,
        files.length - 1,
        `the Live Photo pair is one tile: ${shown.join('; ')}`,
      );
      assert.equal(
        await page.getAttribute('[data-testid="library-total"]', 'data-value'),
        String(files.length - 1),
      );
      const live = page.locator(`[data-testid="tile"][data-sha256="${hashes.get(livePhoto)}"]`);
      assert.equal(await live.getAttribute('data-badge'), 'live');
      assert.equal(await live.locator('.tile-badge').textContent(), 'LIVE');
      assert.equal(
        await page.locator(`[data-testid="tile"][data-sha256="${hashes.get(liveVideo)}"]`).count(),
        0,
      );

      // Every tile with a picture shows it decoded (not a broken image), through the daemon...
      // ...and each without one (a HEIC on a vault with no HEVC decoder) says so in place.
      const made: string[] = [];
      const none: string[] = [];
      for (const [rel, sha] of hashes) {
        if (rel === liveVideo) continue;
        const s = (await (await vaultFetch(vault, `/api/v1/assets/${sha}/previews`)).json()) as {
          state: string;
        };
        (s.state === 'made' ? made : none).push(sha);
      }
      assert.ok(made.length >= 3, `pictures made for ${made.length} of ${hashes.size - 1}`);
      if ((await findHeifDecoder()) !== null) {
        assert.ok(made.includes(hashes.get(heicPhoto)!), 'the HEIC has its thumbnail');
      }
      const shas = made;
      await page
        .waitForFunction(
          (want) => {
            const doc = (globalThis as unknown as { document: BrowserDocument }).document;
            return want.every((sha) => {
              const img = doc.querySelectorAll(
                `[data-sha256="${sha}"] img[data-testid="thumb"]`,
              )[0];
              return img !== undefined && img.complete && img.naturalWidth > 0;
            });
          },
          shas,
          { timeout: 60_000 },
        )
        .catch(async (err: unknown) => {
          const states = await Promise.all(
            shas.map(async (sha) => [
              sha.slice(0, 8),
              await (await vaultFetch(vault, `/api/v1/assets/${sha}/previews`)).text(),
              await page.locator(`[data-sha256="${sha}"]`).innerHTML(),
            ]),
          );
          throw new Error(`thumbnails not decoded: ${JSON.stringify(states)}`, { cause: err });
        });
      for (const sha of none) {
        await page.locator(`[data-sha256="${sha}"] [data-testid="thumb-none"]`).waitFor();
      }
      const sources = await page.evaluate(() =>
        Array.from(
          (globalThis as unknown as { document: BrowserDocument }).document.querySelectorAll(
            'img[data-testid="thumb"]',
          ),
        ).map((i) => i.currentSrc),
      );
      for (const src of sources) assert.ok(src.startsWith(`${origin}/media/`), src);
      await page.setViewportSize({ width: 1280, height: 860 });
      await shoot('filled');
      assert.deepEqual(pageProblems, []);
    });

    it("shows each backed-up file's thumbnail in the Queue once the vault made it", async () => {
      await page.goto(`${origin}/?visit=queue#/queue`);
      const row = page.locator(`[data-testid="file-row"][data-path$="DSCN0010.jpg"]`);
      await row.waitFor({ timeout: 60_000 });
      await page.waitForFunction(
        () => {
          const img = (
            globalThis as unknown as { document: BrowserDocument }
          ).document.querySelectorAll(
            '[data-path$="DSCN0010.jpg"] img[data-testid="queue-thumb"]',
          )[0];
          return img !== undefined && img.complete && img.naturalWidth > 0;
        },
        undefined,
        { timeout: 60_000 },
      );
      await page.screenshot({ path: join(shotsDir, 'queue-thumbnails-1280-light.png') });
    });

    it('narrows the grid by type, folder and problems', async () => {
      await openLibrary();
      const only = async (type: string, expected: string[]) => {
        await page.selectOption('[data-testid="filter-type"]', type);
        await filtered({ type });
        await page.waitForFunction(
          (n) =>
            (globalThis as unknown as { document: BrowserDocument }).document.querySelectorAll(
              '[data-testid="tile"]',
            ).length === n,
          expected.length,
          { timeout: 30_000 },
        );
        const shas = await page
          .locator('[data-testid="tile"]')
          .evaluateAll((els) =>
            els.map((e) =>
              (e as unknown as { getAttribute(n: string): string }).getAttribute('data-sha256'),
            ),
          );
        assert.deepEqual(shas.sort(), expected.map((r) => hashes.get(r)).sort(), `type ${type}`);
      };
      await only('video', ['metadata-extractor-images/mov/with-gps.mov']);
      await only('raw', ['exiftool-t-images/Nikon.nef']);
      await only('live', [livePhoto]);
      await page.selectOption('[data-testid="filter-type"]', '');

      // One device backs up here: no Device filter to choose from.
      assert.equal(await page.locator('[data-testid="filter-device"]').count(), 0);
      const folderOption = await page
        .locator('[data-testid="filter-folder"] option')
        .nth(1)
        .getAttribute('value');
      assert.ok(folderOption, 'the watched folder is offered');
      await page.selectOption('[data-testid="filter-folder"]', folderOption);
      const [device, folder] = JSON.parse(folderOption) as [string, string];
      await filtered({ device, folder });
      assert.equal(
        await page.getAttribute('[data-testid="library-total"]', 'data-value'),
        String(files.length - 1),
      );
      await page.selectOption('[data-testid="filter-folder"]', '');

      await page.check('[data-testid="filter-problems"]');
      await filtered({ problems: true });
      const problemTiles = await page.locator('[data-testid="tile"]').count();
      const marked = await page.locator('[data-testid="tile"] .tile-problem').count();
      assert.equal(problemTiles, marked, 'every tile shown under "has problems" says it has one');
      await page.uncheck('[data-testid="filter-problems"]');
    });

    it('opens a photo with its preview, capture time, camera, GPS, proof and places', async () => {
      await openLibrary();
      const sha = hashes.get(gpsPhoto) ?? '';
      await page.click(`[data-testid="tile"][data-sha256="${sha}"]`);
      await page.waitForSelector('[data-testid="library-detail"][data-ready="true"]');
      await page.waitForFunction(
        () => {
          const img = (
            globalThis as unknown as { document: BrowserDocument }
          ).document.querySelectorAll('img[data-testid="preview"]')[0];
          return img !== undefined && img.complete && img.naturalWidth > 0;
        },
        undefined,
        { timeout: 30_000 },
      );
      assert.equal(await page.textContent('[data-testid="fact-sha256"]'), sha);
      assert.match((await page.textContent('[data-testid="fact-taken"]')) ?? '', /2008/);
      assert.match((await page.textContent('[data-testid="fact-camera"]')) ?? '', /NIKON/i);
      assert.match((await page.textContent('[data-testid="fact-gps"]')) ?? '', /^43\.\d+, 11\.\d+/);
      assert.match((await page.textContent('[data-testid="fact-dimensions"]')) ?? '', /\d+ × \d+/);
      assert.notEqual((await page.textContent('[data-testid="fact-verified"]')) ?? '', 'Unknown');
      assert.match(
        (await page.textContent('[data-testid="library-places"]')) ?? '',
        /Pictures\/DSCN0010\.jpg/,
      );
      const download = await page.getAttribute('[data-testid="download"]', 'href');
      assert.equal(download, `media/${sha}/original`);
      const res = await page.request.get(`${origin}/media/${sha}/original`);
      assert.equal(res.status(), 200);
      assert.equal(res.headers()['content-type'], 'application/octet-stream');
      assert.equal(sha256Hex(await res.body()), sha, 'the download is the original, byte-exact');
      await shoot('detail');
      await page.keyboard.press('Escape');
      await page.waitForSelector('[data-testid="library-detail"]', { state: 'detached' });
    });

    /** The <video> matching selector once it has its metadata, or the media error that stopped it. */
    async function videoState(selector: string): Promise<Video> {
      const handle = await page.waitForFunction(
        (sel) => {
          const v = (
            globalThis as unknown as { document: { querySelector(s: string): Video | null } }
          ).document.querySelector(sel);
          if (v === null || (v.readyState < 1 && v.error === null)) return null;
          return {
            readyState: v.readyState,
            duration: v.duration,
            error: v.error ? { code: v.error.code } : null,
          };
        },
        selector,
        { timeout: 30_000 },
      );
      return (await handle.jsonValue()) as Video;
    }

    it("opens a Live Photo with its preview and plays the Live Photo's video", async (t) => {
      await openLibrary();
      const sha = hashes.get(livePhoto) ?? '';
      const videoSha = hashes.get(liveVideo) ?? '';
      await page.click(`[data-testid="tile"][data-sha256="${sha}"]`);
      await page.waitForSelector('[data-testid="library-detail"][data-ready="true"]');
      await page.waitForSelector('[data-testid="preview"], [data-testid="preview-none"]');
      await page.click('[data-testid="play-live"]');
      const video = page.locator('video[data-testid="live-video"]');
      assert.equal(await video.getAttribute('src'), `media/${videoSha}/video`);
      assert.equal(await video.evaluate((v) => (v as unknown as { muted: boolean }).muted), true);
      assert.notEqual(await video.getAttribute('playsinline'), null);
      assert.notEqual(await video.getAttribute('controls'), null);

      // What the <video> is served: the vault's own type, inline, nosniff, ranges for seeking.
      const whole = await page.request.get(`${origin}/media/${videoSha}/video`);
      assert.equal(whole.status(), 200);
      assert.equal(whole.headers()['content-type'], 'video/quicktime');
      assert.equal(whole.headers()['x-content-type-options'], 'nosniff');
      assert.doesNotMatch(whole.headers()['content-disposition'] ?? '', /attachment/);
      assert.equal(sha256Hex(await whole.body()), videoSha, 'the video, byte-exact');
      const part = await page.request.get(`${origin}/media/${videoSha}/video`, {
        headers: { Range: 'bytes=100-199' },
      });
      assert.equal(part.status(), 206);
      assert.match(part.headers()['content-range'] ?? '', /^bytes 100-199\/\d+$/);
      assert.equal((await part.body()).length, 100);

      const state = await videoState('video[data-testid="live-video"]');
      if (state.error?.code === 4) {
        // MEDIA_ERR_SRC_NOT_SUPPORTED: this Chromium has no decoder for the codec (Debian's
        // builds lack H.264/HEVC); the bytes above are what a full browser plays.
        t.diagnostic(`playback not verifiable here: this Chromium cannot decode ${liveVideo}`);
      } else {
        assert.equal(state.error, null, `media error ${JSON.stringify(state.error)}`);
        assert.ok(state.readyState >= 1 && state.duration > 0, JSON.stringify(state));
      }
      await shoot('detail-live', [1280]);
      assert.deepEqual(pageProblems, []);
      await page.keyboard.press('Escape');
      await page.waitForSelector('[data-testid="library-detail"]', { state: 'detached' });
    });

    it('plays a video in place with its preview as the poster', async (t) => {
      await openLibrary();
      const sha = hashes.get('metadata-extractor-images/mov/with-gps.mov') ?? '';
      await page.click(`[data-testid="tile"][data-sha256="${sha}"]`);
      const video = page.locator('video[data-testid="video"]');
      await video.waitFor();
      assert.equal(await video.getAttribute('src'), `media/${sha}/video`);
      assert.equal(await video.getAttribute('poster'), `media/${sha}/preview`);
      const state = await videoState('video[data-testid="video"]');
      if (state.error?.code === 4) {
        t.diagnostic('playback not verifiable here: this Chromium cannot decode with-gps.mov');
      } else {
        assert.equal(state.error, null, `media error ${JSON.stringify(state.error)}`);
        assert.ok(state.readyState >= 1 && state.duration > 0, JSON.stringify(state));
      }
      assert.deepEqual(pageProblems, []);
      await page.keyboard.press('Escape');
    });

    it('never serves a picture inline as a video: anything not video/* is a 404 with a reason', async () => {
      for (const rel of [livePhoto, gpsPhoto]) {
        const res = await page.request.get(`${origin}/media/${hashes.get(rel)}/video`);
        assert.equal(res.status(), 404, rel);
        // The vault's own reason (a photo, not a motion photo, has no video to play).
        assert.match(res.headers()['content-type'] ?? '', /^application\/json/);
        assert.match(await res.text(), /"no_video".*no video in it/);
        const ranged = await page.request.get(`${origin}/media/${hashes.get(rel)}/video`, {
          headers: { Range: 'bytes=0-99' },
        });
        assert.equal(ranged.status(), 404, `${rel} with a Range`);
      }
    });

    it('offers a Device filter once a second device backs up, and narrows the grid to it', async () => {
      // A second device (as a phone's client would) holds one of the photos in its own folder.
      const size = (await readFile(corpusFile(gpsPhoto))).length;
      const reg = await vaultFetch(vault, '/api/v1/locations', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          deviceId: 'client-phone',
          deviceName: 'Phone',
          locations: [{ sha256: hashes.get(gpsPhoto), folder: 'DCIM', path: 'DSCN0010.jpg', size }],
        }),
      });
      assert.equal(reg.status, 200, await reg.text());
      await openLibrary();
      const device = page.locator('[data-testid="filter-device"]');
      await device.waitFor();
      const names = await device.locator('option').allTextContents();
      assert.equal(names.length, 3, names.join('; '));
      assert.ok(names.includes('Phone'), names.join('; '));
      await page.selectOption('[data-testid="filter-device"]', 'client-phone');
      await filtered({ device: 'client-phone' });
      assert.equal(await page.getAttribute('[data-testid="library-total"]', 'data-value'), '1');
      assert.equal(
        await page.locator('[data-testid="tile"]').getAttribute('data-sha256'),
        hashes.get(gpsPhoto),
      );
      const folders = await page.locator('[data-testid="filter-folder"] option').allTextContents();
      assert.deepEqual(folders.slice(1), ['DCIM on Phone (1)']);
      await page.selectOption('[data-testid="filter-device"]', '');
      await filtered({});
    });

    it('shows an Android motion photo as a Live Photo and plays the video inside it', async () => {
      // The corpus has none: a corpus JPEG with a corpus MP4 appended, XMP by the real exiftool.
      const android = join(temp.dir, 'Android');
      await mkdir(android);
      const file = join(android, 'PXL_20231001_101112345.MP.jpg');
      const exiftool = new ExifTool({ maxProcs: 1 });
      let mp4: Buffer;
      try {
        mp4 = await makeMotionPhoto(
          exiftool,
          file,
          corpusFile('ianare-exif-samples/jpg/Canon_40D.jpg'),
          corpusFile('metadata-extractor-images/mp4/sample_mpeg4.mp4'),
          'motion-photo',
        );
      } finally {
        await exiftool.end();
      }
      const sha = sha256Hex(await readFile(file));
      await invoke('folders.add', { path: android });
      await until('the motion photo backed up with its metadata', async () => {
        const res = await vaultFetch(vault, `/api/v1/assets/${sha}`);
        if (res.status !== 200) return undefined;
        return ((await res.json()) as { metadata: unknown }).metadata === null ? undefined : true;
      });
      await openLibrary();
      await page.selectOption('[data-testid="filter-type"]', 'live');
      await filtered({ type: 'live' });
      const tile = page.locator(`[data-testid="tile"][data-sha256="${sha}"]`);
      await tile.waitFor({ timeout: 30_000 });
      assert.equal(await tile.getAttribute('data-badge'), 'live');
      await tile.click();
      await page.waitForSelector('[data-testid="library-detail"][data-ready="true"]');
      await page.click('[data-testid="play-live"]');
      const video = page.locator('video[data-testid="live-video"]');
      assert.equal(await video.getAttribute('src'), `media/${sha}/video`);
      const served = await page.request.get(`${origin}/media/${sha}/video`);
      assert.equal(served.status(), 200);
      assert.equal(served.headers()['content-type'], 'video/mp4');
      assert.ok((await served.body()).equals(mp4), 'the MP4 inside the photo, byte-exact');
      await page.keyboard.press('Escape');
      await page.selectOption('[data-testid="filter-type"]', '');
      await filtered({});
    });
  },
);
