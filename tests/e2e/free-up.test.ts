// Free up space from the UI (issue 15 section 2), in Debian's Chromium against `keepsake
// daemon` (embedded vault, real watcher, real corpus files, the real freedesktop trash in a
// temp $XDG_DATA_HOME): a folder opts in on the Folders page; the Storage page offers "Free up
// N on this computer", lists what will go and what is kept and why, and moves only after the
// person confirms; the freed file is "On the vault only" (the watcher and a rescan never make it
// missing); `keepsake free-up` beside the running daemon asks the daemon.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { EngineStatus, Envelope, FileRow, Folder } from '../../common/contract.js';
import {
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
  startDaemon,
  waitFor,
  type DaemonHandle,
} from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  buildRenderer,
  chromiumMissing,
  ensureScreenshotDir,
  launchChromium,
} from './support/browser.js';

const skip = chromiumMissing();
const allowedPhoto = 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg';
const otherPhoto = 'ianare-exif-samples/jpg/gps/DSCN0010.jpg';

describe('free up space from the UI', { skip: skip ?? false }, () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let allowed: string;
  let other: string;
  let dataDir: string;
  let xdg: string;
  let daemon: DaemonHandle;
  let origin: string;
  let token: string;
  let browser: Browser;
  let page: Page;

  async function invoke<T>(name: string, args: unknown): Promise<Envelope<T>> {
    const res = await fetch(`${origin}/api/invoke/${name}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(args),
    });
    return (await res.json()) as Envelope<T>;
  }
  async function fileState(path: string): Promise<string | undefined> {
    const r = await invoke<{ files: FileRow[] }>('files.list', { limit: 1000 });
    return r.ok ? r.value.files.find((f) => f.path === path)?.state : undefined;
  }
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );

  before(async () => {
    temp = await makeTempDir('keepsake-free-up-e2e-');
    allowed = join(temp.dir, 'Allowed');
    other = join(temp.dir, 'Other');
    dataDir = join(temp.dir, 'data');
    xdg = join(temp.dir, 'xdg');
    await mkdir(allowed);
    await mkdir(other);
    await copyFile(corpusFile(allowedPhoto), join(allowed, basename(allowedPhoto)));
    await copyFile(corpusFile(otherPhoto), join(other, basename(otherPhoto)));
    const rendererDir = join(temp.dir, 'renderer');
    buildRenderer(rendererDir);
    daemon = startDaemon(['--data-dir', dataDir, '--ui-port', '0'], {
      env: { KEEPSAKE_RENDERER_DIR: rendererDir, XDG_DATA_HOME: xdg },
      timeoutMs: 300_000,
    });
    const printed = await daemon.waitForOutput(
      /ui (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w%-]+)/,
      60_000,
    );
    const uiUrl = new URL(printed[1] ?? '');
    origin = uiUrl.origin;
    token = uiUrl.searchParams.get('token') ?? '';
    for (const path of [allowed, other]) {
      const added = await invoke<Folder>('folders.add', { path });
      assert.ok(added.ok, JSON.stringify(added));
    }
    await waitFor(
      async () => {
        const s = await invoke<EngineStatus>('status.get', {});
        return s.ok && s.value.filesSafe === 2;
      },
      { timeoutMs: 120_000, what: 'both photos backed up' },
    );
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 900 }, locale: 'en-GB' });
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

  it('no folder allows it by default: the Storage page says so and offers nothing', async () => {
    await page.goto(`${origin}/#/storage`);
    await page.locator('[data-testid="free-up-no-folder"]').waitFor();
    assert.equal(await page.locator('[data-testid="free-up-start"]').count(), 0);
  });

  it('a folder opts in on the Folders page', async () => {
    await page.goto(`${origin}/#/folders`);
    const box = page.locator(
      `[data-testid="folder-card"][data-path="${allowed}"] [data-testid="free-up-folder"]`,
    );
    await box.waitFor();
    assert.equal(await box.isChecked(), false);
    // A controlled box: it shows the folder's setting once the engine has it.
    await box.click();
    await waitFor(
      async () => {
        const r = await invoke<Folder[]>('folders.list', {});
        return r.ok && r.value.find((f) => f.path === allowed)?.freeUp === true;
      },
      { what: 'the folder allows freeing up space' },
    );
    await waitFor(() => box.isChecked(), { what: 'the box shows the folder allows it' });
  });

  it('Storage lists what will go and what is kept, and moves nothing before the person confirms', async () => {
    await page.goto(`${origin}/#/storage`);
    const start = page.locator('[data-testid="free-up-start"]');
    await start.waitFor();
    assert.match((await start.textContent()) ?? '', /^Free up .+ on this computer$/);
    await start.click();
    await page.locator('[data-testid="free-up-candidates"]').waitFor({ timeout: 60_000 });
    const allowedPath = join(allowed, basename(allowedPhoto));
    const otherPath = join(other, basename(otherPhoto));
    assert.equal(
      await page.locator(`[data-testid="free-up-candidates"] [data-path="${allowedPath}"]`).count(),
      1,
    );
    const kept = page.locator(`[data-testid="free-up-kept"] [data-path="${otherPath}"]`);
    assert.match((await kept.textContent()) ?? '', /has not allowed freeing up space/);
    assert.ok(await exists(allowedPath), 'nothing moved before the confirmation');
    await page.screenshot({
      path: join(await ensureScreenshotDir(), 'storage-free-up-confirm.png'),
      fullPage: true,
    });

    // `keepsake free-up` beside the running daemon asks the daemon (which holds the data dir).
    const dry = await runCli(['free-up', '--data-dir', dataDir, '--dry-run', '--json'], {
      env: { XDG_DATA_HOME: xdg },
    });
    assert.equal(dry.code, 0, describeRun(dry));
    const plan = parseJsonOutput<{ candidates: { path: string }[] }>(dry);
    assert.deepEqual(
      plan.candidates.map((c) => c.path),
      [allowedPath],
    );

    await page.locator('[data-testid="free-up-confirm-move"]').click();
    const done = page.locator('[data-testid="free-up-done"]');
    await done.waitFor({ timeout: 60_000 });
    assert.equal(await done.getAttribute('data-freed'), '1');
    assert.equal(await exists(allowedPath), false);
    assert.ok(await exists(otherPath));
    assert.equal((await readdir(join(xdg, 'Trash', 'info'))).length, 1);
  });

  it('the freed file is On the vault only, and the watcher and a rescan never make it missing', async () => {
    const allowedPath = join(allowed, basename(allowedPhoto));
    assert.equal(await fileState(allowedPath), 'vault_only');
    // A rescan of the folder (saving its rules starts one), seen through its scan time.
    const before = await invoke<Folder[]>('folders.list', {});
    assert.ok(before.ok);
    const folder = before.value.find((f) => f.path === allowed);
    assert.ok(folder);
    const rules = await invoke<Folder>('folders.setRules', {
      id: folder.id,
      include: folder.include,
      exclude: folder.exclude,
    });
    assert.ok(rules.ok);
    await waitFor(
      async () => {
        const r = await invoke<Folder[]>('folders.list', {});
        const f = r.ok ? r.value.find((x) => x.id === folder.id) : undefined;
        return f && (f.lastScanAt ?? 0) > (folder.lastScanAt ?? 0);
      },
      { timeoutMs: 60_000, what: 'a rescan of the folder' },
    );
    assert.equal(await fileState(allowedPath), 'vault_only');
    const status = await invoke<EngineStatus>('status.get', {});
    assert.ok(status.ok);
    assert.equal(status.value.counts.missing, 0);
    assert.equal(status.value.counts.vault_only, 1);

    await page.goto(`${origin}/#/folders`);
    const count = page.locator(
      `[data-testid="folder-card"][data-path="${allowed}"] [data-testid="folder-vault-only"]`,
    );
    await count.waitFor();
    assert.equal(await count.getAttribute('data-value'), '1');
  });
});
