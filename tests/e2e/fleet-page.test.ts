// The vault's fleet page end to end, as IT uses it: a real vault on loopback serving the
// freshly built page, two real computers (`keepsake backup` from source: one enrolled with a
// code, one with a token from `keepsake vault devices add`) whose own heartbeats reach the
// vault, and Debian's Chromium opening /fleet/ with the administrator token. One computer goes
// quiet while the vault's clock moves 6 days on (as tests/integration/vault-devices.test.ts
// does), and the page says "Silent" with the reason. Device tokens, no token and a forged
// cookie are refused. Every wait is on something the page shows (data-testid values), never a
// fixed sleep. Screenshots at 1280 and 420 px, light and dark, go to test-results/screenshots/
// (or KEEPSAKE_FLEET_SHOTS).
import assert from 'node:assert/strict';
import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { DeviceJson, Heartbeat } from '../../common/vault-protocol.js';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusRoot, makeTempDir } from '../support/paths.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';
import {
  buildRenderer,
  chromiumMissing,
  ensureScreenshotDir,
  launchChromium,
} from './support/browser.js';

const DAY = 86_400_000;
const timeoutMs = 60_000;
const skip = chromiumMissing();

/** The little of the DOM the page functions below use (this file compiles without DOM types). */
type BrowserDocument = {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
};

