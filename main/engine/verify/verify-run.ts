// One verify (issue 10 section 3): proof that what this computer backed up is still on the
// vault, byte for byte, and still what the originals hold. The vault re-hashes the stored
// bytes of every selected content (POST /api/v1/verify, 1,000 hashes a request); the
// originals are checked by identity (size, mtime, inode, device) and re-read only when it
// moved (see [Note: Originals are not read twice]). The receipt is kept in the data
// directory; content the vault lost is queued for upload again when this is the vault the
// data directory backs up to (healer.ts).
//
// [Note: Originals are not read twice]
// Every safe file was hashed once, from bytes whose identity (size, mtime, inode, device) was
// the same before and after the read (hash/file-hasher.ts). A file whose identity is still
// the same is taken to hold the same bytes, as the reconcile scan does; reading every original
// again would cost as much as the first backup. A file whose identity moved is hashed again:
// the same hash only refreshes the identity (so the next scan does not read it either); a
// different one is a changed original, reported and queued as the scan would queue it.
import type { VerifyProblem, VerifyReceipt } from '../../../common/contract.js';
import { type BlobState, MAX_VERIFY_HASHES } from '../../../common/vault-protocol.js';
import { KeepsakeError } from '../errors.js';
import type { HashResult } from '../hash/types.js';
import type { StatPath } from '../pipeline/hash-pump.js';
import { emptiedFromOf, transitions } from '../pipeline/transitions.js';
import type { Clock } from '../ports.js';
import type { Store } from '../store/store.js';
import type { VaultProblem, VerifyCandidate } from '../store/verify-queries.js';
import type { VaultClient } from '../vault/vault-client.js';
import type { RepairRequest } from './healer.js';

export interface VerifyScope {
  /** Files picked at random; null: every selected file. */
  sample: number | null;
  /** Only files under this absolute path; null: every watched folder. */
  folder: string | null;
}

export interface VerifyDeps {
  store: Store;
  vault: Pick<VaultClient, 'verify'>;
  vaultInfo: { url: string; embedded: boolean };
  statPath: StatPath;
  hashFile: (path: string, signal: AbortSignal) => Promise<HashResult>;
  clock: Pick<Clock, 'now'>;
  random?: () => number;
  /**
   * Queues content the vault lost for upload again; null when the vault verified is not the
   * one this data directory backs up to (then problems are only reported).
   */
  repair: ((request: RepairRequest) => number) | null;
  /** Progress: originals checked, then content the vault re-hashed (files and bytes). */
  onProgress?: (p: VerifyProgress) => void;
}

export interface VerifyProgress {
  phase: 'originals' | 'vault';
  done: number;
  total: number;
  /** bytes the vault re-hashed so far, and in all (phase vault) */
  bytesDone: number;
  bytesTotal: number;
}

/** What the local check found for one original. */
type LocalFinding =
  | { kind: 'unchanged' }
  | { kind: 'reread' }
  | { kind: 'gone' }
  | { kind: 'changed'; message: string }
  | { kind: 'unreadable'; message: string };

const statConcurrency = 16;
/**
 * Bytes the vault re-reads per verify request (besides at most 1,000 hashes): its answer
 * comes only once all are read, so a batch is kept to what a slow disk reads in minutes.
 */
const verifyBatchBytes = 2 * 1024 ** 3;

/** Consecutive groups of content of at most MAX_VERIFY_HASHES and about verifyBatchBytes. */
function verifyBatches(content: readonly string[], sizes: Map<string, number>): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const sha256 of content) {
    const size = sizes.get(sha256) ?? 0;
    if (
      current.length > 0 &&
      (current.length >= MAX_VERIFY_HASHES || bytes + size > verifyBatchBytes)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(sha256);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function sameIdentity(
  a: VerifyCandidate,
  b: HashResult | { size: number; mtimeMs: number; ino: number; dev: number },
): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.dev === b.dev;
}

/** `n` of `items` picked uniformly at random (partial Fisher-Yates), in their original order. */
function pick<T extends { id: number }>(items: T[], n: number, random: () => number): T[] {
  if (n >= items.length) return items;
  const a = [...items];
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n).sort((x, y) => x.id - y.id);
}

