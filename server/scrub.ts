// Re-reading everything the vault stores, to find damage before anyone needs the bytes
// (issue 10 section 4): a background scrubber inside a running vault, paced by a byte-rate
// budget, and `scrubDataDir` for `keepsake vault scrub`, which re-hashes everything now.
// See [Note: Scrub pacing].
// Invariant: the scrubber never reads faster than its byte budget, and its place (cursor,
// pass start, last full pass) is kept in the index, so a pass continues across restarts and
// vault nodes sharing one index share one pass (See [Note: Several scrubbers share a pass] in
// index/health-store.ts).
//
// [Note: Scrub pacing]
// Goal: every asset re-read once per period (default 30 days) while taking at most a small
// share of the disk (default cap 20 MiB/s, about 10 % of a 200 MB/s disk). The scrubber
// reads at rate = clamp(2 x held bytes / period, 1 MiB/s, cap): twice the bare need, so a
// pass ends in about half the period and restarts or growth do not make it late; the
// 1 MiB/s floor keeps a small vault's pass short instead of trickling for a month. After a
// pass it waits until the period since the pass began is over. Pacing is a token bucket
// per chunk read (1 MiB), with at most one second of saved-up credit, so an idle spell
// never turns into a burst. A vault larger than cap x period cannot be covered in one
// period; the cap wins (the disk is the user's), and the last-full-pass metric shows it.
// Each vault node paces itself: N nodes sharing a pass read up to N times the rate together
// and end it N times sooner (their blobs are a shared store, not one node's disk).
import { setTimeout as sleep } from 'node:timers/promises';
import { AssetHealth, type BlobState } from './asset-health.js';
import { openBlobStore } from './blobs/open-blob-store.js';
import type { VaultIndex } from './index/vault-index.js';
import { silentVaultLogger, type VaultLogger } from './logger.js';
import { VaultMetrics } from './metrics.js';
import { withStoppedVault } from './stopped-vault.js';

export const DEFAULT_SCRUB_PERIOD_MS = 30 * 24 * 60 * 60 * 1000;
export const DEFAULT_SCRUB_MAX_BYTES_PER_SECOND = 20 * 1024 * 1024;
/** A vault just started has better things to do (the backup that started it, say). */
export const DEFAULT_SCRUB_START_DELAY_MS = 5 * 60 * 1000;
const MIN_BYTES_PER_SECOND = 1024 * 1024;
const BATCH = 100;
/**
 * Assets a background scrubber claims at once: what a node that dies mid-stretch leaves
 * unread until the next pass (See [Note: Several scrubbers share a pass] in health-store.ts).
 */
const STRETCH = 16;
/** Longest single sleep: timers cap near 24.8 days, and the period is re-read after. */
const MAX_SLEEP_MS = 60 * 60 * 1000;
/** While the vault holds nothing, look again this often. */
const EMPTY_RECHECK_MS = 10 * 60 * 1000;

export interface ScrubOptions {
  /** every asset re-read once per this many ms; default 30 days */
  periodMs?: number;
  /** the byte-rate cap, bytes/s; default 20 MiB/s */
  maxBytesPerSecond?: number;
  /** wait this long after the vault starts; default 5 minutes */
  startDelayMs?: number;
}

/** The scrubber's byte rate for a vault holding `heldBytes` (See [Note: Scrub pacing]). */
export function scrubRate(heldBytes: number, periodMs: number, maxBytesPerSecond: number): number {
  const need = (2 * heldBytes) / (periodMs / 1000);
  return Math.min(maxBytesPerSecond, Math.max(MIN_BYTES_PER_SECOND, need));
}

/** A token bucket over bytes with at most one second of credit. */
export class BytePacer {
  private due: number;

  constructor(
    private bytesPerSecond: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.due = clock();
  }

