// `npm run build`: compiles main/, server/ and preload/ to dist/ with tsc, then the
// renderer with Vite (when it exists). Runs on `npm install` through `prepare`.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = new URL('..', import.meta.url).pathname;

function run(label, cmd, args) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) {
    console.error(`build: ${label} failed`);
    process.exit(res.status ?? 1);
  }
}

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
run('tsc', process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
if (existsSync(new URL('../renderer/vite.config.ts', import.meta.url))) {
  run('renderer', process.execPath, [
    // vite's package exports do not include bin/: find it beside its package.json.
    new URL('bin/vite.js', `file://${require.resolve('vite/package.json')}`).pathname,
    'build',
    '--config',
    'renderer/vite.config.ts',
  ]);
}
if (existsSync(new URL('./build-preload.mjs', import.meta.url))) {
  run('preload', process.execPath, [new URL('./build-preload.mjs', import.meta.url).pathname]);
}
