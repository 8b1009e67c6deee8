// The asset_checks table and the scrubber's place (migration 0003): what the vault found the
// last time it re-read each asset's stored bytes. SQL for it lives here; VaultIndex owns the
// connection (the Sql port, sql.ts). Invariant: problem_since is set exactly while state is
// not 'ok', and keeps the moment the problem was first found across repeated findings.
import type { BlobState } from '../../common/vault-protocol.js';
import type { Sql } from './sql.js';

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

const PROBLEM = "SELECT state FROM asset_checks WHERE sha256 = ? AND state <> 'ok'";

// problem_since of a new row comes as a parameter (not a CASE over @state), so PostgreSQL
// never has to guess a parameter's type inside an expression.
const RECORD = `INSERT INTO asset_checks (sha256, state, checked_at, problem_since)
  VALUES (@sha256, @state, @at, @problemSince)
  ON CONFLICT (sha256) DO UPDATE SET
    state = excluded.state,
    checked_at = excluded.checked_at,
    problem_since = CASE
      WHEN excluded.state = 'ok' THEN NULL
      ELSE COALESCE(asset_checks.problem_since, excluded.checked_at) END`;

const SET_COUNTER = 'UPDATE counters SET value = ? WHERE name = ?';
const ASSETS_AFTER = 'SELECT id, sha256, size FROM assets WHERE id > ? ORDER BY id LIMIT ?';

/** What the background scrubber does next (See [Note: Several scrubbers share a pass]). */
export type ScrubStep =
  /** no pass is due: the next begins `periodMs` after place.passStartedAt */
  | { kind: 'between'; place: ScrubPlace }
  /** the vault holds nothing to scrub */
  | { kind: 'empty' }
  /** these assets are this scrubber's to re-read; `started`: it began the pass */
  | { kind: 'stretch'; assets: ScrubAsset[]; place: ScrubPlace; started: boolean }
  /** the pass ran out of assets with this step: place.lastFullPassAt is now */
  | { kind: 'passDone'; place: ScrubPlace };

export interface ScrubAsset {
  id: number;
  sha256: string;
  size: number;
}

async function readPlace(sql: Sql): Promise<ScrubPlace> {
  const rows = await sql.all<{ name: string; value: number }>(
    `SELECT name, value FROM counters
     WHERE name IN ('scrub_cursor', 'scrub_pass_started_at', 'scrub_last_full_pass_at')`,
  );
  const v = (name: string) => rows.find((r) => r.name === name)?.value ?? 0;
  return {
    cursor: v('scrub_cursor'),
    passStartedAt: v('scrub_pass_started_at'),
    lastFullPassAt: v('scrub_last_full_pass_at'),
  };
}

async function writePlace(tx: Sql, place: ScrubPlace): Promise<void> {
  await tx.run(SET_COUNTER, [place.cursor, 'scrub_cursor']);
  await tx.run(SET_COUNTER, [place.passStartedAt, 'scrub_pass_started_at']);
  await tx.run(SET_COUNTER, [place.lastFullPassAt, 'scrub_last_full_pass_at']);
}

// [Note: Several scrubbers share a pass]
// Every vault node runs a background scrubber over the one index. Were each to keep its place
// in memory and save it after each asset, as one process could, two nodes would overwrite
// each other's cursor and each re-read everything. So the place is read and advanced in one
// transaction (nextScrubStep): a scrubber claims the next stretch of assets by moving the
// cursor past it, and the next claim, on any node, begins after it. Starting a pass and
// ending one are decided in that same transaction, so one pass is started once. The cursor
// moves before the stretch is read: a node that dies mid-stretch leaves at most that stretch
// unread this pass (the next pass reads it). A pass is recorded done when its cursor runs
// out, while other nodes may still be reading their last stretch.

