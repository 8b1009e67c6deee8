// Groups told to the vault (issue 11 section 1): after files of a watched folder are read or
// made safe, the folder's groups are decided again (metadata/grouping.ts, pure) and each group
// whose members are all safe on the vault, and that differs from what this device last
// declared, is sent (POST /api/v1/groups, 500 a request). It never moves a file's state and
// never holds an upload up.
//
// Invariant: groups_sent says what the vault stored, never more (written after its answer),
// so a restart declares exactly what changed since, and declaring is idempotent on the vault.
//
// [Note: Group pump]
// - Work comes from the metadata pump (a file read: its facts are known) and the store's
//   committed transitions (a file made safe), per folder: only folders that changed are
//   decided again. At start every folder is, once.
// - A pass reads the folder's rows (two columns of facts, no JSON) and decides in memory: a
//   100,000-file folder costs tens of milliseconds. Passes wait at least delayMs after the
//   first change, and ten times as long as the last pass took, so deciding stays under a
//   tenth of the main thread however large the folder.
// - A group waits until every member is backed up or a duplicate (the vault must hold each
//   one). A member that is not safe yet will be, and its transition brings the folder back.
// - The vault failing as a whole is retried with the shared backoff; a declaration refused
//   alone (not_held, refused, or conflict: another device declared a group of those
//   contents) is logged and not sent again this run.
import { setMaxListeners } from 'node:events';
import type { GroupMember } from '../../../common/vault-protocol.js';
import { isAbortError, KeepsakeError } from '../errors.js';
import { decideGroups, type GroupingFile, type GroupingKind } from '../metadata/grouping.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import type { GroupCandidateRow } from '../store/group-queries.js';
import type { Store } from '../store/store.js';
import type { VaultClient } from '../vault/vault-client.js';
import { classifyByExtension } from '../watch/media-types.js';
import { backoffDelay, defaultBackoff } from './backoff.js';
import { detached } from './detached.js';
import { safeStates } from './transitions.js';

export interface GroupPumpOptions {
  store: Store;
  vault: VaultClient;
  clock: Clock;
  logger: Logger;
  /** Do not send (paused). Read on each pass. */
  sendingAllowed: () => boolean;
  /** Shortest wait from a change to the pass that looks at it (ms; default 1000). */
  delayMs?: number;
  events: { pauseRequired(reason: 'sign_in_needed', message: string): void };
}

export interface GroupPump {
  /** Files of this folder changed (read, made safe); undefined: look at every folder. */
  kick(folderId?: number): void;
  /** Nothing to decide or send, nothing in flight (refused declarations aside). */
  drained(): boolean;
  close(): Promise<void>;
}

interface Declaration {
  folderId: number;
  members: GroupMember[];
  /** JSON of members: what groups_sent compares */
  json: string;
}

/** What grouping compares for one row; null when the file cannot be in a group. */
function groupingFile(row: GroupCandidateRow): GroupingFile | null {
  let kind: GroupingKind | undefined;
  if (row.mediaKind === 'sidecar') kind = 'sidecar';
  else {
    const byName = classifyByExtension(row.relPath);
    if (byName?.kind === 'media') kind = byName.mediaType;
    else if (row.mime?.startsWith('image/')) kind = 'image';
    else if (row.mime?.startsWith('video/')) kind = 'video';
  }
  if (kind === undefined) return null;
  return {
    id: row.id,
    relPath: row.relPath,
    kind,
    capturedAtMs: row.capturedAtMs,
    appleContentId: row.appleContentId,
    derivedFrom: row.derivedFrom,
  };
}

/** The declarations of one folder whose members are all safe. Pure over the rows. */
export function readyDeclarations(folderId: number, rows: readonly GroupCandidateRow[]) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const files = rows.map(groupingFile).filter((f): f is GroupingFile => f !== null);
  const out: Declaration[] = [];
  for (const group of decideGroups(files)) {
    const members: GroupMember[] = [];
    const seen = new Set<string>();
    let ready = true;
    for (const m of group.members) {
      const row = byId.get(m.id);
      if (!row || row.sha256 === null || !safeStates.includes(row.state)) {
        ready = false;
        break;
      }
      // Two paths with one content (a copy) are one member.
      if (seen.has(row.sha256)) continue;
      seen.add(row.sha256);
      members.push({ sha256: row.sha256, role: m.role });
    }
    if (!ready || members.length < 2) continue;
    out.push({ folderId, members, json: JSON.stringify(members) });
  }
  return out;
}

