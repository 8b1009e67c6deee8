// Runs after `npm install`. Electron's own install script (which downloads the Electron
// binary) is denied in package.json's allowScripts, because on machines without access to
// Electron's download host it fails and would fail `npm install` with it. We try the same
// download here and carry on without it: the headless CLI, the vault and the tests need no
// Electron; only the desktop app (`npm start`) does.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function electronInstalled() {
  try {
    const dir = require.resolve('electron/package.json').replace(/package\.json$/, '');
    return existsSync(`${dir}path.txt`);
  } catch {
    return false;
  }
}

let installScript;
try {
  installScript = require.resolve('electron/install.js');
} catch {
  installScript = undefined; // electron is a devDependency: absent in production installs
}

if (installScript && !electronInstalled() && process.env.KEEPSAKE_SKIP_ELECTRON_DOWNLOAD !== '1') {
  const res = spawnSync(process.execPath, [installScript], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 120_000,
    env: process.env,
  });
  if (res.status !== 0 || !electronInstalled()) {
    const lines = String(res.stderr ?? '').split('\n');
    const reason =
      lines.find((l) => /Error|ENOTFOUND|EAI_AGAIN|ECONNREFUSED/.test(l))?.trim() ??
      (res.error ? String(res.error) : 'no reason given');
    console.warn(
      [
        'keepsake: the Electron binary could not be downloaded, so the desktop app (`npm start`)',
        'is unavailable on this machine. Everything else works: the headless `npx keepsake ...`',
        'commands, the web UI of `keepsake daemon`, and `npm test` (Electron tests are skipped).',
        `  reason: ${reason.slice(0, 300)}`,
      ].join('\n'),
    );
  }
}