describe('fleet page in Chromium against a real vault', { skip: skip ?? false }, () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let vault: TestVault;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;
  let skew = 0;
  /** kitchen-pc's token, printed once by `keepsake vault devices add` */
  let kitchenToken = '';
  const pageProblems: string[] = [];

  const vaultCli = (args: string[]) =>
    runCli(['vault', ...args, '--data-dir', vault.dataDir], { timeoutMs: 60_000 });
  const fleetUrl = (query = '') => new URL(`/fleet/${query}`, vault.url).toString();

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

  async function screenshot(name: string): Promise<void> {
    for (const [label, width] of [
      ['1280', 1280],
      ['420', 420],
    ] as const) {
      await page.setViewportSize({ width, height: 860 });
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.screenshot({
          path: join(shots, `fleet-${name}-${label}-${scheme}.png`),
          fullPage: true,
        });
      }
    }
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.emulateMedia({ colorScheme: 'light' });
  }

  /** The device rows as the page shows them: name -> verdict, reason, files safe. */
  async function rows(): Promise<Map<string, { verdict: string; reason: string; safe: string }>> {
    const out = new Map<string, { verdict: string; reason: string; safe: string }>();
    for (const row of await page.locator('[data-testid="fleet-device"]').all()) {
      out.set((await row.getAttribute('data-name')) ?? '', {
        verdict: (await row.getAttribute('data-verdict')) ?? '',
        reason: (await row.locator('[data-testid="fleet-reason"]').innerText()).trim(),
        safe: (await row.locator('[data-testid="fleet-safe"]').getAttribute('data-value')) ?? '',
      });
    }
    return out;
  }

  before(async () => {
    temp = await makeTempDir('keepsake-fleet-e2e-');
    const rendererDir = join(temp.dir, 'renderer');
    buildRenderer(rendererDir);
    vault = await startTestVault({
      previews: false,
      scrub: false,
      now: () => Date.now() + skew,
      fleet: { behindAfterMs: 2 * DAY, silentAfterMs: 5 * DAY },
      fleetPageDir: rendererDir,
    });
    shots = process.env.KEEPSAKE_FLEET_SHOTS ?? (await ensureScreenshotDir());
    await mkdir(shots, { recursive: true });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-GB' });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) pageProblems.push(m.text());
    });
    page.on('pageerror', (err) => pageProblems.push(err.message));
  });

  after(async () => {
    await browser?.close();
    await killAllChildren();
    await vault?.close();
    await temp?.cleanup();
  });

  it('the administrator token opens the page once, for an HttpOnly SameSite=Strict cookie, and an empty vault says how to add a device', async () => {
    const res = await page.goto(fleetUrl(`?token=${encodeURIComponent(vault.token)}`));
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).search, '', 'the token is gone from the address bar');
    const [cookie] = await context.cookies(fleetUrl());
    assert.equal(cookie?.name, 'keepsake_fleet');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.ok(!cookie.value.includes(vault.token), 'the cookie is not the token');
    await waitForTestValue('fleet-state', 'empty');
    assert.match(await page.locator('main').innerText(), /keepsake vault devices add NAME/);
    await screenshot('empty');
  });

  it('a device token, no token, a forged cookie or a write are refused; the page is read-only', async () => {
    const added = await vaultCli(['devices', 'add', 'kitchen-pc', '--json']);
    assert.equal(added.code, 0, describeRun(added));
    const deviceToken = parseJsonOutput<{ token: string }>(added).token;
    kitchenToken = deviceToken;

    const plain = (path: string, init: RequestInit = {}) =>
      fetch(new URL(path, vault.url), { redirect: 'manual', ...init });
    const noCookie = await plain('/fleet/');
    assert.equal(noCookie.status, 401);
    assert.match(await noCookie.text(), /administrator token/);
    const withDeviceToken = await plain(`/fleet/?token=${encodeURIComponent(deviceToken)}`);
    assert.equal(withDeviceToken.status, 401);
    assert.match(await withDeviceToken.text(), /device tokens cannot open it/);
    assert.equal(withDeviceToken.headers.get('set-cookie'), null, 'no session for a device');
    const bearerDevice = await plain('/fleet/api/devices', {
      headers: { Authorization: `Bearer ${deviceToken}` },
    });
    assert.equal(bearerDevice.status, 401, 'a device token as a header opens nothing either');
    const forged = await plain('/fleet/api/devices', {
      headers: { Cookie: `keepsake_fleet=${deviceToken}` },
    });
    assert.equal(forged.status, 401);
    // The administrator API itself still refuses the device's token.
    assert.equal(
      (await vaultFetch({ url: vault.url, token: deviceToken }, '/api/v1/devices')).status,
      403,
    );

    // In the browser: a fresh profile opened with the device token sees the refusal.
    const stranger = await browser.newContext();
    try {
      const p = await stranger.newPage();
      const r = await p.goto(fleetUrl(`?token=${encodeURIComponent(deviceToken)}`));
      assert.equal(r?.status(), 401);
      assert.match(await p.locator('body').innerText(), /device tokens cannot open it/);
      assert.deepEqual(await stranger.cookies(fleetUrl()), []);
    } finally {
      await stranger.close();
    }

    // With the session cookie: reading works, writing does not exist.
    const [cookie] = await context.cookies(fleetUrl());
    const session = { Cookie: `keepsake_fleet=${cookie!.value}` };
    assert.equal((await plain('/fleet/api/devices', { headers: session })).status, 200);
    const write = await plain('/fleet/api/devices', { method: 'POST', headers: session });
    assert.equal(write.status, 405);
  });

  it('two computers backing up show healthy; one gone quiet for 6 days shows silent with the reason', async () => {
    // An old laptop, given away: revoked devices stay listed, greyed, at the bottom.
    const old = await vaultCli(['devices', 'add', 'old-laptop', '--json']);
    assert.equal(old.code, 0, describeRun(old));
    assert.equal((await vaultCli(['devices', 'revoke', 'old-laptop'])).code, 0);

    const kitchenPhotos = join(temp.dir, 'kitchen-photos');
    const studioPhotos = join(temp.dir, 'studio-photos');
    await cp(join(corpusRoot, 'exifr-fixtures', 'orientation'), kitchenPhotos, {
      recursive: true,
    });
    await cp(join(corpusRoot, 'osxphotos', 'media_types'), studioPhotos, { recursive: true });

    // studio: enrolled with a code, as a computer set up by IT is.
    const enrol = await vaultCli(['enroll', '--ttl', '1d', '--json']);
    assert.equal(enrol.code, 0, describeRun(enrol));
    const { code } = parseJsonOutput<{ code: string }>(enrol);
    const studioData = join(temp.dir, 'studio-data');
    const [studio, kitchenRun] = await Promise.all([
      runCli(
        ['backup', studioPhotos, '--enroll', code, '--to', vault.url, '--data-dir', studioData],
        { timeoutMs: 120_000 },
      ),
      runCli(
        [
          'backup',
          kitchenPhotos,
          '--to',
          vault.url,
          '--token',
          kitchenToken,
          '--data-dir',
          join(temp.dir, 'kitchen-data'),
        ],
        { timeoutMs: 120_000 },
      ),
    ]);
    assert.equal(studio.code, 0, describeRun(studio));
    assert.equal(kitchenRun.code, 0, describeRun(kitchenRun));
    const devices = (
      (await (await vaultFetch(vault, '/api/v1/devices')).json()) as {
        devices: DeviceJson[];
      }
    ).devices;
    const enrolled = devices.find((d) => d.revokedAt === null && d.name !== 'kitchen-pc');
    assert.ok(enrolled, JSON.stringify(devices.map((d) => d.name)));
    const renamed = await vaultCli(['devices', 'rename', enrolled.name, 'studio']);
    assert.equal(renamed.code, 0, describeRun(renamed));
    const kitchenSafe = devices.find((d) => d.name === 'kitchen-pc')!.filesSafe;
    assert.ok(kitchenSafe > 0 && enrolled.filesSafe > 0, 'both computers have files safe');

    // A third computer reports the vault full: its own heartbeat over HTTP, as the client
    // sends it (main/engine/runtime/heartbeat.ts), with its own token.
    const frontDesk = await vaultFetch(vault, '/api/v1/devices', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'front-desk' }),
    });
    assert.equal(frontDesk.status, 201);
    const frontDeskToken = ((await frontDesk.json()) as { token: string }).token;
    const beat: Heartbeat = {
      version: '0.1.0',
      os: 'win32 10.0.22631 x64',
      counts: { backed_up: 40, queued: 12, failed: 1 },
      bytesPending: 48_000_000,
      oldestUnsafeAgeMs: 2 * 3_600_000,
      lastError: 'The vault is full: ask its administrator to make room',
      paused: true,
      pausedReason: 'vault_full',
      pass: 'reconcile',
      at: Date.now(),
    };
    const reportFrontDesk = async () => {
      const sent = await vaultFetch(
        { url: vault.url, token: frontDeskToken },
        '/api/v1/heartbeat',
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(beat),
        },
      );
      assert.equal(sent.status, 204);
    };
    await reportFrontDesk();

    await page.getByRole('button', { name: 'Refresh' }).click();
    await waitForTestValue('fleet-state', 'ready');
    await waitForTestValue('fleet-count-healthy', 2);
    let shown = await rows();
    assert.equal(shown.get('studio')?.verdict, 'healthy');
    assert.equal(shown.get('kitchen-pc')?.verdict, 'healthy');
    assert.equal(shown.get('kitchen-pc')?.safe, String(kitchenSafe));
    assert.equal(shown.get('studio')?.safe, String(enrolled.filesSafe));
    assert.equal(shown.get('old-laptop')?.reason, 'revoked');
    assert.equal(shown.get('front-desk')?.verdict, 'failing');
    assert.equal(shown.get('front-desk')?.reason, 'paused: the vault is full');
    const problems = page
      .locator('[data-testid="fleet-device"][data-name="front-desk"]')
      .locator('[data-testid="fleet-problems"]');
    assert.match(await problems.innerText(), /The vault is full: ask its administrator/);
    assert.match(await problems.innerText(), /1 file failed/);
    await screenshot('healthy');

    // Six days later on the vault's clock, only the studio reports in (a real backup run that
    // needs no flag: the enrolment was remembered).
    skew = 6 * DAY;
    const again = await runCli(['backup', studioPhotos, '--data-dir', studioData], {
      timeoutMs: 120_000,
    });
    assert.equal(again.code, 0, describeRun(again));
    await reportFrontDesk();
    await page.getByRole('button', { name: 'Refresh' }).click();
    await waitForTestValue('fleet-count-silent', 1);
    shown = await rows();
    assert.equal(shown.get('kitchen-pc')?.verdict, 'silent');
    assert.match(shown.get('kitchen-pc')?.reason ?? '', /no heartbeat for 6 days/);
    assert.equal(shown.get('studio')?.verdict, 'healthy');
    const kitchenRow = page.locator('[data-testid="fleet-device"][data-name="kitchen-pc"]');
    assert.deepEqual(
      await Promise.all(
        (await page.locator('[data-testid="fleet-device"]').all()).map((r) =>
          r.getAttribute('data-name'),
        ),
      ),
      ['front-desk', 'kitchen-pc', 'studio', 'old-laptop'],
      'the devices that need IT first, revoked ones last',
    );
    assert.match(
      await kitchenRow.locator('[data-testid="fleet-verdict"]').innerText(),
      /Silent/,
      'the verdict in words, not colour alone',
    );
    await screenshot('silent');
  });

  it('a vault that stops answering keeps the last list on screen beside the error', async () => {
    await vault.close();
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByRole('alert').waitFor({ timeout: timeoutMs });
    assert.match(await page.getByRole('alert').innerText(), /Cannot reach the vault/);
    assert.equal(await page.locator('[data-testid="fleet-device"]').count(), 4);
    await screenshot('unreachable');
    assert.deepEqual(pageProblems, [], 'no CSP violation or page error');
  });
});