export function createGroupPump(options: GroupPumpOptions): GroupPump {
  const { store, vault, clock, logger } = options;
  const delayMs = options.delayMs ?? 1000;
  const controller = new AbortController();
  setMaxListeners(20, controller.signal);
  const dirty = new Set<number>();
  let allDirty = true;
  /** primary sha256 -> the members JSON the vault refused this run */
  const held = new Map<string, string>();
  let timer: TimerHandle | null = null;
  let retryTimer: TimerHandle | null = null;
  let running = false;
  let closed = false;
  let failures = 0;
  let lastPassMs = 0;

  const unsubscribe = store.onCommitted((changes) => {
    for (const { file } of changes) {
      if (safeStates.includes(file.state)) kick(file.folderId);
    }
  });

  function kick(folderId?: number): void {
    if (closed) return;
    if (folderId === undefined) allDirty = true;
    else dirty.add(folderId);
    schedule();
  }

  function schedule(): void {
    if (timer !== null || running || retryTimer !== null) return;
    timer = clock.setTimeout(
      () => {
        timer = null;
        void detached(pass(), { store, logger, what: 'sending groups' });
      },
      Math.max(delayMs, lastPassMs * 10),
    );
    timer.unref?.();
  }

  async function pass(): Promise<void> {
    if (closed || running || !options.sendingAllowed()) return;
    if (!allDirty && dirty.size === 0) return;
    running = true;
    const folders = allDirty ? store.listFolders().map((f) => f.id) : [...dirty];
    allDirty = false;
    dirty.clear();
    try {
      const started = clock.now();
      const declarations: Declaration[] = [];
      const primaries = new Set<string>();
      for (const folderId of folders) {
        for (const d of readyDeclarations(folderId, store.groups.candidates(folderId))) {
          const primary = d.members[0]?.sha256;
          if (primary === undefined || primaries.has(primary)) continue;
          if (held.get(primary) === d.json || store.groups.sent(primary) === d.json) continue;
          primaries.add(primary);
          declarations.push(d);
        }
      }
      lastPassMs = clock.now() - started;
      if (declarations.length > 0 && !(await send(declarations))) {
        for (const f of folders) dirty.add(f);
      }
    } finally {
      running = false;
    }
    if (allDirty || dirty.size > 0) schedule();
  }

  /** false when the vault failed as a whole (a retry is scheduled) or the pump is closing. */
  async function send(declarations: Declaration[]): Promise<boolean> {
    let results;
    try {
      results = await vault.declareGroups(
        declarations.map((d) => ({ members: d.members })),
        controller.signal,
      );
    } catch (err) {
      if (isAbortError(err) || closed) return false;
      if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
        options.events.pauseRequired('sign_in_needed', err.message);
        return false;
      }
      failures++;
      const delay = backoffDelay(defaultBackoff, failures);
      logger.warn('sending groups failed; will retry', { error: String(err), delay });
      retryTimer = clock.setTimeout(() => {
        retryTimer = null;
        schedule();
      }, delay);
      retryTimer.unref?.();
      return false;
    }
    failures = 0;
    const at = clock.now();
    declarations.forEach((d, i) => {
      const result = results[i];
      const primary = d.members[0]?.sha256;
      if (primary === undefined) return;
      if (result?.status === 'stored') {
        // Its other members lead no group of their own on the vault any more.
        store.groups.forgetSent(d.members.slice(1).map((m) => m.sha256));
        store.groups.recordSent({
          primarySha256: primary,
          folderId: d.folderId,
          members: d.json,
          vaultId: result.id,
          at,
        });
        return;
      }
      held.set(primary, d.json);
      logger.warn('the vault did not record a group', {
        primary,
        result: result ?? 'no answer for this group',
      });
    });
    return true;
  }

  kick();
  return {
    kick,
    drained() {
      if (!options.sendingAllowed()) return true;
      return !running && timer === null && retryTimer === null && !allDirty && dirty.size === 0;
    },
    async close() {
      closed = true;
      unsubscribe();
      if (timer !== null) clock.clearTimeout(timer);
      if (retryTimer !== null) clock.clearTimeout(retryTimer);
      controller.abort();
      while (running) await clock.sleep(10);
    },
  };
}
