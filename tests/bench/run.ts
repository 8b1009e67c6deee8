// `npm run bench [-- CASE ...]`: runs every case in tests/bench/cases/ (or the named ones),
// prints each measurement beside its baseline with the ratio (>1 = Keepsake is better), and
// writes everything to bench-results.json. SIZE=small runs a reduced data set.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BenchCase, type BenchCaseResult, ratio } from './harness.js';

const casesDir = new URL('./cases/', import.meta.url);
const wanted = process.argv.slice(2);
const small = process.env.SIZE === 'small';

const files = (await readdir(casesDir)).filter((f) => f.endsWith('.ts')).sort();
const cases: BenchCase[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(join(casesDir.pathname, file)).href)) as {
    benchCase: BenchCase;
  };
  if (wanted.length === 0 || wanted.includes(mod.benchCase.name)) cases.push(mod.benchCase);
}
if (cases.length === 0) {
  console.error(`no bench case matched ${wanted.join(' ')}`);
  process.exit(1);
}

const results: Record<string, BenchCaseResult & { seconds: number }> = {};
for (const benchCase of cases) {
  const workDir = await mkdtemp(
    join(process.env.BENCH_TMP ?? tmpdir(), `keepsake-bench-${benchCase.name}-`),
  );
  console.log(`\n## ${benchCase.name}: ${benchCase.description}`);
  const started = performance.now();
  try {
    const result = await benchCase.run({ workDir, small, log: (l) => console.log(`   ${l}`) });
    results[benchCase.name] = { ...result, seconds: (performance.now() - started) / 1000 };
    for (const m of result.measurements) {
      const r = ratio(m);
      console.log(
        `   ${m.label}: keepsake ${m.keepsake.toFixed(2)} ${m.unit} | ${m.baselineName} ${m.baseline.toFixed(2)} ${m.unit} | ratio ${r.toFixed(2)}${m.aim ? ` (aim ${m.aim})` : ''}`,
      );
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

const out = { at: new Date().toISOString(), small, results };
await writeFile('bench-results.json', `${JSON.stringify(out, null, 2)}\n`);
console.log('\nwrote bench-results.json');
