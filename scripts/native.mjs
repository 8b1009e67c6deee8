// [Note: One native build per runtime]
// better-sqlite3 is compiled against one ABI at a time: plain Node (tests, the CLI, the
// vault) or Electron (the desktop app). npm installs the Node build. `npm start` rebuilds it
// for Electron and records that in node_modules/.keepsake-native; `npm test` and the CLI
// check the record and rebuild for Node when needed. Each switch costs one compile.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
const marker = new URL('../node_modules/.keepsake-native', import.meta.url);

export function currentNativeTarget() {
  return existsSync(marker) ? readFileSync(marker, 'utf8').trim() : 'node';
}

function loadsUnderNode() {
  const probe = spawnSync(
    process.execPath,
    ['-e', "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"],
    { cwd: root, stdio: 'pipe' },
  );
  return probe.status === 0;
}

/** Makes sure better-sqlite3 is built for this Node; rebuilds it (about two minutes) if not. */
export function ensureNodeBuild() {
  if (currentNativeTarget() === 'node' && loadsUnderNode()) return;
  console.error('better-sqlite3 is not built for this Node; rebuilding it (about two minutes)...');
  const res = spawnSync('npm', ['rebuild', 'better-sqlite3', '--allow-scripts=better-sqlite3'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (res.status !== 0 || !loadsUnderNode()) {
    console.error('could not build better-sqlite3 for Node: see the output above');
    process.exit(1);
  }
  writeFileSync(marker, 'node\n');
}

/** Rebuilds better-sqlite3 for the installed Electron (electron-builder's install-app-deps,
 * which fetches Electron's headers); returns false when that cannot be done here. */
export function ensureElectronBuild(electronVersion) {
  const target = `electron-${electronVersion}`;
  if (currentNativeTarget() === target) return true;
  const require = createRequire(import.meta.url);
  const cli = require.resolve('electron-builder/cli.js');
  const res = spawnSync(process.execPath, [cli, 'install-app-deps'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (res.status !== 0) return false;
  writeFileSync(marker, `${target}\n`);
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd] = process.argv.slice(2);
  if (cmd === 'node') ensureNodeBuild();
  else console.error('usage: node scripts/native.mjs node');
}
