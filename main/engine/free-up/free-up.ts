// Free up space on this computer (issue 15 section 2): backed-up files the person asked for go
// to the system's trash and take the state vault_only. This is the ONE place Keepsake touches a
// watched folder, and only at the person's explicit request (DESIGN.md, the promise's item 5).
//
// Invariant: a file is moved only when, immediately before its move, every check of
// [Note: What may be freed up] held for it; it is moved to the system's trash (never unlinked),
// and only a file that left its place becomes vault_only. Everything else is kept, each with
// its reason in words a person understands.
//
// [Note: What may be freed up]
// 1. Its folder allowed it (folders.free_up, off by default) and freeing up is allowed at all
//    (the freeUpAllowed setting, which an organisation's policy may set false and lock).
// 2. It is safe (backed_up or duplicate), the vault records its place (device, folder, path)
//    with this content (so restore can put it back where it was), and it is not empty.
// 3. The vault re-verified its content within the last 24 hours (files.proven_at); when not,
//    the vault is asked to re-hash exactly that content now (POST /api/v1/verify), and a vault
//    that cannot be reached, or that reports the content damaged or missing, keeps the file.
// 4. Its identity (size, mtime, inode, device, ctime) is the one recorded when it was backed
//    up, and its bytes, read again now, hash to the sha256 the vault verified.
// 5. Right before the move, a last stat: size, mtime, inode and ctime still as hashed (an edit
//    in between keeps it). After the move, the path must be gone; else it was not moved.
// A name that is not valid UTF-8 is kept: the freedesktop trash records the original path as
// a URI of text, and the trash package cannot write one for it.
import { basename, sep } from 'node:path';
import type {
  FreeUpEstimate,
  FreeUpFile,
  FreeUpKept,
  FreeUpResult,
  FreeUpScope,
} from '../../../common/contract.js';
import { formatSize } from '../../../common/size-units.js';
import { MAX_VERIFY_HASHES } from '../../../common/vault-protocol.js';
import { KeepsakeError } from '../errors.js';
import type { FileIdentity, HashResult } from '../hash/types.js';
import type { StatPath } from '../pipeline/hash-pump.js';
import { safeStates, transitions, unsafeStates } from '../pipeline/transitions.js';
import type { Clock } from '../ports.js';
import { displayPath, hasRawBytes } from '../raw-path.js';
import type { FileRecord, FolderRecord, Store } from '../store/store.js';
import type { VaultClient } from '../vault/vault-client.js';

/** How recent the vault's proof of a file's content must be. */
export const provenWithinMs = 24 * 3600_000;

/** Moves one file to the system's trash (the `trash` package in production). */
export type MoveToTrash = (path: string) => Promise<void>;

export interface FreeUpDeps {
  store: Store;
  /** null: no vault configured (nothing that needs a fresh proof can be freed). */
  vault: Pick<VaultClient, 'verify'> | null;
  statPath: StatPath;
  hashFile: (path: string, signal: AbortSignal) => Promise<HashResult>;
  trash: MoveToTrash;
  clock: Pick<Clock, 'now'>;
  /** Whether freeing up is allowed at all; `lockedByPolicy`: the organisation decided. */
  allowed: () => { allowed: boolean; lockedByPolicy: boolean };
}

export const reasons = {
  folderNotAllowed: (folder: string) =>
    `its folder has not allowed freeing up space (allow it for ${folder} in Folders, or keepsake free-up --allow "${folder}")`,
  newer: (days: number) => `newer than ${days} day${days === 1 ? '' : 's'}`,
  notBackedUp: 'not backed up yet',
  placeUnknown:
    'the vault has not recorded its place yet, so restore could not put it back where it is',
  empty: 'an empty file (0 bytes): nothing to free',
  notUtf8:
    "its name is not valid UTF-8 text, which the system's trash cannot record; move it yourself if you want it gone",
  gone: 'no longer on this computer',
  notAFile: 'no longer a regular file',
  changed: 'changed since it was backed up (the new version will be backed up first)',
  changedJustNow: 'changed a moment ago, while space was being freed up',
  vaultUnreachable: (detail: string) =>
    `the vault has not confirmed it in the last 24 hours and could not be reached (${detail})`,
  noVault: 'the vault has not confirmed it in the last 24 hours and no vault is configured',
  vaultDamaged: "the vault's copy is damaged (it no longer hashes to what was backed up)",
  vaultMissing: 'the vault no longer holds this content',
  unreadable: (detail: string) => `could not be read again to check it (${detail})`,
  trashFailed: (detail: string) => `the system's trash did not take it (${detail})`,
  stillThere: "the system's trash reported success but the file is still in its place",
} as const;

/** Refused outright: the organisation (or the person's Settings) turned freeing up off. */
export function notAllowedError(lockedByPolicy: boolean): KeepsakeError {
  return lockedByPolicy
    ? new KeepsakeError(
        'setting_locked',
        'Freeing up space on this computer is turned off by your organisation (set by your organisation).',
      )
    : new KeepsakeError(
        'setting_locked',
        'Freeing up space is turned off in Settings (freeUpAllowed).',
      );
}

