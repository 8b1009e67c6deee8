// The desktop app's composition root (Electron main process): one engine, one window, a tray.
// Thin by design (DESIGN.md "Layout"): everything the person sees is the renderer, everything
// it does is the engine; this file wires them with the security decisions of ./security.ts.
//
// Lifecycle: a second launch focuses the first (single-instance lock); closing the window
// hides it and Keepsake keeps running in the tray; Quit in the tray menu closes the engine
// cleanly (uploads keep their offsets) before the process exits.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  app,
  BrowserWindow,
  ipcMain,
  Menu,
  nativeImage,
  net,
  Notification,
  powerMonitor,
  protocol,
  safeStorage,
  session,
  shell,
  Tray,
} from 'electron';
import { Readable } from 'node:stream';
import { type EngineStatus, parseMediaPath, type SettingUpdate } from '../../common/contract.js';
import type { Engine } from '../engine/api.js';
import { jsonLogger, type Logger } from '../engine/ports.js';
import { watchNetworkCost } from '../engine/power/network-cost.js';
import { createSecretStore } from '../engine/secret-store.js';
import { startHost, type Host } from '../host/host.js';
import { registerIpc } from './ipc.js';
import {
  appCsp,
  appIndexUrl,
  appScheme,
  isAppUrl,
  mayNavigate,
  mayOpenExternally,
  rendererFileFor,
  windowWebPreferences,
} from './security.js';
import { statusTooltips, trayIconPng } from './tray-icon.js';
import { type DesktopUpdater, startUpdater } from './updater.js';

protocol.registerSchemesAsPrivileged([
  {
    scheme: appScheme,
    // stream: <video> reads media/<sha>/video in ranges (Live Photos and videos play).
    privileges: {
      standard: true,
      secure: true,
      supportFetchAPI: false,
      corsEnabled: false,
      stream: true,
    },
  },
]);

let window: BrowserWindow | null = null;
let tray: Tray | null = null;
let engine: Engine | null = null;
let daemon: Host | null = null;
let updater: DesktopUpdater | null = null;
let networkCost: { stop(): void } | null = null;
let quitting = false;
let trayTooltip = '';

function showWindow(): void {
  if (!window || window.isDestroyed()) window = createWindow();
  if (window.isMinimized()) window.restore();
  window.show();
  window.focus();
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1100,
    height: 760,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: 'Keepsake',
    webPreferences: windowWebPreferences(join(app.getAppPath(), 'dist', 'preload', 'preload.cjs')),
  });
  win.once('ready-to-show', () => win.show());
  // Closing the window leaves Keepsake in the tray; only Quit ends it.
  win.on('close', (event) => {
    if (quitting) return;
    event.preventDefault();
    win.hide();
  });
  void win.loadURL(appIndexUrl);
  return win;
}

/** Serves dist/renderer under app://keepsake/ with the CSP on every response. */
function serveRenderer(): void {
  const rendererDir = join(app.getAppPath(), 'dist', 'renderer');
  protocol.handle(appScheme, async (request) => {
    const media = isAppUrl(request.url) ? parseMediaPath(new URL(request.url).pathname) : null;
    if (media !== null) return serveMedia(request, media);
    const rel = rendererFileFor(request.url);
    if (rel === null) return new Response('Not found', { status: 404 });
    const file = join(rendererDir, rel);
    if (!existsSync(file)) return new Response('Not found', { status: 404 });
    const res = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(res.headers);
    headers.set('Content-Security-Policy', appCsp);
    headers.set('X-Content-Type-Options', 'nosniff');
    return new Response(res.body, { status: res.status, headers });
  });
}

/**
 * app://keepsake/media/<sha256>/<variant>: an asset's pictures and bytes from the vault, the
 * same path the daemon's web UI serves (See [Note: Pictures travel as URLs] in
 * main/engine/library/media.ts); only this app's own renderer can reach its scheme.
 */
async function serveMedia(
  request: Request,
  media: NonNullable<ReturnType<typeof parseMediaPath>>,
): Promise<Response> {
  if (engine === null) return new Response('Keepsake is starting.', { status: 503 });
  const inm = request.headers.get('if-none-match');
  const range = request.headers.get('range');
  const answer = await engine.media.fetch(media.sha256, media.variant, {
    ...(inm !== null ? { ifNoneMatch: inm } : {}),
    ...(range !== null ? { range } : {}),
    signal: request.signal,
  });
  const headers = new Headers(answer.headers);
  headers.set('X-Content-Type-Options', 'nosniff');
  const body =
    answer.body === null
      ? null
      : Buffer.isBuffer(answer.body)
        ? new Uint8Array(answer.body)
        : (Readable.toWeb(answer.body) as ReadableStream<Uint8Array>);
  return new Response(answer.status === 304 ? null : body, { status: answer.status, headers });
}

/** Checklist items: no permissions, no navigation, no new windows, no webviews. */
function lockDownWebContents(): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) =>
    callback(false),
  );
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!mayNavigate(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!mayNavigate(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      if (mayOpenExternally(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
}

function updateTray(status: EngineStatus, api: Engine['api']): void {
  if (!tray) return;
  tray.setImage(nativeImage.createFromBuffer(trayIconPng(status.status, 32), { scaleFactor: 2 }));
  trayTooltip = statusTooltips[status.status];
  tray.setToolTip(trayTooltip);
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: 'Open Keepsake', click: showWindow },
      { type: 'separator' },
      {
        label: 'Pause for 1 hour',
        enabled: !status.paused,
        click: () => void api['uploads.pause']({ untilMs: Date.now() + 3_600_000 }),
      },
      {
        label: 'Pause until resumed',
        enabled: !status.paused,
        click: () => void api['uploads.pause']({ untilMs: null }),
      },
      { label: 'Resume', enabled: status.paused, click: () => void api['uploads.resume']({}) },
      { type: 'separator' },
      { label: 'Quit Keepsake', click: () => app.quit() },
    ]),
  );
}