  setRate(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  /** How long to wait (ms) after taking `bytes`, so the average stays at the rate. */
  take(bytes: number): number {
    const now = this.clock();
    this.due = Math.max(this.due, now - 1000) + (bytes / this.bytesPerSecond) * 1000;
    return Math.max(0, this.due - now);
  }
}

export interface ScrubberDeps {
  index: VaultIndex;
  health: AssetHealth;
  metrics: VaultMetrics;
  logger: VaultLogger;
  now: () => number;
  options?: ScrubOptions;
}

export interface BackgroundScrubber {
  /** Stops the scrubber; resolves once it no longer reads. */
  stop(): Promise<void>;
}

/** Starts the background scrubber of a running vault. */
export function startScrubber(deps: ScrubberDeps): BackgroundScrubber {
  const { index, health, metrics, logger, now } = deps;
  const periodMs = deps.options?.periodMs ?? DEFAULT_SCRUB_PERIOD_MS;
  const maxRate = deps.options?.maxBytesPerSecond ?? DEFAULT_SCRUB_MAX_BYTES_PER_SECOND;
  const abort = new AbortController();
  const { signal } = abort;
  const pause = (ms: number) =>
    sleep(Math.min(ms, MAX_SLEEP_MS), undefined, { signal, ref: false });
  metrics.scrubLastFullPassAt = async () => (await index.health.scrubPlace()).lastFullPassAt;

  async function run(): Promise<void> {
    await pause(deps.options?.startDelayMs ?? DEFAULT_SCRUB_START_DELAY_MS);
    const pacer = new BytePacer(scrubRate((await index.usage()).bytes, periodMs, maxRate));
    for (;;) {
      signal.throwIfAborted();
      // Claimed in one transaction: See [Note: Several scrubbers share a pass].
      const step = await index.health.nextScrubStep(STRETCH, now(), periodMs);
      if (step.kind === 'between') {
        // The next pass begins a period after the last one began.
        await pause(step.place.passStartedAt + periodMs - now());
        continue;
      }
      if (step.kind === 'empty') {
        await pause(Math.min(EMPTY_RECHECK_MS, periodMs));
        continue;
      }
      if (step.kind === 'passDone') {
        logger.info('scrub: full pass done', {
          seconds: (step.place.lastFullPassAt - step.place.passStartedAt) / 1000,
        });
        continue;
      }
      if (step.started) logger.info('scrub: pass started', {});
      pacer.setRate(scrubRate((await index.usage()).bytes, periodMs, maxRate));
      for (const asset of step.assets) {
        // A known problem stays known until a verified upload repairs it.
        if ((await index.health.problem(asset.sha256)) === undefined) {
          await health.check(asset, 'scrub', {
            signal,
            pace: async (bytes) => {
              metrics.scrubBytes += bytes;
              const wait = pacer.take(bytes);
              if (wait > 0) await pause(wait);
            },
          });
          metrics.scrubAssets += 1;
        }
      }
    }
  }

  const running = run().catch((err: unknown) => {
    if (signal.aborted) return;
    logger.error('scrub: stopped by an error', { error: String(err) });
  });
  return {
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

export interface ScrubSummary {
  assets: number;
  bytes: number;
  ok: number;
  damaged: string[];
  missing: string[];
  seconds: number;
}

/**
 * `keepsake vault scrub`: re-hashes every asset of a vault that is not running, now, at
 * full speed (two reads at a time), records what it finds, and counts it as a full pass.
 */
export async function scrubDataDir(opts: {
  dataDir: string;
  /** the vault's --index (default `<dataDir>/vault.db`) */
  index?: string;
  /** where the vault stores its blobs, as its --blobs option (default `<dataDir>/blobs`) */
  blobs?: string;
  logger?: VaultLogger;
  onProgress?: (done: { assets: number; bytes: number; total: number }) => void;
  signal?: AbortSignal;
}): Promise<ScrubSummary> {
  const started = performance.now();
  const blobs = openBlobStore(opts.blobs, opts.dataDir);
  return withStoppedVault(
    opts,
    'it scrubs in the background (stop it to scrub now)',
    async (idx) => {
      const metrics = new VaultMetrics();
      const logger = opts.logger ?? silentVaultLogger;
      const health = new AssetHealth({ index: idx, blobs, metrics, logger, now: Date.now });
      const total = (await idx.usage()).assets;
      const summary: ScrubSummary = {
        assets: 0,
        bytes: 0,
        ok: 0,
        damaged: [],
        missing: [],
        seconds: 0,
      };
      const tally = (sha256: string, state: BlobState) => {
        if (state === 'ok') summary.ok += 1;
        else summary[state].push(sha256);
      };
      const passStartedAt = Date.now();
      let cursor = 0;
      for (;;) {
        const batch = await idx.health.assetsAfter(cursor, BATCH);
        if (batch.length === 0) break;
        let next = 0;
        const worker = async () => {
          while (next < batch.length) {
            const asset = batch[next++]!;
            const found = await health.check(
              asset,
              'scrub',
              opts.signal ? { signal: opts.signal } : {},
            );
            tally(asset.sha256, found.state);
            summary.assets += 1;
            summary.bytes += found.bytesRead;
            opts.onProgress?.({ assets: summary.assets, bytes: summary.bytes, total });
          }
        };
        await Promise.all([worker(), worker()]);
        cursor = batch.at(-1)!.id;
      }
      await idx.health.saveScrubPlace({ cursor: 0, passStartedAt, lastFullPassAt: Date.now() });
      summary.seconds = (performance.now() - started) / 1000;
      return summary;
    },
  ).finally(() => blobs.close());
}
