// `npm start`: builds everything, rebuilds better-sqlite3 for Electron (see [Note: One native
// build per runtime] in scripts/native.mjs) and launches the desktop app. Where there is no
// Electron binary it says so and exits non-zero before doing any work.
import { spawn, spawnSync } from 'node:child_process';
import { electronVersion, findElectronBinary } from './electron-binary.mjs';
import { ensureElectronBuild } from './native.mjs';

const root = new URL('..', import.meta.url).pathname;
const electron = findElectronBinary();
if (electron.path === null) {
  console.error(`npm start: cannot launch the desktop app: ${electron.reason}`);
  console.error('The headless web UI works without Electron: keepsake daemon --ui-port 7417');
  process.exit(1);
}

const build = spawnSync(process.execPath, [new URL('./build.mjs', import.meta.url).pathname], {
  cwd: root,
  stdio: 'inherit',
});
if (build.status !== 0) process.exit(build.status ?? 1);

if (!ensureElectronBuild(electronVersion())) {
  console.error('npm start: could not rebuild better-sqlite3 for Electron (see the output above)');
  process.exit(1);
}

const child = spawn(electron.path, [root, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