/** Notifications: once when the first full backup completes, and on entering needs-attention. */
function notifier(dataDir: string) {
  const firstBackupMarker = join(dataDir, 'first-full-backup-notified');
  let previous: EngineStatus['status'] | null = null;
  return (status: EngineStatus) => {
    if (!Notification.isSupported()) return;
    if (status.status === 'up_to_date' && status.filesTotal > 0 && !existsSync(firstBackupMarker)) {
      writeFileSync(firstBackupMarker, `${new Date().toISOString()}\n`, { mode: 0o600 });
      new Notification({
        title: 'Your first backup is complete',
        body: `${status.filesSafe.toLocaleString()} files are safe on the vault.`,
      }).show();
    }
    if (status.status === 'needs_attention' && previous !== 'needs_attention') {
      const n = new Notification({
        title: 'Keepsake needs attention',
        body: `${status.counts.failed.toLocaleString()} files could not be backed up.`,
      });
      n.on('click', showWindow);
      n.show();
    }
    previous = status.status;
  };
}

function applyLoginItem(openAtLogin: boolean): void {
  if (process.platform === 'linux') return; // no login-item API on Linux; the setting is informational there
  app.setLoginItemSettings({ openAtLogin, openAsHidden: true });
}

async function start(logger: Logger): Promise<void> {
  const dataDir = app.getPath('userData');
  // The token set in Settings, encrypted by the OS keyring where there is one.
  const secrets = createSecretStore(dataDir, { safeStorage });
  logger.info('token storage', { kind: secrets.kind });

  // The same composition as `keepsake daemon` (main/host/): the vault named by
  // KEEPSAKE_VAULT_URL with the stored token, else the one set in Settings, else the
  // embedded vault under the data directory. On a first start the policy's enrolment code
  // (`vaultUrl` + `enrollmentCode`, as IT deploys it) enrols this computer with no clicks.
  const vaultUrl = process.env.KEEPSAKE_VAULT_URL;
  const token = vaultUrl ? ((await secrets.read()) ?? process.env.KEEPSAKE_TOKEN ?? null) : null;
  daemon = await startHost({
    dataDir,
    logger,
    secrets,
    vault: vaultUrl && token ? { url: vaultUrl.replace(/\/+$/, ''), token } : null,
    enrolByPolicy: true,
  });
  const running: Engine = daemon.engine;
  engine = running;
  const api = running.api;
  serveRenderer();
  lockDownWebContents();

  // Updates from the administrator's feed, installed only at the engine's safe point.
  updater = startUpdater({ engine: daemon.engine, logger, isPackaged: app.isPackaged });
  const onSettingChanged = (update: SettingUpdate) => {
    if (update.key === 'startAtLogin') applyLoginItem(update.value);
    if (update.key === 'updatesAllowed' || update.key === 'updateChannel') {
      updater?.settingsChanged();
    }
  };
  registerIpc({
    ipcMain,
    engine: running,
    getWindow: () => window,
    logger,
    onSettingChanged,
  });

  // Electron exposes no network cost: it is read from the OS (Windows' connection cost API
  // through PowerShell, NetworkManager on Linux); on macOS it stays unknown (Settings says so).
  let metered: boolean | null = null;
  const feedPower = () =>
    engine?.setPowerState({
      onBattery: powerMonitor.isOnBatteryPower(),
      metered: metered ?? false,
      meteredKnown: metered !== null,
    });
  powerMonitor.on('on-battery', feedPower);
  powerMonitor.on('on-ac', feedPower);
  feedPower();
  networkCost = watchNetworkCost({
    onMetered(value) {
      metered = value;
      feedPower();
    },
  });

  tray = new Tray(nativeImage.createFromBuffer(trayIconPng('offline', 32), { scaleFactor: 2 }));
  tray.on('click', showWindow);
  const notify = notifier(dataDir);
  running.on('status', (status) => {
    updateTray(status, api);
    notify(status);
  });
  const initial = await api['status.get']({});
  updateTray(initial, api);
  const settings = await api['settings.get']({});
  applyLoginItem(settings.startAtLogin.value);

  window = createWindow();
  if (process.env.KEEPSAKE_TEST_HOOKS === '1') {
    // For tests/e2e/electron.test.ts: what the tray shows (Electron has no API to list trays).
    (globalThis as { keepsakeTestHooks?: unknown }).keepsakeTestHooks = {
      trayTooltip: () => (tray && !tray.isDestroyed() ? trayTooltip : null),
    };
  }
}

app.on('second-instance', () => showWindow());
app.on('window-all-closed', () => {
  // Stay in the tray (every platform): only the tray's Quit ends Keepsake.
});
app.on('before-quit', (event) => {
  if (quitting || !daemon) return;
  quitting = true;
  event.preventDefault();
  updater?.stop();
  networkCost?.stop();
  const closing = daemon;
  daemon = null;
  engine = null;
  void closing.close().finally(() => app.quit());
});

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  const logger = jsonLogger((line) => process.stderr.write(`${line}\n`), 'info', {
    process: 'desktop',
  });
  app
    .whenReady()
    .then(() => start(logger))
    .catch((err: unknown) => {
      logger.error('Keepsake could not start', {
        error: err instanceof Error ? err.message : String(err),
      });
      app.exit(1);
    });
}
