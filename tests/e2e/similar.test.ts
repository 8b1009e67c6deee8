// The Similar photos review end to end (issue 15 section 1), as a person sees it: a real vault
// holding a corpus photo and two copies made of it (half size, JPEG quality 60), `keepsake
// daemon --ui-port` in front of it, Debian's Chromium. The group is shown side by side with
// the original suggested, the bytes each choice reclaims follow the choices, moving a copy to
// the vault's trash takes it out of the library and Undo brings it back, and the Storage page
// shows the reclaimable total with a link to the review. Screenshots of the empty, error and
// filled states at 1280 and 420 px go to /tmp/similar-shots/ (KEEPSAKE_SIMILAR_SHOTS).
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { killAllChildren, startDaemon, type DaemonHandle } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  postBatch,
  sha256Hex,
  startTestVault,
  type TestVault,
  vaultFetch,
} from '../support/vault.js';
import { buildRenderer, chromiumMissing, launchChromium } from './support/browser.js';

const shotsDir = process.env.KEEPSAKE_SIMILAR_SHOTS ?? '/tmp/similar-shots';
const timeoutMs = 120_000;

describe(
  'Similar photos page in Chromium against keepsake daemon',
  { skip: chromiumMissing() ?? false },
  () => {
    let temp: { dir: string; cleanup: () => Promise<void> };
    let vault: TestVault;
    let daemon: DaemonHandle;
    let browser: Browser;
    let page: Page;
    let origin: string;
    /** the daemon's printed address, with its token */
    let entry: string;
    const sha = { original: '', half: '', q60: '' };
    const bytes = { original: 0, half: 0, q60: 0 };
    let visit = 0;

    async function open(hash: string, on: Page = page): Promise<void> {
      await on.goto(`${origin}/?visit=${++visit}#/${hash}`);
    }

    async function shoot(name: string): Promise<void> {
      for (const width of [1280, 420]) {
        await page.setViewportSize({ width, height: 900 });
        await page.screenshot({
          path: join(shotsDir, `similar-${name}-${width}.png`),
          fullPage: true,
        });
      }
      await page.setViewportSize({ width: 1280, height: 900 });
    }

    async function libraryHashes(): Promise<string[]> {
      const res = await vaultFetch(vault, '/api/v1/library?limit=100');
      return ((await res.json()) as { items: { sha256: string }[] }).items
        .map((i) => i.sha256)
        .sort();
    }

    before(async () => {
      temp = await makeTempDir('keepsake-similar-e2e-');
      await mkdir(shotsDir, { recursive: true });
      const rendererDir = join(temp.dir, 'renderer');
      buildRenderer(rendererDir);
      await mkdir(join(temp.dir, 'vault'));
      vault = await startTestVault({ dataDir: join(temp.dir, 'vault'), scrub: false });
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
      entry = printed[1] ?? '';
      origin = new URL(entry).origin;
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
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

    it('says there is nothing to review, or that the review cannot be read, in words', async () => {
      await open('similar');
      await page.waitForSelector('[data-testid="similar-empty"]', { timeout: timeoutMs });
      await shoot('empty');
      const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      try {
        await other.goto(entry);
        await other.route('**/api/invoke/similar.list', (route) =>
          route.abort('connectionrefused'),
        );
        await open('similar', other);
        await other.waitForSelector('.state-error', { timeout: timeoutMs });
      } finally {
        await other.close();
      }
    });

    it('shows a group side by side with the original suggested; keep and trash do what they say', async () => {
      const data = await readFile(corpusFile('osxphotos/wedding.jpg'));
      const { width = 0 } = await sharp(data).metadata();
      const half = await sharp(data)
        .resize(Math.round(width / 2))
        .jpeg({ quality: 90 })
        .toBuffer();
      const q60 = await sharp(data).jpeg({ quality: 60 }).toBuffer();
      sha.original = sha256Hex(data);
      sha.half = sha256Hex(half);
      sha.q60 = sha256Hex(q60);
      bytes.original = data.length;
      bytes.half = half.length;
      bytes.q60 = q60.length;
      const r = await postBatch(vault, [
        { data, filename: 'wedding.jpg', mime: 'image/jpeg' },
        { data: half, filename: 'wedding-small.jpg', mime: 'image/jpeg' },
        { data: q60, filename: 'wedding-q60.jpg', mime: 'image/jpeg' },
      ]);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      // The vault measures each photo as it makes its preview: wait for the group.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await vaultFetch(vault, '/api/v1/similar');
        const body = (await res.json()) as { groups: { members: unknown[] }[] };
        if (body.groups[0]?.members.length === 3) break;
        assert.ok(Date.now() < deadline, 'the vault groups the copies');
        await new Promise((r) => setTimeout(r, 200));
      }

      await open('similar');
      await page.waitForSelector('[data-testid="similar-group"]', { timeout: timeoutMs });
      const members = page.locator('[data-testid="similar-member"]');
      assert.equal(await members.count(), 3);
      const suggested = page.locator('[data-testid="similar-member"][data-suggested="true"]');
      assert.equal(await suggested.getAttribute('data-sha256'), sha.original);
      assert.equal(await suggested.getAttribute('data-choice'), 'keep');
      // Every preview arrives as a decoded picture through the daemon.
      await page.waitForFunction(
        () =>
          Array.from(
            (
              globalThis as unknown as {
                document: {
                  querySelectorAll(
                    s: string,
                  ): ArrayLike<{ complete: boolean; naturalWidth: number }>;
                };
              }
            ).document.querySelectorAll('[data-testid="similar-member"] img'),
          ).every((i) => i.complete && i.naturalWidth > 0),
        undefined,
        { timeout: timeoutMs },
      );
      const reclaim = page.locator('[data-testid="similar-reclaim"]');
      assert.equal(Number(await reclaim.getAttribute('data-bytes')), bytes.half + bytes.q60);
      const total = page.locator('[data-testid="similar-total"]');
      assert.equal(Number(await total.getAttribute('data-bytes')), bytes.half + bytes.q60);
      await shoot('group');

      // Keep the re-encoded copy too: only the small one goes.
      await page
        .locator(
          `[data-testid="similar-member"][data-sha256="${sha.q60}"] [data-testid="choose-keep"]`,
        )
        .check();
      await page.waitForSelector(`[data-testid="similar-reclaim"][data-bytes="${bytes.half}"]`);
      await page.click('[data-testid="similar-apply"]');
      await page.waitForSelector('[data-testid="similar-done"]', { timeout: timeoutMs });
      assert.match(
        (await page.textContent('[data-testid="similar-done"]')) ?? '',
        /Moved 1 photo .* to the vault's trash/,
      );
      assert.deepEqual(await libraryHashes(), [sha.original, sha.q60].sort());
      await shoot('moved');

      // Undo brings it back into the library.
      await page.click('[data-testid="similar-done"] button');
      await page.waitForSelector('[data-testid="similar-done"]', { state: 'detached' });
      assert.deepEqual(await libraryHashes(), [sha.original, sha.half, sha.q60].sort());
    });

    it('the Storage page shows what the suggestions would reclaim, with a link to the review', async () => {
      await open('storage');
      const line = page.locator('[data-testid="storage-reclaimable"]');
      await line.waitFor({ timeout: timeoutMs });
      assert.equal(Number(await line.getAttribute('data-bytes')), bytes.half + bytes.q60);
      await page.click('[data-testid="storage-similar-review"]');
      await page.waitForSelector('[data-testid="similar-group"]', { timeout: timeoutMs });
      // Apply all suggestions: both copies go; the group is gone from the review.
      await page.click('[data-testid="similar-apply-all"]');
      await page.waitForSelector('[data-testid="similar-empty"]', { timeout: timeoutMs });
      assert.deepEqual(await libraryHashes(), [sha.original]);
    });
  },
);
