// An organisation's policy, end to end through every way a person could change a locked value
// (issue 13 §3): `keepsake daemon` started with KEEPSAKE_POLICY_FILE; its command-line flags,
// its HTTP API and its web UI in Debian's Chromium each refuse the change with "set by your
// organisation"; a bad key is reported naming the file and the key while the rest applies;
// and a policy changed while it runs applies without a restart.
import assert from 'node:assert/strict';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Envelope, Folder, Settings } from '../../common/contract.js';
import { killAllChildren, runCli, startDaemon, type DaemonHandle } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { buildRenderer, chromiumMissing, launchChromium } from './support/browser.js';

type BrowserDocument = {
  querySelector(selector: string): {
    textContent: string | null;
    getAttribute(name: string): string | null;
    hasAttribute(name: string): boolean;
  } | null;
};

const skip = chromiumMissing();
const photo = 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg';

describe('policy locks through the CLI, the API and the UI', { skip: skip ?? false }, () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let photos: string;
  let policyFile: string;
  let daemon: DaemonHandle;
  let origin: string;
  let token: string;
  let browser: Browser;
  let page: Page;

  const writePolicy = async (policy: Record<string, unknown>) => {
    // Replaced whole, as configuration tools do.
    await writeFile(`${policyFile}.tmp`, JSON.stringify(policy));
    await rename(`${policyFile}.tmp`, policyFile);
  };

  async function invoke<T>(name: string, args: unknown): Promise<Envelope<T>> {
    const res = await fetch(`${origin}/api/invoke/${name}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(args),
    });
    return (await res.json()) as Envelope<T>;
  }

  before(async () => {
    temp = await makeTempDir('keepsake-policy-e2e-');
    photos = join(temp.dir, 'Pictures');
    await mkdir(photos);
    await copyFile(corpusFile(photo), join(photos, basename(photo)));
    policyFile = join(temp.dir, 'policy.json');
    await writePolicy({
      bandwidthLimit: '1M',
      pauseOnBattery: true,
      folders: [photos],
      concurrency: 99, // invalid: reported, and the rest applies
      locked: ['bandwidthLimit', 'pauseOnBattery', 'folders'],
    });
    const rendererDir = join(temp.dir, 'renderer');
    buildRenderer(rendererDir);
    daemon = startDaemon(['--data-dir', join(temp.dir, 'data'), '--ui-port', '0'], {
      env: { KEEPSAKE_RENDERER_DIR: rendererDir, KEEPSAKE_POLICY_FILE: policyFile },
      timeoutMs: 300_000,
    });
    const printed = await daemon.waitForOutput(
      /ui (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w%-]+)/,
      60_000,
    );
    const uiUrl = new URL(printed[1] ?? '');
    origin = uiUrl.origin;
    token = uiUrl.searchParams.get('token') ?? '';
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 860 }, locale: 'en-GB' });
    await page.goto(uiUrl.toString());
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

  it('a bad key is reported naming the file and the key, and the rest of the policy applies', async () => {
    assert.match(daemon.stderr(), new RegExp(`Policy ${policyFile}: "concurrency"`));
    const settings = await invoke<Settings>('settings.get', {});
    assert.ok(settings.ok);
    assert.deepEqual(settings.value.bandwidthLimit, {
      value: '1M',
      source: 'policy',
      locked: true,
    });
    assert.equal(settings.value.concurrency.source, 'default');
  });

  it('the command line refuses a flag that changes a locked setting (exit 2, with the reason)', async () => {
    const r = await runCli(
      ['backup', photos, '--data-dir', join(temp.dir, 'other-data'), '--bwlimit', '8M'],
      { env: { KEEPSAKE_POLICY_FILE: policyFile } },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--bwlimit: "bandwidthLimit" is set by your organisation/);
  });

  it('the API refuses locked settings and removing a required folder, as errors as data', async () => {
    const set = await invoke('settings.set', { key: 'bandwidthLimit', value: '8M' });
    assert.equal(set.ok, false);
    if (!set.ok) {
      assert.equal(set.error.code, 'setting_locked');
      assert.match(set.error.message, /set by your organisation/);
    }
    const folders = await invoke<Folder[]>('folders.list', {});
    assert.ok(folders.ok);
    const required = folders.value.find((f) => f.path === photos);
    assert.ok(required?.requiredByPolicy, 'the required folder is watched');
    const remove = await invoke('folders.remove', { id: required.id });
    assert.equal(remove.ok, false);
    if (!remove.ok) assert.equal(remove.error.code, 'setting_locked');
    const add = await invoke('folders.add', { path: temp.dir });
    assert.equal(add.ok, false);
  });

  it('the UI shows locked values as set by your organisation and cannot change them', async () => {
    await page.goto(`${origin}/#/settings`);
    await page.waitForSelector('[data-testid="setting-bandwidthLimit"] .source');
    const label = await page.textContent('[data-testid="setting-bandwidthLimit"] .source');
    assert.match(label ?? '', /Locked/);
    assert.match(label ?? '', /Set by your organisation/);
    assert.equal(await page.isDisabled('#setting-bandwidthLimit'), true);
    // (Battery and metered switches are the desktop app's: the web UI shows none.)
    // The page's own transport (its session cookie) is refused too.
    const fromPage = await page.evaluate(async () => {
      const res = await fetch('/api/invoke/settings.set', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ key: 'pauseOnBattery', value: false }),
      });
      return (await res.json()) as { ok: boolean; error?: { code: string; message: string } };
    });
    assert.equal(fromPage.ok, false);
    assert.equal(fromPage.error?.code, 'setting_locked');

    await page.goto(`${origin}/#/folders`);
    await page.waitForSelector('[data-testid="folder-required"]');
    const text = await page.textContent('[data-testid="folder-required"]');
    assert.match(text ?? '', /Required by your organisation/);
  });

  it('a policy changed while the daemon runs applies without a restart', async () => {
    await writePolicy({ bandwidthLimit: '2M', concurrency: 2, locked: ['concurrency'] });
    const deadline = Date.now() + 60_000;
    let settings: Settings | null = null;
    while (Date.now() < deadline) {
      const r = await invoke<Settings>('settings.get', {});
      if (r.ok && r.value.bandwidthLimit.value === '2M') {
        settings = r.value;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(settings, 'the new policy was applied');
    assert.deepEqual(settings.bandwidthLimit, { value: '2M', source: 'policy', locked: false });
    assert.deepEqual(settings.concurrency, { value: 2, source: 'policy', locked: true });
    assert.equal((await invoke('settings.set', { key: 'bandwidthLimit', value: '8M' })).ok, true);
    await page.goto(`${origin}/#/settings`);
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { document: BrowserDocument }).document
          .querySelector('[data-testid="setting-concurrency"] .source')
          ?.textContent?.includes('Set by your organisation') === true,
      undefined,
      { timeout: 30_000 },
    );
    assert.equal(await page.isDisabled('#setting-concurrency'), true);
    assert.equal(await page.isDisabled('#setting-bandwidthLimit'), false);
  });
});