/** A watched folder, or the path itself and what is under it. */
function inScope(file: FileRecord, folder: string | null): boolean {
  if (folder === null) return true;
  const prefix = folder.endsWith(sep) ? folder : folder + sep;
  return file.path === folder || file.path.startsWith(prefix);
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return (
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ino === b.ino &&
    a.dev === b.dev &&
    (!a.ctimeMs || !b.ctimeMs || a.ctimeMs === b.ctimeMs)
  );
}

function message(err: unknown): string {
  if (err instanceof KeepsakeError) return err.message;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `its folder is read-only or not ours to change: ${code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** A file that passed the checks that need no reading (1, 2). */
interface Selected {
  file: FileRecord;
  folder: FolderRecord;
  sha256: string;
}

export interface FreeUp {
  estimate(): FreeUpEstimate;
  plan(scope: FreeUpScope, signal: AbortSignal): Promise<FreeUpResult>;
  run(
    scope: FreeUpScope & { only?: readonly string[] },
    signal: AbortSignal,
  ): Promise<FreeUpResult>;
}

export function createFreeUp(deps: FreeUpDeps): FreeUp {
  const { store, clock } = deps;
  /**
   * What a plan hashed, by file id, so the run the person confirms next does not read every
   * original a second time: kept only while the identity it was hashed at still holds.
   */
  const hashedAt = new Map<number, { identity: FileIdentity; sha256: string; at: number }>();
  const hashReuseMs = 30 * 60_000;

  /** Checks 1 and 2 over the scope: the files worth reading, and the ones kept already. */
  function select(scope: FreeUpScope): { selected: Selected[]; kept: FreeUpKept[] } {
    const folders = new Map(store.listFolders().map((f) => [f.id, f]));
    const within = scope.folder ?? null;
    const cutoff =
      scope.olderThanDays !== undefined ? clock.now() - scope.olderThanDays * 86_400_000 : null;
    const selected: Selected[] = [];
    const kept: FreeUpKept[] = [];
    for (const file of store.everyFile()) {
      if (!inScope(file, within)) continue;
      const keep = (reason: string) => kept.push({ path: file.path, reason });
      if (unsafeStates.includes(file.state)) {
        if (file.mediaKind === 'media') keep(reasons.notBackedUp);
        continue;
      }
      if (!safeStates.includes(file.state) || file.sha256 === null) continue;
      const folder = folders.get(file.folderId);
      if (folder === undefined) continue;
      if (!folder.freeUp) keep(reasons.folderNotAllowed(folder.path));
      else if (cutoff !== null && file.mtimeMs > cutoff) keep(reasons.newer(scope.olderThanDays!));
      else if (file.size === 0) keep(reasons.empty);
      else if (file.locationSha256 !== file.sha256) keep(reasons.placeUnknown);
      else if (hasRawBytes(file.path)) keep(reasons.notUtf8);
      else selected.push({ file, folder, sha256: file.sha256 });
    }
    return { selected, kept };
  }

  /** Check 3: content the vault proved within 24 hours, asking it now for the rest. */
  async function proveOnVault(
    selected: readonly Selected[],
    kept: FreeUpKept[],
    signal: AbortSignal,
  ): Promise<Selected[]> {
    const now = clock.now();
    const stale = selected.filter(
      (s) => (store.verify.provenAt(s.file.id) ?? 0) < now - provenWithinMs,
    );
    if (stale.length === 0) return [...selected];
    const content = [...new Set(stale.map((s) => s.sha256))];
    const states = new Map<string, string>();
    let unreachable: string | null = deps.vault === null ? reasons.noVault : null;
    if (deps.vault !== null) {
      try {
        for (let i = 0; i < content.length; i += MAX_VERIFY_HASHES) {
          const batch = content.slice(i, i + MAX_VERIFY_HASHES);
          for (const [sha256, state] of await deps.vault.verify(batch, signal)) {
            states.set(sha256, state);
          }
        }
      } catch (err) {
        signal.throwIfAborted();
        unreachable = reasons.vaultUnreachable(message(err));
      }
    }
    const at = clock.now();
    const proven: number[] = [];
    const staleIds = new Set(stale.map((s) => s.file.id));
    const out: Selected[] = [];
    for (const s of selected) {
      if (!staleIds.has(s.file.id)) {
        out.push(s);
        continue;
      }
      const state = states.get(s.sha256);
      if (state === 'ok') {
        proven.push(s.file.id);
        out.push(s);
      } else if (state === 'damaged') {
        kept.push({ path: s.file.path, reason: reasons.vaultDamaged });
      } else if (state === 'missing') {
        kept.push({ path: s.file.path, reason: reasons.vaultMissing });
      } else {
        kept.push({ path: s.file.path, reason: unreachable ?? reasons.vaultMissing });
      }
    }
    // The vault re-hashed it now and its original is checked next: proof like a verify's.
    if (proven.length > 0) {
      store.verify.setProven(proven, at);
      store.commit();
    }
    return out;
  }

  /** Check 4: unchanged since the backup, and its bytes hash to what the vault holds. */
  async function checkOriginal(
    s: Selected,
    signal: AbortSignal,
  ): Promise<{ ok: true; identity: FileIdentity } | { ok: false; reason: string }> {
    let seen;
    try {
      seen = await deps.statPath(s.file.path);
    } catch (err) {
      return { ok: false, reason: reasons.unreadable(message(err)) };
    }
    if (seen === null) return { ok: false, reason: reasons.gone };
    if (seen.kind !== 'file') return { ok: false, reason: reasons.notAFile };
    if (!sameIdentity(s.file, seen.identity)) return { ok: false, reason: reasons.changed };
    const cached = hashedAt.get(s.file.id);
    if (
      cached !== undefined &&
      cached.sha256 === s.sha256 &&
      clock.now() - cached.at < hashReuseMs &&
      sameIdentity(cached.identity, seen.identity)
    ) {
      return { ok: true, identity: cached.identity };
    }
    let hashed: HashResult;
    try {
      hashed = await deps.hashFile(s.file.path, signal);
    } catch (err) {
      signal.throwIfAborted();
      if (err instanceof KeepsakeError && err.code === 'file_changed') {
        return { ok: false, reason: reasons.changedJustNow };
      }
      if (err instanceof KeepsakeError && err.code === 'file_not_found') {
        return { ok: false, reason: reasons.gone };
      }
      return { ok: false, reason: reasons.unreadable(message(err)) };
    }
    if (hashed.sha256 !== s.sha256 || !sameIdentity(s.file, hashed)) {
      return { ok: false, reason: reasons.changed };
    }
    hashedAt.set(s.file.id, { identity: hashed, sha256: hashed.sha256, at: clock.now() });
    return { ok: true, identity: hashed };
  }

  /** Checks 1-4 over a scope; `act` is told each file that passed, in order. */
  async function check(
    scope: FreeUpScope,
    signal: AbortSignal,
    only: ReadonlySet<string> | null,
    act: ((s: Selected, identity: FileIdentity) => Promise<string | null>) | null,
  ): Promise<FreeUpResult> {
    const { allowed, lockedByPolicy } = deps.allowed();
    if (!allowed) throw notAllowedError(lockedByPolicy);
    const { selected: all, kept } = select(scope);
    const selected = only === null ? all : all.filter((s) => only.has(s.file.path));
    const proven = await proveOnVault(selected, kept, signal);
    const candidates: FreeUpFile[] = [];
    const freed: FreeUpFile[] = [];
    let freedBytes = 0;
    for (const s of proven) {
      signal.throwIfAborted();
      const local = await checkOriginal(s, signal);
      if (!local.ok) {
        kept.push({ path: s.file.path, reason: local.reason });
        continue;
      }
      const item = { path: s.file.path, bytes: s.file.size };
      candidates.push(item);
      if (act === null) continue;
      const refused = await act(s, local.identity);
      if (refused !== null) {
        kept.push({ path: s.file.path, reason: refused });
        continue;
      }
      freed.push(item);
      freedBytes += item.bytes;
    }
    return { candidates, freed, freedBytes, kept };
  }

  /** Check 5 and the move: one file, immediately after its last stat. Null: moved. */
  async function moveOne(s: Selected, hashed: FileIdentity): Promise<string | null> {
    let seen;
    try {
      seen = await deps.statPath(s.file.path);
    } catch (err) {
      return reasons.unreadable(message(err));
    }
    if (seen === null) return reasons.gone;
    if (seen.kind !== 'file' || !sameIdentity(hashed, seen.identity)) {
      return reasons.changedJustNow;
    }
    try {
      await deps.trash(s.file.path);
    } catch (err) {
      return reasons.trashFailed(message(err));
    }
    let after;
    try {
      after = await deps.statPath(s.file.path);
    } catch {
      after = undefined;
    }
    if (after !== null) return reasons.stillThere;
    store.apply(s.file.id, transitions.freedUp());
    hashedAt.delete(s.file.id);
    return null;
  }

  return {
    estimate() {
      const { allowed, lockedByPolicy } = deps.allowed();
      const folders = store.listFolders();
      const { selected } = select({});
      return {
        files: selected.length,
        bytes: selected.reduce((n, s) => n + s.file.size, 0),
        foldersAllowed: folders.filter((f) => f.freeUp).length,
        folders: folders.length,
        allowed,
        lockedByPolicy,
      };
    },
    plan: (scope, signal) => check(scope, signal, null, null),
    async run(scope, signal) {
      const only = scope.only !== undefined ? new Set(scope.only) : null;
      try {
        return await check(scope, signal, only, moveOne);
      } finally {
        store.commit();
      }
    },
  };
}

/** "Freed up 12 files (1.2 GiB) ..." for the activity list. */
export function freedSentence(result: FreeUpResult): string {
  const n = result.freed.length;
  const first = result.freed[0];
  const what =
    n === 1 && first !== undefined
      ? displayPath(basename(first.path))
      : `${n.toLocaleString('en-US')} files`;
  return `Freed up ${what} (${formatSize(result.freedBytes)}) on this computer: moved to the system's trash, kept on the vault`;
}
