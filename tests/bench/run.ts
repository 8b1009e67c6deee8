// `npm run bench [-- CASE ...]`: runs every case in tests/bench/cases/ (or the named ones),
// prints each measurement beside its baseline with the ratio (>1 = Keepsake is better), and
// writes everything to bench-results.json. SIZE=small runs a reduced data set.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BenchCase, type BenchCaseResult, type BenchMeasurement, ratio } from './harness.js';

function describe(m: BenchMeasurement): string {
  const aim = m.aim ? ` (aim ${m.aim})` : '';
  if (m.baselineMissing !== undefined) {
    return `${m.label}: keepsake ${m.keepsake.toFixed(2)} ${m.unit} | ${m.baselineName}: ${m.baselineMissing}${aim}`;
  }
  // A count both sides keep at 0 (errors) has no ratio: say they are equal, not "NaN".
  const r = ratio(m);
  const said = Number.isNaN(r) ? (m.keepsake === m.baseline ? 'equal' : 'none') : r.toFixed(2);
  return `${m.label}: keepsake ${m.keepsake.toFixed(2)} ${m.unit} | ${m.baselineName} ${m.baseline.toFixed(2)} ${m.unit} | ratio ${said}${aim}`;
}

function gitCommit(): string | null {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return null;
  return `${r.stdout.trim()}${dirty.stdout.trim() ? '+dirty' : ''}`;
}

const loadAtStart = loadavg();
const casesDir = new URL('./cases/', import.meta.url);
const wanted = process.argv.slice(2);
const small = process.env.SIZE === 'small';

const files = (await readdir(casesDir)).filter((f) => f.endsWith('.ts')).sort();
const cases: BenchCase[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(join(casesDir.pathname, file)).href)) as {
    benchCase: BenchCase;
  };
  const named = wanted.includes(mod.benchCase.name);
  if (named || (wanted.length === 0 && !mod.benchCase.manual)) cases.push(mod.benchCase);
}
if (cases.length === 0) {
  console.error(`no bench case matched ${wanted.join(' ')}`);
  process.exit(1);
}

const results: Record<string, BenchCaseResult & { seconds: number }> = {};
const failed: string[] = [];
for (const benchCase of cases) {
  const workDir = await mkdtemp(
    join(process.env.BENCH_TMP ?? tmpdir(), `keepsake-bench-${benchCase.name}-`),
  );
  console.log(`\n## ${benchCase.name}: ${benchCase.description}`);
  const started = performance.now();
  try {
    const result = await benchCase.run({ workDir, small, log: (l) => console.log(`   ${l}`) });
    results[benchCase.name] = { ...result, seconds: (performance.now() - started) / 1000 };
    for (const m of result.measurements) console.log(`   ${describe(m)}`);
  } catch (err) {
    // one broken case must not cost the rest of a long run: record it and go on
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.log(`   FAILED: ${message}`);
    failed.push(benchCase.name);
    results[benchCase.name] = {
      measurements: [],
      extra: { error: message },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

// every measurement again in one block, so a whole run reads as one table
console.log(
  `\n## summary (ratio > 1: Keepsake is better) at ${gitCommit() ?? '?'}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${availableParallelism()} cores`,
);
for (const [name, result] of Object.entries(results)) {
  for (const m of result.measurements) console.log(`   ${name}: ${describe(m)}`);
}

const ratios = Object.fromEntries(
  Object.entries(results).map(([name, r]) => [
    name,
    r.measurements.map((m) => ({ label: m.label, ratio: ratio(m), aim: m.aim ?? null })),
  ]),
);
const out = {
  at: new Date().toISOString(),
  small,
  // what was measured, and how busy the shared machine was (1/5/15-minute load, start and end)
  commit: gitCommit(),
  cores: availableParallelism(),
  loadAverage: { start: loadAtStart, end: loadavg() },
  ratios,
  results,
};
await writeFile('bench-results.json', `${JSON.stringify(out, null, 2)}\n`);
console.log('\nwrote bench-results.json');
if (failed.length > 0) {
  console.error(`failed cases: ${failed.join(', ')}`);
  process.exitCode = 1;
}
