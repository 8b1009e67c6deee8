// The headless web UI end to end, as a person on a NAS uses it: `keepsake daemon --ui-port`
// with a real vault, real corpus photos, the real engine, in Debian's Chromium. Every wait is
// on something the app shows (data-testid values), never a fixed sleep. Screenshots of every
// page, light and dark, go to test-results/screenshots/.
//
// The failing file is real: the vault is started with --max-size below one photo's size, so
// the vault refuses that upload (413) and the file fails with the vault's reason; the fix is
// the vault restarted on the same data directory and port without the limit, then Retry.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { killAllChildren, startDaemon, type DaemonHandle } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { blobPath, flipByte } from '../support/vault-damage.js';
import { sha256Hex, startTestVault, type TestVault } from '../support/vault.js';
import {
  buildRenderer,
  chromiumMissing,
  ensureScreenshotDir,
  launchChromium,
} from './support/browser.js';

const smallPhotos = [
  'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
  'ianare-exif-samples/jpg/Konica_Minolta_DiMAGE_Z3.jpg',
  'ianare-exif-samples/jpg/exif-org/canon-ixus.jpg',
  'ianare-exif-samples/jpg/exif-org/fujifilm-dx10.jpg',
  'exifr-fixtures/BonTonARTSTORplusIPTC.jpg',
];
/** 1,477,654 bytes: above the vault's --max-size below. */
const largePhoto = 'takeout/osxphotos/Takeout/Google Photos/Adelaide/IMG_4547.jpg';
const maxSizeBytes = 1_000_000;
/** 1,435,696 bytes, copied in under a 128 KiB/s cap: about 11 s in upload. */
const slowPhoto =
  'takeout/osxphotos/Takeout/Google Photos/Photos from 2018/St James Park_edited.jpg';
/** Copied in while uploads are paused. */
const latePhoto = 'ianare-exif-samples/jpg/Samsung_Digimax_i50_MP3.jpg';
/** Copied in while the Queue is searched: its arrival changes the counts. */
const countsPhoto = 'ianare-exif-samples/jpg/Ricoh_Caplio_RR330.jpg';

/** The little of the DOM the page functions below use (this file compiles without DOM types). */
type BrowserDocument = {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
};

const skip = chromiumMissing();
const timeoutMs = 90_000;