export class HealthStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Records a check's finding and returns the problem it replaces (undefined when the last
   * finding was ok, or there was none): one transaction, so a caller that logs "became
   * damaged" or "whole again" logs each change once, whatever other finding runs beside it.
   */
  record(sha256: string, state: BlobState, at: number): Promise<BlobProblem | undefined> {
    return this.sql.transaction(async (tx) => {
      const before = await tx.get<{ state: BlobProblem }>(PROBLEM, [sha256]);
      await tx.run(RECORD, { sha256, state, at, problemSince: state === 'ok' ? null : at });
      return before?.state;
    });
  }

  async get(sha256: string): Promise<AssetCheck | undefined> {
    const r = await this.sql.get<{
      state: BlobState;
      checked_at: number;
      problem_since: number | null;
    }>('SELECT state, checked_at, problem_since FROM asset_checks WHERE sha256 = ?', [sha256]);
    return r
      ? { state: r.state, checkedAt: r.checked_at, problemSince: r.problem_since }
      : undefined;
  }

  /** 'damaged' or 'missing' when the last check found so, else undefined. */
  async problem(sha256: string): Promise<BlobProblem | undefined> {
    return (await this.sql.get<{ state: BlobProblem }>(PROBLEM, [sha256]))?.state;
  }

  /** The known problems among these hashes (one statement per chunk of 500). */
  async problems(hashes: readonly string[]): Promise<Map<string, BlobProblem>> {
    const found = new Map<string, BlobProblem>();
    for (let i = 0; i < hashes.length; i += 500) {
      const chunk = hashes.slice(i, i + 500);
      const rows = await this.sql.all<{ sha256: string; state: BlobProblem }>(
        `SELECT sha256, state FROM asset_checks
         WHERE state <> 'ok' AND sha256 IN (${chunk.map(() => '?').join(',')})`,
        chunk,
      );
      for (const r of rows) found.set(r.sha256, r.state);
    }
    return found;
  }

  async counts(): Promise<Record<BlobProblem, number>> {
    const out: Record<BlobProblem, number> = { damaged: 0, missing: 0 };
    const rows = await this.sql.all<{ state: BlobProblem; n: number }>(
      "SELECT state, COUNT(*) AS n FROM asset_checks WHERE state <> 'ok' GROUP BY state",
    );
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  /** Assets after the given id, in id order: `keepsake vault scrub`'s next stretch. */
  assetsAfter(id: number, limit: number): Promise<ScrubAsset[]> {
    return this.sql.all(ASSETS_AFTER, [id, limit]);
  }

  scrubPlace(): Promise<ScrubPlace> {
    return readPlace(this.sql);
  }

  /** Saves the three together: a reader never sees a cursor from one pass and a start from another. */
  saveScrubPlace(place: ScrubPlace): Promise<void> {
    return this.sql.transaction((tx) => writePlace(tx, place));
  }

  /**
   * The background scrubber's next step, decided and claimed in one transaction: See [Note:
   * Several scrubbers share a pass]. A pass begins `periodMs` after the last one began.
   */
  nextScrubStep(limit: number, now: number, periodMs: number): Promise<ScrubStep> {
    return this.sql.transaction(async (tx): Promise<ScrubStep> => {
      let place = await readPlace(tx);
      let started = false;
      if (place.passStartedAt <= place.lastFullPassAt) {
        if (place.passStartedAt > 0 && place.passStartedAt + periodMs > now) {
          return { kind: 'between', place };
        }
        if ((await tx.get('SELECT 1 AS one FROM assets LIMIT 1')) === undefined) {
          return { kind: 'empty' };
        }
        place = { ...place, cursor: 0, passStartedAt: Math.max(now, place.lastFullPassAt + 1) };
        started = true;
      }
      const assets = await tx.all<ScrubAsset>(ASSETS_AFTER, [place.cursor, limit]);
      const last = assets.at(-1);
      if (last === undefined) {
        place = { ...place, cursor: 0, lastFullPassAt: Math.max(now, place.passStartedAt) };
        await writePlace(tx, place);
        return { kind: 'passDone', place };
      }
      place = { ...place, cursor: last.id };
      await writePlace(tx, place);
      return { kind: 'stretch', assets, place, started };
    });
  }
}
