// Bundles preload/preload.ts into one CommonJS file, dist/preload/preload.cjs: a sandboxed
// preload cannot require sibling files, only 'electron' (and a few built-ins).
// Called by scripts/build.mjs after tsc and Vite.
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;

await build({
  entryPoints: [`${root}preload/preload.ts`],
  outfile: `${root}dist/preload/preload.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  external: ['electron'],
  logLevel: 'warning',
  legalComments: 'none',
});
