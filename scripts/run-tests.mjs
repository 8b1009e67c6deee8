// `npm test`: every suite (unit, integration, e2e) under Node's own test runner, with tsx
// for TypeScript. `npm test -- unit` (or integration, e2e, or a path fragment) narrows it.
//
// better-sqlite3 is a native addon: tests need it built for this Node, while `npm start`
// may have rebuilt it for Electron. See [Note: One native build per runtime] in
// scripts/native.mjs; here we only make sure the Node build is the one in place.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureNodeBuild } from './native.mjs';

const root = new URL('..', import.meta.url).pathname;
const suites = ['unit', 'integration', 'e2e'];
const filters = process.argv.slice(2);

ensureNodeBuild();

const files = [];
for (const suite of suites) {
  const dir = join(root, 'tests', suite);
  let entries = [];
  try {
    entries = readdirSync(dir, { recursive: true });
  } catch {
    continue;
  }
  for (const entry of entries) {
    const path = join(dir, String(entry));
    if (!/\.test\.tsx?$/.test(path)) continue;
    const rel = relative(root, path);
    if (filters.length > 0 && !filters.some((f) => rel.includes(f))) continue;
    files.push(rel);
  }
}
files.sort();
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}

const concurrency = process.env.TEST_CONCURRENCY ?? '3';
const res = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=600000',
    '--test-reporter=spec',
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, KEEPSAKE_REPO_ROOT: root } },
);
process.exit(res.status ?? 1);
