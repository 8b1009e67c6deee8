// The benchmark harness: every case measures Keepsake beside a baseline in the same run
// (cp, openssl, tus-js-client, ...) and reports ratios. Timings never gate a test.
export interface BenchMeasurement {
  /** e.g. "1 GiB file: MB/s" */
  label: string;
  keepsake: number;
  baseline: number;
  /** what the baseline is, e.g. "cp" */
  baselineName: string;
  unit: string;
  /** true when bigger is better (MB/s), false when smaller is (seconds, MB of RSS) */
  higherIsBetter: boolean;
  /** the aim from the issue, e.g. ">= 0.70 of baseline" */
  aim?: string;
  /** set when the baseline could not run (binary missing): no ratio is reported */
  baselineMissing?: string;
}

export interface BenchCaseResult {
  measurements: BenchMeasurement[];
  /** anything else worth keeping (sizes, counts, notes) */
  extra?: Record<string, unknown>;
}

export interface BenchContext {
  /** a scratch directory for this case, removed afterwards */
  workDir: string;
  /** SIZE=small shrinks the data so the whole bench runs in a minute (for a quick look) */
  small: boolean;
  log(line: string): void;
}

export interface BenchCase {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchCaseResult>;
  /** only run when named on the command line (e.g. the profiler), never in a plain run */
  manual?: boolean;
}

export function ratio(m: BenchMeasurement): number {
  if (m.baselineMissing !== undefined || m.baseline === 0) return Number.NaN;
  return m.higherIsBetter ? m.keepsake / m.baseline : m.baseline / m.keepsake;
}

/** Seconds `fn` takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Runs `work` over `items` with at most `parallel` at once. */
export async function runPool<T>(
  items: readonly T[],
  parallel: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}
