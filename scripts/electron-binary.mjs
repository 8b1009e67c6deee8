// Where the Electron binary is, or why there is none (shared by `npm start` and the Electron
// e2e tests). Electron's npm package downloads its binary in an install script, which this
// project does not run (package.json allowScripts: electron false) and which cannot reach its
// download host on the build machines; ELECTRON_OVERRIDE_DIST_PATH points at an installed one.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** @returns {{ path: string } | { path: null, reason: string }} */
export function findElectronBinary() {
  let path;
  try {
    path = require('electron');
  } catch (err) {
    return {
      path: null,
      reason:
        'the Electron binary is not installed (node_modules/electron has no dist/: its download ' +
        'is not run here). Install it with `node node_modules/electron/install.js` where its ' +
        'download host is reachable, or set ELECTRON_OVERRIDE_DIST_PATH to an Electron ' +
        `${require('electron/package.json').version} folder. (${err instanceof Error ? err.message : String(err)})`,
    };
  }
  if (typeof path !== 'string' || !existsSync(path)) {
    return { path: null, reason: `the Electron binary ${String(path)} does not exist` };
  }
  return { path };
}

export function electronVersion() {
  return require('electron/package.json').version;
}
