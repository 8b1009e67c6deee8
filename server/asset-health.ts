// Whether the vault still holds what it says it holds (issue 10 section 4). Re-reads a
// blob and hashes it with node:crypto, records what it found in the index
// (index/health-store.ts), counts it in /metrics and logs it; answers the dedup check
// with damaged and missing content set apart from present content, so a client that
// holds the original uploads it again (and BlobStore.adopt then replaces the bad blob).
// Invariant: an asset is reported present only when its blob file exists and no check
// since its last verified upload found it damaged or missing.
import { createHash } from 'node:crypto';
import type { AssetHealthJson } from '../common/vault-protocol.js';
import { BlobDamagedError, type BlobContent, type BlobStore } from './blob-store.js';
import type { BlobProblem, BlobState } from './index/health-store.js';
import type { VaultIndex } from './index/vault-index.js';
import type { VaultLogger } from './logger.js';
import type { ProblemSource, VaultMetrics } from './metrics.js';

export type { BlobState } from './index/health-store.js';

const READ_CHUNK = 1 << 20;
const STAT_CONCURRENCY = 32;

export interface InspectOptions {
  signal?: AbortSignal;
  /** Awaited after each chunk read, with its length: how a caller bounds its byte rate. */
  pace?: (bytes: number) => Promise<void>;
}

export interface Inspection {
  state: BlobState;
  /** the object that was read (null when there was none), to notice a replacement */
  version: string | null;
  bytesRead: number;
}

/**
 * Reads a blob whole (decoded, when it is stored compressed: See [Note: One way to read a
 * blob] in blob-store.ts) and says whether it still is `size` bytes hashing to `sha256`. An
 * unreadable file (EIO) or a compressed one that does not decode is damaged; a content
 * whose file is not there is missing.
 */
export async function inspectBlob(
  blobs: BlobStore,
  sha256: string,
  size: number,
  opts: InspectOptions = {},
): Promise<Inspection> {
  let fh: BlobContent | null;
  try {
    fh = await blobs.openContent(sha256);
  } catch (err) {
    if (err instanceof BlobDamagedError) {
      return { state: 'damaged', version: await blobs.currentVersion(sha256), bytesRead: 0 };
    }
    throw err;
  }
  if (fh === null) return { state: 'missing', version: null, bytesRead: 0 };
  let bytesRead = 0;
  try {
    const st = { version: fh.version };
    if (fh.size !== size) return { state: 'damaged', version: st.version, bytesRead };
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, 1)));
    while (bytesRead < size) {
      opts.signal?.throwIfAborted();
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(
          buf,
          0,
          Math.min(buf.length, size - bytesRead),
          bytesRead,
        ));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EIO' || err instanceof BlobDamagedError) {
          return { state: 'damaged', version: st.version, bytesRead };
        }
        throw err;
      }
      if (n === 0) return { state: 'damaged', version: st.version, bytesRead }; // shrank under us
      hash.update(buf.subarray(0, n));
      bytesRead += n;
      await opts.pace?.(n);
    }
    return {
      state: hash.digest('hex') === sha256 ? 'ok' : 'damaged',
      version: st.version,
      bytesRead,
    };
  } finally {
    await fh.close();
  }
}

export interface PresenceReport {
  /** held, with the blob file in place */
  present: string[];
  /** held, but the last check found the bytes wrong */
  damaged: string[];
  /** held, but the blob file is gone */
  missing: string[];
  /** held, but in the vault's trash (See [Note: What the trash answers] in trash.ts) */
  trashed: string[];
}

export interface AssetHealthDeps {
  index: VaultIndex;
  blobs: BlobStore;
  metrics: VaultMetrics;
  logger: VaultLogger;
  now: () => number;
}

export class AssetHealth {
  constructor(private readonly deps: AssetHealthDeps) {}

  /** Records what a check of an asset's stored bytes found; counts and logs a problem. */
  async found(sha256: string, state: BlobState, source: ProblemSource): Promise<void> {
    const { index, metrics, logger, now } = this.deps;
    // One store call: what it replaced is read in the same transaction as the write.
    const before = await index.health.record(sha256, state, now());
    if (state !== 'ok') {
      metrics.problemsFound[source][state] += 1;
      if (before !== state) logger.error('stored content is ' + state, { sha256, source });
    } else if (before !== undefined) {
      logger.info('stored content is whole again', { sha256, source, was: before });
    }
  }

  /** The receipt of one held asset: its last check and when it was verified on upload. */
  async receipt(asset: { sha256: string; firstUploadedAt: number }): Promise<AssetHealthJson> {
    const check = await this.deps.index.health.get(asset.sha256);
    return {
      sha256: asset.sha256,
      state: check?.state ?? 'ok',
      verifiedAt: asset.firstUploadedAt,
      checkedAt: check?.checkedAt ?? null,
      problemSince: check?.problemSince ?? null,
    };
  }

  /**
   * Re-hashes an asset's stored bytes now and records the result. A blob replaced while it
   * was read (a repair) is read again, so a stale finding never overwrites a repair; so is one
   * removed while it was read, which is then missing (an S3 object deleted between the HEAD
   * and a GET reads as ended early, not as the open file a filesystem keeps readable).
   */
  async check(
    asset: { sha256: string; size: number },
    source: Extract<ProblemSource, 'verify' | 'scrub'>,
    opts: InspectOptions = {},
  ): Promise<Inspection> {
    const { blobs } = this.deps;
    let result = await inspectBlob(blobs, asset.sha256, asset.size, opts);
    for (let attempt = 0; attempt < 2 && result.version !== null; attempt++) {
      const current = await blobs.currentVersion(asset.sha256);
      if (current === result.version) break;
      result = await inspectBlob(blobs, asset.sha256, asset.size, opts);
    }
    await this.found(asset.sha256, result.state, source);
    return result;
  }

  /**
   * Sorts held hashes into present, damaged and missing for the dedup check. Known problems
   * come from the index; every other held blob is stat'ed, and one whose file is gone is
   * recorded as missing. Hashes the vault never held appear in none of the lists.
   */
  async presence(hashes: readonly string[]): Promise<PresenceReport> {
    const { index, blobs } = this.deps;
    const held = await index.present(hashes);
    const known = await index.health.problems(held);
    const trashed = await index.trash.trashedAmong(held);
    const report: PresenceReport = { present: [], damaged: [], missing: [], trashed: [] };
    const toStat: string[] = [];
    for (const h of held) {
      if (trashed.has(h)) {
        report.trashed.push(h);
        continue;
      }
      const problem: BlobProblem | undefined = known.get(h);
      if (problem === undefined) toStat.push(h);
      else report[problem].push(h);
    }
    for (let i = 0; i < toStat.length; i += STAT_CONCURRENCY) {
      const chunk = toStat.slice(i, i + STAT_CONCURRENCY);
      const exists = await Promise.all(chunk.map((h) => blobs.has(h)));
      for (const [j, h] of chunk.entries()) {
        if (exists[j]) report.present.push(h);
        else {
          await this.found(h, 'missing', 'check');
          report.missing.push(h);
        }
      }
    }
    return report;
  }
}