describe('web UI in Chromium against keepsake daemon', { skip: skip ?? false }, () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let photos: string;
  let vaultDir: string;
  let vault: TestVault;
  let daemon: DaemonHandle;
  let uiUrl: string;
  let origin: string;
  let browser: Browser;
  let page: Page;
  let shots: string;
  /** CSP violations and uncaught errors in the page, from every test. */
  const pageProblems: string[] = [];

  /** Waits until the element with this data-testid has data-value (or data-status) `want`. */
  async function waitForTestValue(
    testId: string,
    want: string | number,
    attr = 'data-value',
  ): Promise<void> {
    try {
      await page.waitForFunction(
        ([id, value, a]) =>
          (globalThis as unknown as { document: BrowserDocument }).document
            .querySelector(`[data-testid="${id}"]`)
            ?.getAttribute(a) === value,
        [testId, String(want), attr] as const,
        { timeout: timeoutMs, polling: 100 },
      );
    } catch (err) {
      const now = await page
        .locator(`[data-testid="${testId}"]`)
        .first()
        .getAttribute(attr)
        .catch(() => '(absent)');
      throw new Error(
        `${testId} ${attr} never became ${String(want)} (it is ${String(now)})\n${daemon.stderr().slice(-3000)}`,
        {
          cause: err,
        },
      );
    }
  }

  async function goto(pageId: string): Promise<void> {
    await page.goto(`${origin}/#/${pageId}`);
    await page.waitForSelector(`main[data-page="${pageId}"]`);
  }

  async function screenshot(name: string): Promise<void> {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: join(shots, `${name}-${scheme}.png`), fullPage: true });
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  before(async () => {
    temp = await makeTempDir('keepsake-e2e-');
    photos = join(temp.dir, 'Pictures');
    vaultDir = join(temp.dir, 'vault');
    await mkdir(photos);
    await mkdir(vaultDir);
    for (const rel of [...smallPhotos, largePhoto])
      await copyFile(corpusFile(rel), join(photos, basename(rel)));
    shots = await ensureScreenshotDir();

    const rendererDir = join(temp.dir, 'renderer');
    buildRenderer(rendererDir);
    vault = await startTestVault({ dataDir: vaultDir, maxSizeBytes });

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
    const printed = await daemon.waitForOutput(
      /ui (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w%-]+)/,
      60_000,
    );
    uiUrl = printed[1] ?? '';
    origin = new URL(uiUrl).origin;
    // evil.test resolves to loopback inside this browser: a DNS-rebinding attacker's view.
    browser = await launchChromium(['--host-resolver-rules=MAP evil.test 127.0.0.1']);
    page = await browser.newPage({ viewport: { width: 1200, height: 860 }, locale: 'en-GB' });
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) pageProblems.push(m.text());
    });
    page.on('pageerror', (err) => pageProblems.push(err.message));
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

  it('refuses a request without the token, a rebinding Host and another site', async () => {
    const plain = await fetch(`${origin}/`);
    assert.equal(plain.status, 401);
    const api = await fetch(`${origin}/api/invoke/status.get`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(api.status, 401);

    // DNS rebinding: the browser thinks it is on evil.test, the daemon sees Host: evil.test.
    const port = new URL(origin).port;
    const rebound = await page.goto(
      `http://evil.test:${port}/?token=${new URL(uiUrl).searchParams.get('token')}`,
    );
    assert.equal(rebound?.status(), 421);

    // Another site's page tries to pause the backup with a form post (no CORS preflight).
    const attacker: Server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(
        `<form id=f method=POST action="${origin}/api/invoke/uploads.pause" enctype="text/plain">` +
          `<input name='{"untilMs":null, "x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    try {
      const attackerPort = (attacker.address() as AddressInfo).port;
      const landed = page.waitForResponse((r) =>
        r.url().startsWith(`${origin}/api/invoke/uploads.pause`),
      );
      await page.goto(`http://127.0.0.1:${attackerPort}/`);
      const res = await landed;
      assert.ok([401, 403].includes(res.status()), `cross-site post answered ${res.status()}`);
    } finally {
      await new Promise<void>((r) => attacker.close(() => r()));
    }
  });

  it('opens from the printed address, swaps the token for an HttpOnly cookie and shows the status', async () => {
    await page.goto(uiUrl);
    await page.waitForSelector('[data-testid="sync-status"]');
    assert.ok(!page.url().includes('token='), `token left in the address bar: ${page.url()}`);
    const cookies = await page.context().cookies(origin);
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0]?.httpOnly, true);
    assert.equal(cookies[0]?.sameSite, 'Strict');
    assert.equal(
      await page.evaluate(
        () => (globalThis as unknown as { document: { cookie: string } }).document.cookie,
      ),
      '',
      'page scripts cannot read the session',
    );
    // Nothing is paused by the attacker of the previous test.
    assert.notEqual(
      await page.getAttribute('[data-testid="sync-status"]', 'data-status'),
      'paused',
    );
    await screenshot('overview-empty');
    await goto('folders');
    await screenshot('folders-empty');
  });

  it('adds a folder through the UI and the counts reach backed up; the oversized photo fails with its reason', async () => {
    await goto('folders');
    await page.fill('[data-testid="add-folder-input"]', photos);
    await page.click('[data-testid="add-folder-submit"]');
    await page.waitForSelector(`[data-testid="folder-card"][data-path="${photos}"]`);
    await goto('overview');
    await waitForTestValue('count-backed-up', smallPhotos.length);
    await waitForTestValue('count-failed', 1);
    await waitForTestValue('count-queued', 0);
    await waitForTestValue('count-uploading', 0);
    await waitForTestValue('sync-status', 'needs_attention', 'data-status');
    assert.equal(await page.textContent('[data-testid="sync-status"]'), 'Needs attention');
    await screenshot('overview-needs-attention');
    await goto('folders');
    await waitForTestValue('folder-backed-up', smallPhotos.length);
    await screenshot('folders');
    // Adding it again changes nothing and says so, not "Added".
    await page.fill('[data-testid="add-folder-input"]', photos);
    await page.click('[data-testid="add-folder-submit"]');
    const done = page.locator('[data-testid="add-folder-done"]');
    await done.waitFor({ timeout: timeoutMs });
    assert.equal((await done.textContent())?.trim(), `${photos} is already watched.`);
    assert.equal(await page.locator('[data-testid="folder-card"]').count(), 1);
  });

  it('shows the failed file with the reason, and Retry backs it up once the vault accepts it', async () => {
    await goto('queue');
    await page.selectOption('[data-testid="queue-filter"]', 'failed');
    const row = page.locator('[data-testid="file-row"][data-state="failed"]');
    await row.first().waitFor({ timeout: timeoutMs });
    assert.equal(await row.count(), 1);
    assert.equal(await row.first().getAttribute('data-path'), join(photos, basename(largePhoto)));
    const reason = (await row.locator('[data-testid="file-error"]').textContent()) ?? '';
    assert.ok(reason.trim().length > 10, `a reason in words: "${reason}"`);
    // The row shows one line of it; Details shows all of it, nothing cut off.
    await row.locator('[data-testid="file-details"]').click();
    const detail = page.locator('[data-testid="file-detail-reason"]');
    await detail.waitFor();
    assert.equal((await detail.textContent())?.trim(), reason.trim());
    assert.ok(
      await detail.evaluate(
        (el: unknown) =>
          (el as { scrollWidth: number; clientWidth: number }).scrollWidth <=
          (el as { clientWidth: number }).clientWidth,
      ),
      'the whole reason is visible in the details',
    );
    await screenshot('queue-file-detail');
    await page.click('[data-testid="file-detail-close"]');
    await page.selectOption('[data-testid="queue-filter"]', 'all');
    await page.locator('[data-testid="file-row"]').nth(smallPhotos.length).waitFor();
    await screenshot('queue-with-failure');

    // The fix: the same vault (same data, token and port) without the size limit.
    const port = Number(new URL(vault.url).port);
    await vault.close();
    vault = await startTestVault({ dataDir: vaultDir, port, token: vault.token });

    await page.selectOption('[data-testid="queue-filter"]', 'failed');
    await page.locator('[data-testid="retry-file"]').first().click();
    await goto('overview');
    await waitForTestValue('count-failed', 0);
    await waitForTestValue('count-backed-up', smallPhotos.length + 1);
    await waitForTestValue('sync-status', 'up_to_date', 'data-status');
    await screenshot('overview-up-to-date');
    await goto('queue');
    await page.locator('[data-testid="file-row"]').nth(smallPhotos.length).waitFor();
    await screenshot('queue');
  });

  it('pause holds new photos back and resume backs them up', async () => {
    await goto('overview');
    await page.click('[data-testid="pause-toggle"]');
    await waitForTestValue('sync-status', 'paused', 'data-status');
    assert.equal(await page.textContent('[data-testid="pause-toggle"]'), 'Resume');
    await copyFile(corpusFile(latePhoto), join(photos, basename(latePhoto)));
    await waitForTestValue('count-queued', 1);
    assert.equal(
      await page.getAttribute('[data-testid="count-backed-up"]', 'data-value'),
      String(smallPhotos.length + 1),
    );
    await screenshot('overview-paused');
    await page.click('[data-testid="pause-toggle"]');
    await waitForTestValue('count-backed-up', smallPhotos.length + 2);
    await waitForTestValue('sync-status', 'up_to_date', 'data-status');
    assert.equal(await page.textContent('[data-testid="pause-toggle"]'), 'Pause');
  });

  it('a bandwidth cap set in Settings holds a photo in upload, shown with its progress', async () => {
    const setCap = async (text: string, source: 'user' | 'default') => {
      await goto('settings');
      await page.fill('#setting-bandwidthLimit', text);
      await page
        .locator('[data-testid="setting-bandwidthLimit"] button', { hasText: 'Save' })
        .click();
      await page.waitForSelector(
        `[data-testid="setting-bandwidthLimit"] .source[data-source="${source}"]`,
      );
      assert.equal(await page.inputValue('#setting-bandwidthLimit'), text);
    };
    await setCap('128k', 'user');
    await copyFile(corpusFile(slowPhoto), join(photos, basename(slowPhoto)));
    await goto('overview');
    await waitForTestValue('count-uploading', 1);
    await page.waitForSelector('[data-testid="uploads-now"] li');
    assert.match(
      (await page.textContent('[data-testid="uploads-now"]')) ?? '',
      new RegExp(basename(slowPhoto).replace('.', '\\.')),
    );
    await waitForTestValue('sync-status', 'backing_up', 'data-status');
    // "Uploading now", the counts and the speed agree while the photo is in upload.
    await waitForTestValue('uploads-now-count', 1);
    await page.waitForFunction(
      () =>
        /^Now [1-9][\d.,]* (B|KiB|MiB)\/s/.test(
          (
            globalThis as unknown as {
              document: { querySelector(s: string): { textContent: string | null } | null };
            }
          ).document.querySelector('.chart figcaption')?.textContent ?? '',
        ),
      undefined,
      { timeout: timeoutMs, polling: 100 },
    );
    // One unit system: binary sizes with IEC symbols, as the CLI and the README write them.
    const uploading = (await page.textContent('[data-testid="uploads-now"]')) ?? '';
    assert.match(uploading, /KiB|MiB/, uploading);
    assert.doesNotMatch(uploading, /\b(kB|MB)\b/, uploading);
    // The bar moves while the cap holds the upload back.
    await page.waitForFunction(
      () =>
        Number(
          (globalThis as unknown as { document: BrowserDocument }).document
            .querySelector('[data-testid="uploads-now"] [role="progressbar"]')
            ?.getAttribute('aria-valuenow') ?? 0,
        ) >= 25,
      undefined,
      { timeout: timeoutMs, polling: 100 },
    );
    await screenshot('overview-uploading');
    await setCap('', 'default');
    await goto('overview');
    await waitForTestValue('count-backed-up', smallPhotos.length + 3);
    await waitForTestValue('count-uploading', 0);
  });

  it("shows the vault's own numbers on the storage page", async () => {
    const usage = (await (
      await fetch(`${vault.url}/api/v1/usage`, {
        headers: { Authorization: `Bearer ${vault.token}` },
      })
    ).json()) as { bytes: number; assets: number };
    const uploaded = (await readdir(photos)).length;
    assert.equal(usage.assets, uploaded);
    await goto('storage');
    await page.waitForSelector('[data-testid="storage-used"]');
    assert.equal(
      await page.getAttribute('[data-testid="storage-used"]', 'data-bytes'),
      String(usage.bytes),
    );
    assert.equal(
      await page.getAttribute('[data-testid="storage-assets"]', 'data-value'),
      String(usage.assets),
    );
    await screenshot('storage');
  });

  it('Verify now proves every file on the Overview; a damaged blob is found, repaired, and a file shows its receipt', async () => {
    const uploaded = (await readdir(photos)).length;
    await goto('overview');
    await page.click('[data-testid="verify-now"]');
    await waitForTestValue('verify-receipt', 'ok', 'data-state');
    assert.equal(
      await page.getAttribute('[data-testid="verify-receipt"]', 'data-proven'),
      String(uploaded),
    );
    assert.match(
      (await page.textContent('[data-testid="verify-receipt"]')) ?? '',
      new RegExp(`^${uploaded} of ${uploaded} files proven on the vault now`),
    );
    await screenshot('overview-verified');

    // One stored blob damaged behind the vault's back: Verify now finds it, and the daemon
    // uploads the original again by itself.
    const damaged = sha256Hex(await readFile(join(photos, basename(smallPhotos[0]!))));
    await flipByte(blobPath(vaultDir, damaged), 50);
    await page.click('[data-testid="verify-now"]');
    await waitForTestValue('verify-receipt', 'problems', 'data-state');
    await goto('activity');
    await page.waitForSelector('text=/^Repaired Canon_PowerShot_S40.jpg/', { timeout: timeoutMs });
    await goto('overview');
    await page.click('[data-testid="verify-now"]');
    await waitForTestValue('verify-receipt', 'ok', 'data-state');

    await goto('queue');
    await page.fill('[data-testid="queue-search"]', 'Canon_PowerShot_S40');
    const row =
      '[data-testid="file-row"][data-state="backed_up"][data-path$="Canon_PowerShot_S40.jpg"]';
    await page.click(`${row} [data-testid="file-receipt-open"]`, { timeout: timeoutMs });
    await page.waitForSelector('[data-testid="receipt-vault-state"][data-state="ok"]', {
      timeout: timeoutMs,
    });
    assert.equal(await page.textContent('[data-testid="receipt-sha256"]'), damaged);
    assert.match(
      (await page.textContent('[data-testid="receipt-local-paths"]')) ?? '',
      /Canon_PowerShot_S40\.jpg/,
    );
    await screenshot('queue-receipt');
  });

  it('the Queue lists only what its search box says: while typing, and after the counts change', async () => {
    await goto('overview');
    await goto('queue');
    await waitForTestValue('queue-total', (await readdir(photos)).length);
    // Every moment the page shows a row its search box excludes is written down: checked
    // after every DOM change and just after every keystroke (before the debounced fetch).
    await page.evaluate(`(() => {
      window.__shownAgainstBox = [];
      const check = (when) => {
        const box = document.querySelector('[data-testid="queue-search"]');
        const text = box ? box.value.trim() : '';
        for (const row of document.querySelectorAll('[data-testid="file-row"]')) {
          const path = row.getAttribute('data-path') || '';
          if (!path.includes(text) && window.__shownAgainstBox.length < 20)
            window.__shownAgainstBox.push(when + ': "' + text + '" lists ' + path);
        }
      };
      document.addEventListener('input', () => setTimeout(() => check('typing'), 0), true);
      new MutationObserver(() => check('change')).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
      });
    })()`);
    await page.fill('[data-testid="queue-search"]', 'Canon_PowerShot_S40');
    await waitForTestValue('queue-total', 1);
    // A new photo changes the counts; the page refetches its list (at most once a second).
    await copyFile(corpusFile(countsPhoto), join(photos, basename(countsPhoto)));
    await page.waitForSelector(
      `[data-testid="queue-filter"] option:has-text("Backed up (${
        (await readdir(photos)).length
      })")`,
      { state: 'attached', timeout: timeoutMs },
    );
    await page.waitForResponse((r) => r.url().endsWith('/api/invoke/files.list'), {
      timeout: timeoutMs,
    });
    assert.equal(await page.inputValue('[data-testid="queue-search"]'), 'Canon_PowerShot_S40');
    await waitForTestValue('queue-total', 1);
    const paths = await page
      .locator('[data-testid="file-row"]')
      .evaluateAll((rows: unknown[]) =>
        rows.map((r) =>
          (r as { getAttribute(n: string): string | null }).getAttribute('data-path'),
        ),
      );
    assert.deepEqual(
      paths.map((p) => basename(p ?? '')),
      ['Canon_PowerShot_S40.jpg'],
    );
    assert.deepEqual(await page.evaluate('window.__shownAgainstBox'), []);
  });

  it('renders settings and activity, with their states, in light and dark', async () => {
    await goto('settings');
    await page.waitForSelector('[data-testid="setting-concurrency"]');
    // A change is saved at once, says it came from the person, and survives a reload.
    await page.selectOption('#setting-concurrency', '5');
    await page.waitForSelector('[data-testid="setting-concurrency"] .source[data-source="user"]');
    await page.reload();
    await page.waitForSelector('[data-testid="setting-concurrency"] .source[data-source="user"]');
    assert.equal(await page.inputValue('#setting-concurrency'), '5');
    // Start at login and the battery / metered pauses belong to the desktop app only.
    for (const desktopOnly of ['startAtLogin', 'pauseOnBattery', 'pauseOnMetered']) {
      assert.equal(await page.locator(`[data-testid="setting-${desktopOnly}"]`).count(), 0);
    }
    assert.match(
      (await page.textContent('[data-testid="setting-bandwidthLimit"]')) ?? '',
      /4 MiB\/s/,
    );
    await screenshot('settings');
    await goto('activity');
    await page.waitForSelector('[data-testid="activity-list"] li');
    // Problems first: the oversized photo's failure heads the page, above the backups, and
    // the files backed up one after another are one line, not one line each.
    const firstItem = page.locator('[data-testid="activity-list"] li').first();
    assert.match((await firstItem.getAttribute('class')) ?? '', /level-(error|warning)/);
    assert.match(
      (await page.textContent('[data-testid="activity-problems"]')) ?? '',
      new RegExp(basename(largePhoto).replace('.', '\\.')),
    );
    const other = await page
      .locator('[data-testid="activity-other"] > li')
      .evaluateAll((items: unknown[]) =>
        items.map((li) =>
          (li as { getAttribute(n: string): string | null }).getAttribute('data-testid'),
        ),
      );
    for (let i = 1; i < other.length; i++) {
      assert.ok(
        !(other[i] === 'activity-backed-up-group' && other[i - 1] === 'activity-backed-up-group'),
        'neighbouring backups are folded into one line',
      );
    }
    const folded = page.locator('[data-testid="activity-backed-up-group"]');
    const total = (
      await folded.evaluateAll((items: unknown[]) =>
        items.map((li) =>
          Number((li as { getAttribute(n: string): string | null }).getAttribute('data-value')),
        ),
      )
    ).reduce((a, b) => a + b, 0);
    assert.ok(total >= smallPhotos.length + 3, `every backed-up file counted (${total})`);
    await screenshot('activity');
    // Export diagnostics: a bundle a person can attach to a support request, without secrets.
    const downloading = page.waitForEvent('download');
    await page.click('[data-testid="export-diagnostics"]');
    const download = await downloading;
    const saved = await download.path();
    const bundle = await readFile(saved, 'utf8');
    assert.ok(bundle.includes(basename(largePhoto)), 'the bundle includes the recent activity');
    assert.ok(!bundle.includes(vault.token), 'no vault token in diagnostics');
    assert.ok(
      !bundle.includes(new URL(uiUrl).searchParams.get('token') ?? '??'),
      'no UI token in diagnostics',
    );
    // Keyboard: the navigation is reachable with Tab and Enter.
    await page.goto(`${origin}/#/activity`);
    await page.waitForSelector('[data-testid="activity-list"] li');
    let focused: string | null = null;
    for (let i = 0; i < 12 && focused !== 'nav-queue'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(
        () =>
          (
            globalThis as unknown as {
              document: { activeElement: { getAttribute(n: string): string | null } | null };
            }
          ).document.activeElement?.getAttribute('data-testid') ?? null,
      );
    }
    assert.equal(focused, 'nav-queue', 'the Queue link is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-page="queue"]');
  });

  it("edits a folder's exclusions and removes the folder, keeping what is on the vault", async () => {
    await goto('folders');
    const card = page.locator(`[data-testid="folder-card"][data-path="${photos}"]`);
    await card.locator('button', { hasText: 'Exclusions' }).click();
    await card.locator('textarea').fill('**/*.tmp\nScreenshots/**');
    await card.locator('button', { hasText: 'Save exclusions' }).click();
    await page.waitForSelector(
      '[data-testid="folder-card"] >> text=Excluding **/*.tmp, Screenshots/**',
    );
    await screenshot('folders-with-exclusions');
    await page
      .locator(`[data-testid="folder-card"][data-path="${photos}"] button`, { hasText: 'Remove' })
      .click();
    await page
      .locator(`[data-testid="folder-card"][data-path="${photos}"] button.danger`, {
        hasText: 'Remove',
      })
      .click();
    await page.waitForSelector('text=No folders yet');
    const usage = (await (
      await fetch(`${vault.url}/api/v1/usage`, {
        headers: { Authorization: `Bearer ${vault.token}` },
      })
    ).json()) as { assets: number };
    assert.equal(
      usage.assets,
      (await readdir(photos)).length,
      'removing a folder deletes nothing from the vault',
    );
  });

  it('an empty photo needs attention on the Overview and is named in the Queue, until it is gone', async () => {
    // its own folder, after the others are done: the empty content on the vault and the
    // missing row it leaves would change their counts
    const folder = join(temp.dir, 'Empty');
    await mkdir(folder);
    const empty = join(folder, 'empty.jpg');
    await writeFile(empty, '');
    await goto('folders');
    await page.fill('[data-testid="add-folder-input"]', folder);
    await page.click('[data-testid="add-folder-submit"]');
    await page.waitForSelector(`[data-testid="folder-card"][data-path="${folder}"]`);
    await goto('overview');
    await waitForTestValue('sync-status', 'needs_attention', 'data-status');
    assert.match(
      (await page.textContent('.status-detail')) ?? '',
      /1 photo is an empty file\. See the queue\./,
    );
    await goto('queue');
    const row = page.locator(`[data-testid="file-row"][data-path="${empty}"]`);
    await row.waitFor({ timeout: timeoutMs });
    assert.equal(
      (await row.locator('[data-testid="file-problem"]').textContent())?.trim(),
      'this photo is an empty file',
    );
    await rm(empty);
    await goto('overview');
    await waitForTestValue('sync-status', 'up_to_date', 'data-status');
  });

  it('breaks no Content-Security-Policy rule and throws no error on any page', () => {
    assert.deepEqual(pageProblems, []);
  });

  it('says so plainly when the daemon is gone, keeping the last known picture', async () => {
    await goto('overview');
    await page.waitForSelector('[data-testid="sync-status"]');
    daemon.terminate();
    await daemon.waitForExit(30_000);
    await waitForTestValue('sync-status', 'disconnected', 'data-status');
    assert.match(
      (await page.textContent('.status-detail')) ?? '',
      /Cannot reach Keepsake.*Last known status: Up to date/,
    );
    await screenshot('overview-daemon-gone');
  });
});
