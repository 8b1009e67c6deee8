// Every security-relevant value of the desktop shell, as plain data and pure functions with no
// Electron import, so tests assert them under plain Node (Electron's security checklist:
// https://www.electronjs.org/docs/latest/tutorial/security). main.ts and ipc.ts only apply
// what is decided here.
//
// Invariant: the renderer is served only from the app's own `app://keepsake/` origin, runs
// sandboxed with context isolation and no Node, may navigate nowhere, open no window, get no
// permission, and only its own main frame may call the engine.

export const appScheme = 'app';
export const appHost = 'keepsake';
export const appOrigin = `${appScheme}://${appHost}`;
export const appIndexUrl = `${appOrigin}/index.html`;

/** BrowserWindow webPreferences (checklist items 2-4, 6, 7, 9, 11). */
export function windowWebPreferences(preloadPath: string) {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    enableBlinkFeatures: undefined,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
  } as const;
}

/** The renderer's Content-Security-Policy: our own scripts and styles only, nothing fetched
 * from anywhere (the engine is reached through IPC), never framed. */
export const appCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "media-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** electron-builder's electronFuses, the same values electron-builder.yml sets (a test keeps
 * the two in step). */
export const electronFuses = {
  runAsNode: false,
  enableCookieEncryption: true,
  enableNodeOptionsEnvironmentVariable: false,
  enableNodeCliInspectArguments: false,
  enableEmbeddedAsarIntegrityValidation: true,
  onlyLoadAppFromAsar: true,
  loadBrowserProcessSpecificV8Snapshot: false,
  grantFileProtocolExtraPrivileges: false,
} as const;

/** Whether a URL is the app's own page (the only thing the window may show). */
export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${appScheme}:` && u.host === appHost;
  } catch {
    return false;
  }
}

/** Navigation away from the app is refused (checklist 13); a reload of our page is fine. */
export function mayNavigate(url: string): boolean {
  return isAppUrl(url);
}

/** External links open in the person's browser only when they are plain https. */
export function mayOpenExternally(url: string): boolean {
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}

/** What the IPC handler knows about the caller (Electron's event.senderFrame). */
export interface IpcSender {
  /** The frame's URL; null when the frame is gone. */
  url: string | null;
  /** Whether the frame is its page's main frame (not an iframe). */
  isMainFrame: boolean;
  /** Whether the frame belongs to the app's own window. */
  fromAppWindow: boolean;
}

/** Checklist 17: only the main frame of our own window, showing our own page, may invoke. */
export function isTrustedSender(sender: IpcSender): boolean {
  return sender.fromAppWindow && sender.isMainFrame && sender.url !== null && isAppUrl(sender.url);
}

/** Resolves a request path of app://keepsake/... to a file name inside the renderer folder,
 * or null for anything that would leave it. */
export function rendererFileFor(requestUrl: string): string | null {
  let u: URL;
  try {
    u = new URL(requestUrl);
  } catch {
    return null;
  }
  if (!isAppUrl(requestUrl)) return null;
  let path: string;
  try {
    path = decodeURIComponent(u.pathname);
  } catch {
    return null;
  }
  if (path === '/' || path === '') return 'index.html';
  const parts = path.split('/').filter((p) => p.length > 0);
  if (parts.some((p) => p === '..' || p === '.' || p.includes('\\') || p.includes('\0')))
    return null;
  return parts.join('/');
}