async function pool<T>(items: readonly T[], width: number, run: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

async function checkOriginal(
  deps: VerifyDeps,
  file: VerifyCandidate,
  signal: AbortSignal,
): Promise<LocalFinding> {
  let seen;
  try {
    seen = await deps.statPath(file.path);
  } catch (err) {
    return { kind: 'unreadable', message: err instanceof Error ? err.message : String(err) };
  }
  if (seen === null || seen.kind !== 'file') return { kind: 'gone' };
  if (sameIdentity(file, seen.identity)) return { kind: 'unchanged' };
  let hashed: HashResult;
  try {
    hashed = await deps.hashFile(file.path, signal);
  } catch (err) {
    signal.throwIfAborted();
    if (err instanceof KeepsakeError) {
      if (err.code === 'file_not_found') return { kind: 'gone' };
      if (err.code === 'file_changed') {
        return { kind: 'changed', message: 'The original is being changed right now.' };
      }
      return { kind: 'unreadable', message: err.message };
    }
    throw err;
  }
  const { store } = deps;
  if (hashed.sha256 === file.sha256) {
    // Same bytes under a new identity (touched, copied back): the stored hash stands for it.
    store.update(file.id, {
      size: hashed.size,
      mtimeMs: hashed.mtimeMs,
      ino: hashed.ino,
      dev: hashed.dev,
    });
    return { kind: 'reread' };
  }
  const identity = { size: hashed.size, mtimeMs: hashed.mtimeMs, ino: hashed.ino, dev: hashed.dev };
  store.apply(
    file.id,
    transitions.changedOnDisk(
      file.relPath,
      identity,
      { mime: file.mime, mediaKind: file.mediaKind },
      deps.clock.now(),
      // a safe file (verify proves only those) whose place the vault holds
      emptiedFromOf({ ...file, locationSha256: file.sha256, emptiedFrom: null }, hashed.size),
    ),
  );
  return {
    kind: 'changed',
    message: 'The original changed since it was backed up; the new version is queued for backup.',
  };
}

function vaultProblemMessage(problem: VaultProblem, repairing: boolean): string {
  const what =
    problem === 'damaged'
      ? "The vault's copy is damaged: its bytes no longer hash to the SHA-256 it verified"
      : 'The vault no longer has this content';
  return repairing
    ? `${what}; this computer is uploading the original again.`
    : `${what}; this computer holds no original to repair it from.`;
}

export async function runVerify(
  deps: VerifyDeps,
  scope: VerifyScope,
  signal: AbortSignal,
): Promise<VerifyReceipt> {
  const { store, clock } = deps;
  const startedAt = clock.now();
  const all = store.verify.safeFiles(scope.folder);
  const files = scope.sample === null ? all : pick(all, scope.sample, deps.random ?? Math.random);

  // The originals first: a changed one leaves the safe states before any repair is queued.
  const local = new Map<number, LocalFinding>();
  const progress = deps.onProgress;
  await pool(files, statConcurrency, async (f) => {
    signal.throwIfAborted();
    local.set(f.id, await checkOriginal(deps, f, signal));
    if (progress && (local.size % 500 === 0 || local.size === files.length)) {
      progress({
        phase: 'originals',
        done: local.size,
        total: files.length,
        bytesDone: 0,
        bytesTotal: 0,
      });
    }
  });

  const sizes = new Map(files.map((f) => [f.sha256, f.size]));
  const content = [...sizes.keys()];
  const states = new Map<string, BlobState>();
  const bytesTotal = content.reduce((n, sha256) => n + (sizes.get(sha256) ?? 0), 0);
  let bytesDone = 0;
  for (const batch of verifyBatches(content, sizes)) {
    for (const [sha256, state] of await deps.vault.verify(batch, signal)) {
      states.set(sha256, state);
    }
    signal.throwIfAborted();
    bytesDone += batch.reduce((n, sha256) => n + (sizes.get(sha256) ?? 0), 0);
    progress?.({ phase: 'vault', done: states.size, total: content.length, bytesDone, bytesTotal });
  }

  const finishedAt = clock.now();
  const repairing = new Map<string, boolean>();
  if (deps.repair !== null) {
    for (const sha256 of content) {
      const state = states.get(sha256);
      if (state === 'damaged' || state === 'missing') {
        const n = deps.repair({ sha256, problem: state, foundBy: 'verify', at: finishedAt });
        repairing.set(sha256, n > 0);
      }
    }
  }

  const problems: VerifyProblem[] = [];
  const proven: number[] = [];
  let bytes = 0;
  let bytesProven = 0;
  let localReread = 0;
  let localGone = 0;
  for (const f of files) {
    bytes += f.size;
    const finding = local.get(f.id) ?? { kind: 'unchanged' };
    if (finding.kind === 'reread') localReread++;
    if (finding.kind === 'gone') localGone++;
    const state = states.get(f.sha256) ?? 'missing';
    if (state !== 'ok') {
      const isRepairing = repairing.get(f.sha256) ?? false;
      problems.push({
        path: f.path,
        sha256: f.sha256,
        problem: state,
        message: vaultProblemMessage(state, isRepairing),
        repairing: isRepairing,
      });
    } else if (finding.kind === 'changed' || finding.kind === 'unreadable') {
      if (finding.kind === 'changed') localReread++;
      problems.push({
        path: f.path,
        sha256: f.sha256,
        problem: finding.kind,
        message: finding.message,
        repairing: false,
      });
    } else {
      proven.push(f.id);
      bytesProven += f.size;
    }
  }
  store.verify.setProven(proven, finishedAt);
  const receipt = store.verify.addReceipt({
    startedAt,
    finishedAt,
    vault: deps.vaultInfo,
    sample: scope.sample,
    folder: scope.folder,
    files: files.length,
    filesProven: proven.length,
    bytes,
    bytesProven,
    localReread,
    localGone,
    problemCount: problems.length,
    problems,
  });
  store.commit();
  return { ...receipt, problems };
}
