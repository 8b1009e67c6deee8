// Healing without a person (issue 10 section 5): content the vault reports damaged or missing
// is uploaded again from this computer's original. queueRepair() moves every safe file of that
// content back into the pipeline (transition lostOnVault) and remembers the content in
// vault_repairs; the Healer watches committed changes and says "Repaired" in Activity when one
// of those files is safe again, and audits the safe files against the vault's dedup check
// after start and then periodically (the check reports damaged and missing content as not
// present, with its state), so a scrub's finding is repaired without anyone running verify.
//
// Invariants: a file leaves a safe state here only through lostOnVault, for content the vault
// itself reported lost; nothing is ever deleted on the vault or on disk.
import { basename } from 'node:path';
import type { ActivityEvent } from '../../../common/contract.js';
import { isAbortError } from '../errors.js';
import { detached } from '../pipeline/detached.js';
import { transitions } from '../pipeline/transitions.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import type { Store } from '../store/store.js';
import type { VaultProblem } from '../store/verify-queries.js';
import type { VaultClient } from '../vault/vault-client.js';

type Activity = (event: Omit<ActivityEvent, 'id' | 'at'>) => void;

/** The word for a problem in Activity and receipts. */
export function problemWords(problem: VaultProblem): string {
  return problem === 'damaged' ? 'damaged' : 'missing';
}

/**
 * Queues every safe file holding `sha256` for upload again and records the repair. Returns
 * how many files were queued (0: no original of it on this computer is safe to send).
 */
export function queueRepair(
  store: Store,
  repair: { sha256: string; problem: VaultProblem; foundBy: 'verify' | 'check'; at: number },
  activity: Activity | null,
): number {
  const files = store.verify.safeFilesWithContent(repair.sha256);
  let queued = 0;
  let first: string | null = null;
  store.batch(() => {
    for (const f of files) {
      if (store.apply(f.id, transitions.lostOnVault()) !== null) {
        queued++;
        first ??= f.path;
      }
    }
    if (queued > 0) {
      store.verify.addRepair({
        sha256: repair.sha256,
        problem: repair.problem,
        foundAt: repair.at,
        foundBy: repair.foundBy,
      });
    }
  });
  if (queued > 0 && first !== null) {
    activity?.({
      level: 'warning',
      message: `The vault's copy of ${basename(first)} is ${problemWords(repair.problem)}: uploading it again from this computer`,
      path: first,
      code: null,
    });
  }
  return queued;
}

export interface HealerOptions {
  store: Store;
  vault: Pick<VaultClient, 'checkStates'> | null;
  clock: Clock;
  logger: Logger;
  activity: Activity;
  /** Wakes the pipeline after files were queued. */
  kick: () => void;
  /**
   * Audit of the safe files against the vault: at start when the last one (kept in the
   * store's settings) is at least this old, then this often; 0: at every start, no timer.
   * See [Note: Audit cost].
   */
  auditIntervalMs: number;
}

// [Note: Audit cost]
// The audit is the vault's dedup check of every safe content: one request per 1,000 hashes,
// and the vault stats each blob. Cheap next to a backup, but not free next to an unchanged
// re-run of 100,000 files (about a second), so it runs when due (daily by default) rather
// than at every start; a verify that finds problems queues its repairs at once.

/** Settings-table key: unix ms of the last completed audit (not a user setting). */
const lastAuditKey = 'engine.lastVaultAudit';

export type RepairRequest = Parameters<typeof queueRepair>[1];

export interface Healer {
  /** queueRepair, remembered by this healer (it says "Repaired" when a file arrives). */
  queue(repair: RepairRequest): number;
  /** Audits once now (in the background), then every auditIntervalMs. */
  start(): void;
  /** Checks every safe file's content on the vault now; queues what it lost. Never throws. */
  audit(signal?: AbortSignal): Promise<number>;
  /** No audit in flight. */
  idle(): boolean;
  close(): void;
}

export function createHealer(options: HealerOptions): Healer {
  const { store, clock, logger, activity } = options;
  const pending = new Map(store.verify.repairs().map((r) => [r.sha256, r]));
  const shutdown = new AbortController();
  let running: Promise<number> | null = null;
  let timer: TimerHandle | null = null;
  let closed = false;

  const unsubscribe = store.onCommitted((changes) => {
    if (pending.size === 0) return;
    for (const { file } of changes) {
      if (file.sha256 === null || (file.state !== 'backed_up' && file.state !== 'duplicate'))
        continue;
      const repair = pending.get(file.sha256);
      if (repair === undefined) continue;
      pending.delete(file.sha256);
      store.verify.removeRepair(file.sha256);
      activity({
        level: 'info',
        message: `Repaired ${basename(file.path)}: the vault's copy was ${problemWords(repair.problem)}; it holds the original again`,
        path: file.path,
        code: 'repaired',
      });
    }
  });

  function queue(repair: RepairRequest): number {
    const n = queueRepair(store, repair, activity);
    if (n > 0) {
      pending.set(repair.sha256, {
        sha256: repair.sha256,
        problem: repair.problem,
        foundAt: repair.at,
        foundBy: repair.foundBy,
      });
    }
    return n;
  }

  async function auditNow(signal: AbortSignal): Promise<number> {
    const vault = options.vault;
    if (vault === null) return 0;
    const content = store.verify.safeContent();
    if (content.length === 0) return 0;
    let states;
    try {
      states = await vault.checkStates(content, signal);
      store.setSetting(lastAuditKey, clock.now());
    } catch (err) {
      if (!isAbortError(err) && !signal.aborted) {
        logger.warn('could not audit the vault; trying again later', { error: String(err) });
      }
      return 0;
    }
    if (closed) return 0;
    let queued = 0;
    const at = clock.now();
    for (const [problem, set] of [
      ['damaged', states.damaged],
      ['missing', states.missing],
    ] as const) {
      for (const sha256 of set) queued += queue({ sha256, problem, foundBy: 'check', at });
    }
    if (queued > 0) options.kick();
    return queued;
  }

  function audit(signal?: AbortSignal): Promise<number> {
    if (running) return running;
    const combined = signal ? AbortSignal.any([signal, shutdown.signal]) : shutdown.signal;
    const p = auditNow(combined).finally(() => {
      if (running === p) running = null;
    });
    running = p;
    return p;
  }

  function schedule(): void {
    if (closed || options.auditIntervalMs <= 0) return;
    timer = clock.setTimeout(() => {
      timer = null;
      void detached(audit(), { store, logger, what: 'auditing the vault' }).finally(schedule);
    }, options.auditIntervalMs);
    timer.unref?.();
  }

  return {
    queue,
    start() {
      const last = store.userSettings().get(lastAuditKey);
      const due =
        options.auditIntervalMs <= 0 ||
        typeof last !== 'number' ||
        clock.now() - last >= options.auditIntervalMs;
      if (due) void audit().finally(schedule);
      else schedule();
    },
    audit,
    idle: () => running === null,
    close() {
      closed = true;
      shutdown.abort();
      if (timer !== null) clock.clearTimeout(timer);
      unsubscribe();
    },
  };
}
