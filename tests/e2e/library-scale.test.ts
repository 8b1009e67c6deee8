// The Library at the scale the issue names: 100,000 assets on the vault, each with its own
// thumbnail URL, scrolled in Chromium through `keepsake daemon --ui-port`. The vault's index
// is filled directly (the cheapest real state: rows, metadata and made previews, each
// thumbnail file a hard link to one real JPEG), then served by a real vault. Only a
// screenful of tiles is ever in the DOM, pages arrive by cursor as the grid scrolls, and the
// last asset is reachable. Frame times while scrolling are measured and printed, never gated
// on (a loaded CI machine is not a person's laptop).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { VaultIndex, type NewAsset } from '../../server/index/vault-index.js';
import { PREVIEWS_DIR } from '../../server/previews.js';
import { killAllChildren, startDaemon, type DaemonHandle } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';
import { buildRenderer, chromiumMissing, launchChromium } from './support/browser.js';

const total = Number(process.env.KEEPSAKE_LIBRARY_SCALE ?? 100_000);
const thumbRequests = { started: 0, finished: 0, cancelled: 0 };
const shotsDir = process.env.KEEPSAKE_LIBRARY_SHOTS ?? '/tmp/library-shots';

type GridElement = { scrollTop: number; scrollHeight: number; getAttribute(n: string): string };
type Img = { complete: boolean; naturalWidth: number };
type BrowserDocument = {
  querySelector(selector: string): GridElement | null;
  querySelectorAll(selector: string): { length: number };
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

/** Fills a vault's index with `n` assets over about three years, thumbnails made. */
async function fillVault(dir: string, n: number): Promise<void> {
  const index = await VaultIndex.open(join(dir, 'vault.db'));
  try {
    const thumb = await sharp(
      await readFile(corpusFile('ianare-exif-samples/jpg/gps/DSCN0010.jpg')),
    )
      .resize(256, 256, { fit: 'inside' })
      .jpeg({ quality: 80 })
      .toBuffer();
    // One source file per bucket: a file system allows only so many links to one inode.
    const sources = join(dir, 'thumb-sources');
    await mkdir(sources);
    const start = Date.parse('2023-06-30T12:00:00Z');
    const assets: NewAsset[] = [];
    const metadata: { sha256: string; json: string }[] = [];
    for (let i = 0; i < n; i++) {
      const sha256 = createHash('sha256').update(`asset ${i}`).digest('hex');
      const taken = new Date(start - i * 15 * 60_000).toISOString();
      assets.push({
        sha256,
        size: 1000 + i,
        mime: i % 10 === 0 ? 'video/quicktime' : 'image/jpeg',
        kind: i % 10 === 0 ? 'video' : 'image',
        filename: `IMG_${String(i).padStart(6, '0')}.${i % 10 === 0 ? 'MOV' : 'JPG'}`,
        relpath: null,
        mtimeMs: null,
        at: 1,
      });
      metadata.push({
        sha256,
        json: JSON.stringify({
          captureTime: taken,
          captureTimeSource: 'exif_original',
          timeZone: { offsetMinutes: 0, source: 'offset_time_original' },
          gps: null,
          camera: null,
          width: 4032,
          height: 3024,
          durationSec: i % 10 === 0 ? 7 : null,
          orientation: 1,
          mime: null,
        }),
      });
    }
    index.commitBatch(assets);
    for (let i = 0; i < metadata.length; i += 5000) {
      index.setMetadataMany(metadata.slice(i, i + 5000), 1);
    }
    const root = join(dir, PREVIEWS_DIR);
    for (let b = 0; b < 256; b++) {
      const bucket = b.toString(16).padStart(2, '0');
      await mkdir(join(root, bucket), { recursive: true });
      await writeFile(join(sources, `${bucket}.jpg`), thumb);
    }
    for (let i = 0; i < assets.length; i += 2000) {
      const chunk = assets.slice(i, i + 2000);
      await Promise.all(
        chunk.map((a) =>
          link(
            join(sources, `${a.sha256.slice(0, 2)}.jpg`),
            join(root, a.sha256.slice(0, 2), `${a.sha256}-thumb.jpg`),
          ),
        ),
      );
      for (const a of chunk)
        await index.previews.record(a.sha256, { state: 'made', source: 'decoded' }, 1);
    }
  } finally {
    index.close();
  }
}

describe(`Library with ${total} assets`, { skip: chromiumMissing() ?? false }, () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let vault: TestVault;
  let daemon: DaemonHandle;
  let browser: Browser;
  let page: Page;

  before(async () => {
    temp = await makeTempDir('keepsake-library-scale-');
    const vaultDir = join(temp.dir, 'vault');
    await mkdir(vaultDir);
    const filled = Date.now();
    await fillVault(vaultDir, total);
    process.stdout.write(
      `# filled a vault index with ${total} assets in ${Date.now() - filled} ms\n`,
    );
    vault = await startTestVault({ dataDir: vaultDir, previews: false, scrub: false });
    const rendererDir = join(temp.dir, 'renderer');
    buildRenderer(rendererDir);
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
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    // What became of each thumbnail request (See [Note: A thumbnail that leaves the screen
    // stops loading] in renderer/src/pages/library.tsx).
    const isThumb = (url: string) => /\/media\/[0-9a-f]{64}\/thumbnail/.test(url);
    page.on('request', (r) => {
      if (isThumb(r.url())) thumbRequests.started++;
    });
    page.on('requestfinished', (r) => {
      if (isThumb(r.url())) thumbRequests.finished++;
    });
    page.on('requestfailed', (r) => {
      if (isThumb(r.url())) thumbRequests.cancelled++;
    });
    await page.goto(printed[1] ?? '');
  });

  after(async () => {
    await browser?.close().catch(() => {});
    if (daemon) {
      daemon.terminate();
      await daemon.waitForExit(20_000).catch(() => daemon.killGroup());
    }
    await killAllChildren();
    // The in-process vault's close, after the daemon's ~12,000 cancelled thumbnail fetches,
    // sometimes does not finish: something in it waits on what only an unref'd handle ends,
    // or on nothing at all (a ref'd timer of 60 s did not always see it end). Left to itself,
    // the test process's event loop emptied mid-close ("Promise resolution is still pending but
    // the event loop has already resolved"), in about half the runs since the Library cancels
    // thumbnails (cc9c0f5). The cause is not found (instrumenting vault.close() made it
    // vanish); until it is, the close is given 20 s and a late one is reported, not gated:
    // this test is about the Library's scroll, and the vault's shutdown has tests of its own.
    // Ruled out: a response queued behind another on a dead connection (fixed, See [Note: An
    // answer queued behind another] in server/listener.ts); with that fixed, an unbounded close
    // still hung in 3 of 5 runs (2026-11-29), in vault.close() itself, and not when vault.ts
    // kept each request's req/res in a map (3 of 3).
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), 20_000);
    });
    const closing = (vault?.close() ?? Promise.resolve()).then(
      () => 'closed' as const,
      () => 'closed' as const,
    );
    if ((await Promise.race([closing, late])) === 'late') {
      process.stdout.write(
        '# the vault had not finished closing 20 s after the daemon stopped (a known, unexplained wait: see the comment in after())\n',
      );
    }
    clearTimeout(timer);
    await temp?.cleanup();
  });

  it('scrolls 100,000 assets with only a screenful of tiles in the page, to the last one', async () => {
    const origin = new URL(page.url()).origin;
    await page.goto(`${origin}/#/library`);
    await page.waitForSelector(`[data-testid="library-total"][data-value="${total}"]`, {
      timeout: 120_000,
    });
    await page.waitForSelector('img[data-testid="thumb"]');
    const thumbsDecoded = () =>
      page.waitForFunction(
        () => {
          const imgs = Array.from(
            (
              globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<Img> } }
            ).document.querySelectorAll('img[data-testid="thumb"]'),
          );
          return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
        },
        undefined,
        { timeout: 60_000, polling: 100 },
      );
    await thumbsDecoded();
    const tilesInDom = () =>
      page.evaluate(
        () =>
          (globalThis as unknown as { document: BrowserDocument }).document.querySelectorAll(
            '[data-testid="tile"]',
          ).length,
      );
    const first = await tilesInDom();
    assert.ok(first > 6 && first < 300, `${first} tiles in the page`);

    // A person flicking down the timeline: 400 px a frame for 300 frames (about 2,000
    // tiles), while the next pages arrive by cursor. Each frame's time is measured.
    // (A string: tsx would wrap a named function in a helper the page does not have.)
    const frames = await page.evaluate<number[]>(`new Promise((done) => {
      const grid = document.querySelector('[data-testid="library-grid"]');
      const times = [];
      let last = 0;
      let n = 0;
      const step = (t) => {
        if (last > 0) times.push(t - last);
        last = t;
        grid.scrollTop += 400;
        if (++n < 300) requestAnimationFrame(step);
        else done(times);
      };
      requestAnimationFrame(step);
    })`);
    const sorted = [...frames].sort((a, b) => a - b);
    const summary = {
      frames: frames.length,
      medianMs: Number(percentile(sorted, 50).toFixed(1)),
      p95Ms: Number(percentile(sorted, 95).toFixed(1)),
      maxMs: Number((sorted.at(-1) ?? 0).toFixed(1)),
      over50ms: frames.filter((f) => f > 50).length,
    };
    process.stdout.write(`# library scroll frame times: ${JSON.stringify(summary)}\n`);
    const midway = await tilesInDom();
    assert.ok(midway > 6 && midway < 300, `${midway} tiles in the page after scrolling`);
    await thumbsDecoded();
    await mkdir(shotsDir, { recursive: true });
    await page.screenshot({ path: join(shotsDir, 'library-100k-scrolled-1280-light.png') });

    // To the end: each jump to the bottom brings the next page, until the last asset shows.
    const started = Date.now();
    const lastName = `IMG_${String(total - 1).padStart(6, '0')}`;
    for (;;) {
      const loaded = await page.evaluate(() => {
        const grid = (
          globalThis as unknown as { document: BrowserDocument }
        ).document.querySelector('[data-testid="library-grid"]');
        if (!grid) return 0;
        grid.scrollTop = grid.scrollHeight;
        return Number(grid.getAttribute('data-loaded'));
      });
      if (loaded >= total) break;
      assert.ok(Date.now() - started < 300_000, `only ${loaded} of ${total} loaded`);
      await page.waitForFunction(
        (n) =>
          Number(
            (globalThis as unknown as { document: BrowserDocument }).document
              .querySelector('[data-testid="library-grid"]')
              ?.getAttribute('data-loaded'),
          ) > n,
        loaded,
        { timeout: 60_000, polling: 50 },
      );
    }
    process.stdout.write(
      `# loaded all ${total} by scrolling to the end in ${Date.now() - started} ms\n`,
    );
    // Scrolled to the bottom until the oldest asset's tile is there (each scroll is a hint:
    // the grid may still be growing from the last page when one lands).
    await page.waitForFunction(
      (name) => {
        const doc = (globalThis as unknown as { document: BrowserDocument }).document;
        const grid = doc.querySelector('[data-testid="library-grid"]');
        if (grid) grid.scrollTop = grid.scrollHeight;
        return doc.querySelector(`[data-testid="tile"][aria-label^="${name}"]`) !== null;
      },
      lastName,
      { timeout: 60_000, polling: 200 },
    );
    const atEnd = await tilesInDom();
    assert.ok(atEnd > 0 && atEnd < 300, `${atEnd} tiles in the page at the end`);
    // Beside other e2e files on a loaded CI machine this once waited over a minute
    // (2026-11-29): the screenful at the end queued behind ~20,000 thumbnail loads of tiles
    // long scrolled past. Those are cancelled now, so the end decodes as the start does.
    const waited = Date.now();
    await thumbsDecoded();
    process.stdout.write(
      `# thumbnail requests: ${JSON.stringify(thumbRequests)}; the last screenful decoded ${Date.now() - waited} ms after the last tile showed\n`,
    );
    await page.screenshot({ path: join(shotsDir, 'library-100k-end-1280-light.png') });
  });
});
