// The quick start as a person meets it in the browser: `keepsake daemon --ui-port` with no
// vault given, so the copy goes into the embedded vault under the data directory, on the same
// disk as the photos (issue 9 items 13 and 14). The Overview must say where the backup is and
// how to add a vault elsewhere instead of calling it plainly "safe"; Settings names the
// embedded vault by its directory, not by a loopback address that changes every start; an
// in-folder copy reads "duplicate of another file here"; the Storage page shows what the vault's
// disk holds and what compression saved (issue 15 section 3: a DNG is stored compressed in the
// background). Real daemon, real corpus photos,
// Debian's Chromium; every wait is on something the page shows.
import assert from 'node:assert/strict';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { killAllChildren, startDaemon, type DaemonHandle } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  buildRenderer,
  chromiumMissing,
  ensureScreenshotDir,
  launchChromium,
} from './support/browser.js';

const photo = 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg';
const other = 'ianare-exif-samples/jpg/exif-org/canon-ixus.jpg';
/** compressible (brotli saves ~67 %): the embedded vault stores it compressed */
const raw = 'exiftool-t-images/DNG.dng';

type BrowserDocument = {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
};

const skip = chromiumMissing();
const timeoutMs = 90_000;

describe('web UI with the embedded vault', { skip: skip ?? false }, () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let photos: string;
  let dataDir: string;
  let daemon: DaemonHandle;
  let origin: string;
  let browser: Browser;
  let page: Page;
  let shots: string;

  async function waitForTestValue(testId: string, want: string | number): Promise<void> {
    await page.waitForFunction(
      ([id, value]) =>
        (globalThis as unknown as { document: BrowserDocument }).document
          .querySelector(`[data-testid="${id}"]`)
          ?.getAttribute('data-value') === value,
      [testId, String(want)] as const,
      { timeout: timeoutMs, polling: 100 },
    );
  }

  async function goto(pageId: string): Promise<void> {
    await page.goto(`${origin}/#/${pageId}`);
    await page.waitForSelector(`main[data-page="${pageId}"]`);
  }

  before(async () => {
    temp = await makeTempDir('keepsake-e2e-embedded-');
    photos = join(temp.dir, 'Pictures');
    dataDir = join(temp.dir, 'data');
    await mkdir(photos);
    // The same photo twice (a copy a person made) and one other.
    await copyFile(corpusFile(photo), join(photos, basename(photo)));
    await copyFile(corpusFile(photo), join(photos, `copy of ${basename(photo)}`));
    await copyFile(corpusFile(other), join(photos, basename(other)));
    await copyFile(corpusFile(raw), join(photos, basename(raw)));
    shots = await ensureScreenshotDir();
    const rendererDir = join(temp.dir, 'renderer');
    buildRenderer(rendererDir);
    daemon = startDaemon(['--data-dir', dataDir, '--folder', photos, '--ui-port', '0'], {
      env: { KEEPSAKE_RENDERER_DIR: rendererDir },
      timeoutMs: 300_000,
    });
    const printed = await daemon.waitForOutput(
      /ui (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w%-]+)/,
      60_000,
    );
    const uiUrl = printed[1] ?? '';
    origin = new URL(uiUrl).origin;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 860 }, locale: 'en-GB' });
    await page.goto(uiUrl);
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

  it('the Overview says the backup is in the embedded vault on the same disk, and how to add another', async () => {
    await goto('overview');
    await waitForTestValue('count-backed-up', 3);
    await waitForTestValue('count-duplicate', 1);
    await page.waitForSelector('[data-testid="sync-status"][data-status="up_to_date"]');
    const place = (await page.textContent('[data-testid="vault-place"]')) ?? '';
    assert.match(place, new RegExp(`embedded vault in ${join(dataDir, 'vault')}`), place);
    assert.match(place, /on the same disk as your photos/, place);
    assert.match(place, /keepsake vault/, 'how to run a vault elsewhere');
    assert.match(
      daemon.stdout(),
      new RegExp(`ready: .*the embedded vault in ${join(dataDir, 'vault')}`),
    );
    const detail = (await page.textContent('.status-detail')) ?? '';
    assert.doesNotMatch(detail, /safe/i, `no unqualified "safe": ${detail}`);
    assert.doesNotMatch((await page.textContent('main')) ?? '', /Files safe|Bytes safe/);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({
        path: join(shots, `embedded-overview-${scheme}.png`),
        fullPage: true,
      });
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('Settings names the embedded vault by its directory, not a loopback address', async () => {
    await goto('settings');
    const named = (await page.textContent('[data-testid="vault-embedded"]')) ?? '';
    assert.match(named, new RegExp(`Embedded vault \\(${join(dataDir, 'vault')}\\)`), named);
    assert.equal(await page.inputValue('#setting-vaultUrl'), '');
    assert.doesNotMatch((await page.textContent('main')) ?? '', /127\.0\.0\.1/);
    for (const desktopOnly of ['startAtLogin', 'pauseOnBattery']) {
      assert.equal(await page.locator(`[data-testid="setting-${desktopOnly}"]`).count(), 0);
    }
    await page.screenshot({ path: join(shots, 'embedded-settings-light.png'), fullPage: true });
  });

  it('the copy made here reads "duplicate of another file here", not "already on the vault"', async () => {
    await goto('queue');
    await page.selectOption('[data-testid="queue-filter"]', 'duplicate');
    const row = page.locator('[data-testid="file-row"][data-state="duplicate"]');
    await row.first().waitFor({ timeout: timeoutMs });
    const text = (await row.first().textContent()) ?? '';
    assert.match(text, /duplicate of .* here/, text);
    assert.doesNotMatch(text, /already on the vault/i, text);
    await row.first().locator('[data-testid="file-details"]').click();
    const reason = (await page.textContent('[data-testid="file-detail-reason"]')) ?? '';
    assert.match(reason, new RegExp(`another file here: .*${basename(photo).replace('.', '\\.')}`));
  });

  it('"Saved by deduplication" counts the copy the client itself recognised', async () => {
    // The copy was never sent (the queue saw its twin's content safe): only its location
    // tells the vault it exists, and the saving is counted from locations.
    const size = (await stat(corpusFile(photo))).size;
    await goto('storage');
    await page.waitForFunction(
      (want) =>
        (globalThis as unknown as { document: BrowserDocument }).document
          .querySelector('[data-testid="storage-dedup"]')
          ?.getAttribute('data-bytes') === want,
      String(size),
      { timeout: timeoutMs, polling: 250 },
    );
    assert.match(
      (await page.textContent('[data-testid="storage-dedup"]')) ?? '',
      /^[\d.,]+ (B|KiB|MiB)$/,
      'in binary units',
    );
  });

  it('the Storage page shows what compression saved and what the disk holds', async () => {
    const size = (await stat(corpusFile(raw))).size;
    // Compression runs in the background after the upload: look again until it shows.
    let saved = 0;
    for (let tries = 0; saved === 0 && tries < 60; tries++) {
      if (tries > 0) await new Promise((r) => setTimeout(r, 1000));
      await goto('overview');
      await goto('storage');
      await page.waitForSelector('[data-testid="storage-compression"]', { timeout: timeoutMs });
      saved = Number(await page.getAttribute('[data-testid="storage-compression"]', 'data-bytes'));
    }
    assert.ok(saved > size / 2, `compression saved ${saved} of the DNG's ${size} bytes`);
    const used = Number(await page.getAttribute('[data-testid="storage-used"]', 'data-bytes'));
    const onDisk = Number(await page.getAttribute('[data-testid="storage-on-disk"]', 'data-bytes'));
    assert.equal(onDisk, used - saved, 'the disk holds the backed-up bytes less the saving');
    assert.match((await page.textContent('[data-testid="storage-compression"]')) ?? '', /KiB/);
  });
});
