// The desktop app end to end through Playwright's Electron driver: the window opens on the
// app's own page with the bridge and not Node, the tray exists, and a folder added in the
// window backs up. Electron's binary cannot be downloaded on the build machines, so where it
// is missing this suite reports itself skipped with the reason; it never fakes Electron.
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { findElectronBinary } from '../../scripts/electron-binary.mjs';
import { corpusFile, makeTempDir, repoRoot } from '../support/paths.js';

const electron = findElectronBinary();
/** The little of the DOM the page functions below use (this file compiles without DOM types). */
type BrowserDocument = {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
};

const skip = electron.path === null ? `Electron is not installed here: ${electron.reason}` : false;

const photosToBackUp = [
  'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
  'ianare-exif-samples/jpg/exif-org/canon-ixus.jpg',
];

describe('desktop app (Electron)', { skip }, () => {
  let app: ElectronApplication;
  let window: Page;
  let temp: { dir: string; cleanup: () => Promise<void> };
  let photos: string;

  before(async () => {
    temp = await makeTempDir('keepsake-electron-');
    photos = join(temp.dir, 'Pictures');
    await mkdir(photos);
    for (const rel of photosToBackUp) await copyFile(corpusFile(rel), join(photos, basename(rel)));
    // `npm start` builds and rebuilds better-sqlite3 for Electron; this suite expects that done.
    app = await _electron.launch({
      executablePath: electron.path ?? '',
      args: [repoRoot],
      env: {
        ...process.env,
        XDG_CONFIG_HOME: join(temp.dir, 'config'),
        HOME: temp.dir,
        KEEPSAKE_TEST_HOOKS: '1',
      },
    });
    window = await app.firstWindow();
  });

  after(async () => {
    await app?.close().catch(() => {});
    await temp?.cleanup();
  });

  it('opens a sandboxed window on its own page with the bridge and without Node', async () => {
    await window.waitForSelector('[data-testid="sync-status"]');
    assert.match(window.url(), /^app:\/\/keepsake\//);
    const exposed = await window.evaluate(() => ({
      bridge: typeof (window as unknown as { keepsake?: unknown }).keepsake,
      require: typeof (globalThis as { require?: unknown }).require,
      process: typeof (globalThis as { process?: unknown }).process,
    }));
    assert.deepEqual(exposed, { bridge: 'object', require: 'undefined', process: 'undefined' });
  });

  it('has a tray icon with the status as its tooltip', async () => {
    const tray = await app.evaluate(() => {
      const hooks = (globalThis as { keepsakeTestHooks?: { trayTooltip(): string | null } })
        .keepsakeTestHooks;
      return hooks?.trayTooltip() ?? null;
    });
    assert.match(tray ?? '', /^Keepsake: /);
  });

  it('backs up a folder added in the window', async () => {
    await window.click('[data-testid="nav-folders"]');
    await window.fill('[data-testid="add-folder-input"]', photos);
    await window.click('[data-testid="add-folder-submit"]');
    await window.click('[data-testid="nav-overview"]');
    await window.waitForFunction(
      (n) =>
        (globalThis as unknown as { document: BrowserDocument }).document
          .querySelector('[data-testid="count-backed-up"]')
          ?.getAttribute('data-value') === String(n),
      photosToBackUp.length,
      { timeout: 90_000 },
    );
  });
});
