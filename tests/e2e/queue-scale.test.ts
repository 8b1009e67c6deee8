// The queue at the scale the issue names: 100,000 files in one list. The rows are real engine
// rows (a folder of 100,000 files excluded by a rule: the cheapest real state to reach), shown
// through `keepsake daemon --ui-port` in Chromium. Only a screenful of rows is ever in the DOM,
// and the last file is reachable by scrolling.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { killAllChildren, startDaemon, type DaemonHandle } from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import {
  buildRenderer,
  chromiumMissing,
  ensureScreenshotDir,
  launchChromium,
} from './support/browser.js';

const folders = 100;
const perFolder = 1000;
const total = folders * perFolder;

type BrowserElement = { scrollTop: number; scrollHeight: number } | null;
type BrowserDocument = {
  querySelector(selector: string): BrowserElement;
  querySelectorAll(selector: string): { length: number };
};

describe('queue with 100,000 files', { skip: chromiumMissing() ?? false }, () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let daemon: DaemonHandle;
  let browser: Browser;
  let page: Page;
  let uiUrl: string;

  before(async () => {
    temp = await makeTempDir('keepsake-scale-');
    const photos = join(temp.dir, 'Pictures');
    for (let d = 0; d < folders; d++) {
      const dir = join(photos, `roll-${String(d).padStart(3, '0')}`);
      await mkdir(dir, { recursive: true });
      await Promise.all(
        Array.from({ length: perFolder }, (_, i) =>
          writeFile(join(dir, `IMG_${String(i).padStart(4, '0')}.jpg`), ''),
        ),
      );
    }
    const rendererDir = join(temp.dir, 'renderer');
    buildRenderer(rendererDir);
    daemon = startDaemon(['--data-dir', join(temp.dir, 'data'), '--ui-port', '0'], {
      env: { KEEPSAKE_RENDERER_DIR: rendererDir },
      timeoutMs: 600_000,
    });
    const printed = await daemon.waitForOutput(/ui (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w%-]+)/);
    uiUrl = printed[1] ?? '';
    const url = new URL(uiUrl);
    // A script's way in: the same token as a bearer header.
    const res = await fetch(`${url.origin}/api/invoke/folders.add`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${url.searchParams.get('token')}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ path: photos, exclude: ['**/*.jpg'] }),
    });
    assert.equal(((await res.json()) as { ok: boolean }).ok, true);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    if (daemon) {
      daemon.terminate();
      await daemon.waitForExit(20_000).catch(() => daemon.killGroup());
    }
    await killAllChildren();
    await temp?.cleanup();
  });

  it('lists all 100,000 with only a screenful of rows in the page, and scrolls to the last', async () => {
    await page.goto(uiUrl);
    await page.waitForFunction(
      (n) =>
        (
          globalThis as unknown as {
            document: {
              querySelector(s: string): { getAttribute(a: string): string | null } | null;
            };
          }
        ).document
          .querySelector('[data-testid="count-excluded"]')
          ?.getAttribute('data-value') === String(n),
      total,
      { timeout: 120_000, polling: 250 },
    );
    await page.goto(`${new URL(uiUrl).origin}/#/queue`);
    await page.waitForFunction(
      (n) =>
        (
          globalThis as unknown as {
            document: {
              querySelector(s: string): { getAttribute(a: string): string | null } | null;
            };
          }
        ).document
          .querySelector('[data-testid="queue-total"]')
          ?.getAttribute('data-value') === String(n),
      total,
      { timeout: 60_000 },
    );
    const rowsInDom = () =>
      page.evaluate(
        () =>
          (globalThis as unknown as { document: BrowserDocument }).document.querySelectorAll(
            '[data-testid="file-row"]',
          ).length,
      );
    const first = await rowsInDom();
    assert.ok(first > 5 && first < 60, `${first} rows rendered for 100,000 files`);
    await page.screenshot({ path: join(await ensureScreenshotDir(), 'queue-100k-light.png') });

    // Jump to the end: the rows there load page by page, and the DOM stays small.
    await page.evaluate(() => {
      const list = (globalThis as unknown as { document: BrowserDocument }).document.querySelector(
        '[data-testid="queue-list"]',
      );
      if (list) list.scrollTop = list.scrollHeight;
    });
    const last = page.locator(`[data-testid="file-row"][data-index="${total - 1}"]`);
    await last.waitFor({ timeout: 120_000 });
    const atEnd = await rowsInDom();
    assert.ok(atEnd > 5 && atEnd < 60, `${atEnd} rows rendered at the end of the list`);
  });
});
