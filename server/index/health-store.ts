// The asset_checks table and the scrubber's place (migration 0003): what the vault found the
// last time it re-read each asset's stored bytes. SQL for it lives here; VaultIndex owns the
// connection. Invariant: problem_since is set exactly while state is not 'ok', and keeps
// the moment the problem was first found across repeated findings.
import type Database from 'better-sqlite3';
import type { BlobState } from '../../common/vault-protocol.js';

export type { BlobState } from '../../common/vault-protocol.js';
export type BlobProblem = Exclude<BlobState, 'ok'>;

export interface AssetCheck {
  state: BlobState;
  /** unix ms */
  checkedAt: number;
  problemSince: number | null;
}

/** A pass is in progress exactly when passStartedAt > lastFullPassAt. */
export interface ScrubPlace {
  /** assets.id the current pass has reached */
  cursor: number;
  /** unix ms the current (or, between passes, the last) pass began; 0 = never */
  passStartedAt: number;
  /** unix ms the last complete pass ended; 0 = never */
  lastFullPassAt: number;
}

export class HealthStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      record: db.prepare<[{ sha256: string; state: BlobState; at: number }]>(
        `INSERT INTO asset_checks (sha256, state, checked_at, problem_since)
         VALUES (@sha256, @state, @at, CASE WHEN @state = 'ok' THEN NULL ELSE @at END)
         ON CONFLICT (sha256) DO UPDATE SET
           state = excluded.state,
           checked_at = excluded.checked_at,
           problem_since = CASE
             WHEN excluded.state = 'ok' THEN NULL
             ELSE COALESCE(asset_checks.problem_since, excluded.checked_at) END`,
      ),
      get: db.prepare<
        [string],
        { state: BlobState; checked_at: number; problem_since: number | null }
      >('SELECT state, checked_at, problem_since FROM asset_checks WHERE sha256 = ?'),
      problem: db.prepare<[string], { state: BlobProblem }>(
        "SELECT state FROM asset_checks WHERE sha256 = ? AND state <> 'ok'",
      ),
      counts: db.prepare<[], { state: BlobProblem; n: number }>(
        "SELECT state, COUNT(*) AS n FROM asset_checks WHERE state <> 'ok' GROUP BY state",
      ),
      counter: db.prepare<[string], { value: number }>('SELECT value FROM counters WHERE name = ?'),
      setCounter: db.prepare<[number, string]>('UPDATE counters SET value = ? WHERE name = ?'),
      assetsAfter: db.prepare<[number, number], { id: number; sha256: string; size: number }>(
        'SELECT id, sha256, size FROM assets WHERE id > ? ORDER BY id LIMIT ?',
      ),
    };
  }

  record(sha256: string, state: BlobState, at: number): void {
    this.stmts.record.run({ sha256, state, at });
  }

  get(sha256: string): AssetCheck | undefined {
    const r = this.stmts.get.get(sha256);
    return r
      ? { state: r.state, checkedAt: r.checked_at, problemSince: r.problem_since }
      : undefined;
  }

  /** 'damaged' or 'missing' when the last check found so, else undefined. */
  problem(sha256: string): BlobProblem | undefined {
    return this.stmts.problem.get(sha256)?.state;
  }

  /** The known problems among these hashes (one statement per chunk of 500). */
  problems(hashes: readonly string[]): Map<string, BlobProblem> {
    const found = new Map<string, BlobProblem>();
    for (let i = 0; i < hashes.length; i += 500) {
      const chunk = hashes.slice(i, i + 500);
      const rows = this.db
        .prepare<string[], { sha256: string; state: BlobProblem }>(
          `SELECT sha256, state FROM asset_checks
           WHERE state <> 'ok' AND sha256 IN (${chunk.map(() => '?').join(',')})`,
        )
        .all(...chunk);
      for (const r of rows) found.set(r.sha256, r.state);
    }
    return found;
  }

  counts(): Record<BlobProblem, number> {
    const out: Record<BlobProblem, number> = { damaged: 0, missing: 0 };
    for (const r of this.stmts.counts.all()) out[r.state] = r.n;
    return out;
  }

  /** Assets after the given id, in id order: the scrubber's next stretch. */
  assetsAfter(id: number, limit: number): { id: number; sha256: string; size: number }[] {
    return this.stmts.assetsAfter.all(id, limit);
  }

  scrubPlace(): ScrubPlace {
    const v = (name: string) => this.stmts.counter.get(name)?.value ?? 0;
    return {
      cursor: v('scrub_cursor'),
      passStartedAt: v('scrub_pass_started_at'),
      lastFullPassAt: v('scrub_last_full_pass_at'),
    };
  }

  saveScrubPlace(place: ScrubPlace): void {
    this.db.transaction(() => {
      this.stmts.setCounter.run(place.cursor, 'scrub_cursor');
      this.stmts.setCounter.run(place.passStartedAt, 'scrub_pass_started_at');
      this.stmts.setCounter.run(place.lastFullPassAt, 'scrub_last_full_pass_at');
    })();
  }
}
