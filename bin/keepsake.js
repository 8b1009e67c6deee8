#!/usr/bin/env node
// The `keepsake` command. The TypeScript sources are compiled to dist/ by `npm run build`,
// which `npm install` runs through the `prepare` script.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(
    'keepsake: this copy is not built yet. Run `npm install` (or `npm run build`) first.',
  );
  process.exit(1);
}
await import(entry.href);
