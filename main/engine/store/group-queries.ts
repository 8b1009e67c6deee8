// The store's part for groups (issue 11 section 1): what grouping compares for each file of a
// folder (migration 0014's columns, filled when its metadata is read) and what this device last
// declared to the vault. Prepared statements; writes go through the store's group commit (the
// `write` it hands in).
// Invariant: a groups_sent row is written only after the vault answered that it stored exactly
// those members, so a group is declared again only when the decision changed (or was never
// stored), never once per pass.
import type { FileState } from '../../../common/contract.js';
import type { GroupingFacts } from '../metadata/types.js';
import type { SqliteDatabase } from './database.js';
import type { MediaKind } from './types.js';

/** One file of a folder as grouping sees it. */
export interface GroupCandidateRow {
  id: number;
  relPath: string;
  sha256: string | null;
  state: FileState;
  mediaKind: MediaKind;
  mime: string | null;
  /** false until its metadata was read for its current content: its facts are unknown */
  metadataRead: boolean;
  appleContentId: string | null;
  capturedAtMs: number | null;
  /** lower-case base names its XMP says it was made from (an export); empty: none */
  derivedFrom: string[];
}

export interface GroupQueries {
  /** Every file of a watched folder that is backed up or on its way (not excluded or skipped). */
  candidates(folderId: number): GroupCandidateRow[];
  /** Records what a file's metadata said for grouping (null: nothing). */
  setFacts(id: number, facts: GroupingFacts | null): void;
  /** The members (JSON) last declared with this primary, or null. */
  sent(primarySha256: string): string | null;
  recordSent(group: {
    primarySha256: string;
    folderId: number;
    members: string;
    vaultId: string;
    at: number;
  }): void;
  /** These contents no longer lead a group on the vault (they joined another). */
  forgetSent(primaries: readonly string[]): void;
  /**
   * Media files whose metadata was read are read again (their XMP sidecar changed): the file
   * at `exact`, or every file whose path starts with `prefix`. Returns how many.
   */
  rereadMedia(beside: { exact: string } | { prefix: string }): number;
}

interface CandidateRow {
  id: number;
  rel_path: string;
  sha256: string | null;
  state: FileState;
  media_kind: MediaKind;
  mime: string | null;
  metadata_state: 'pending' | 'read' | 'sent';
  apple_content_id: string | null;
  captured_at_ms: number | null;
  derived_from: string | null;
}

/** The names column as written by setFacts; anything else (hand-edited) reads as none. */
function parseNames(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}

export function createGroupQueries(db: SqliteDatabase, write: <T>(fn: () => T) => T): GroupQueries {
  const q = {
    // Served by files_folder (folder_id, state).
    candidates: db.prepare<[number], CandidateRow>(
      `SELECT id, rel_path, sha256, state, media_kind, mime, metadata_state, apple_content_id,
              captured_at_ms, derived_from
         FROM files WHERE folder_id = ? AND state NOT IN ('excluded', 'skipped') ORDER BY id`,
    ),
    setFacts: db.prepare<[string | null, number | null, string | null, number]>(
      'UPDATE files SET apple_content_id = ?, captured_at_ms = ?, derived_from = ? WHERE id = ?',
    ),
    sent: db.prepare<[string], { members: string }>(
      'SELECT members FROM groups_sent WHERE primary_sha256 = ?',
    ),
    recordSent: db.prepare<[string, number, string, string, number]>(
      `INSERT INTO groups_sent (primary_sha256, folder_id, members, vault_id, sent_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (primary_sha256) DO UPDATE SET folder_id = excluded.folder_id,
         members = excluded.members, vault_id = excluded.vault_id, sent_at = excluded.sent_at`,
    ),
    forgetSent: db.prepare<[string]>('DELETE FROM groups_sent WHERE primary_sha256 = ?'),
    // Both through the unique index on path.
    rereadExact: db.prepare<[string]>(
      `UPDATE files SET metadata_state = 'pending'
        WHERE path = ? AND media_kind = 'media' AND metadata_state <> 'pending'`,
    ),
    rereadPrefix: db.prepare<[string, string]>(
      `UPDATE files SET metadata_state = 'pending'
        WHERE path >= ? AND path < ? AND media_kind = 'media' AND metadata_state <> 'pending'`,
    ),
  };
  return {
    candidates(folderId) {
      return q.candidates.all(folderId).map((r) => ({
        id: r.id,
        relPath: r.rel_path,
        sha256: r.sha256,
        state: r.state,
        mediaKind: r.media_kind,
        mime: r.mime,
        metadataRead: r.metadata_state !== 'pending',
        appleContentId: r.metadata_state === 'pending' ? null : r.apple_content_id,
        capturedAtMs: r.metadata_state === 'pending' ? null : r.captured_at_ms,
        derivedFrom:
          r.metadata_state === 'pending' || r.derived_from === null
            ? []
            : parseNames(r.derived_from),
      }));
    },
    setFacts(id, facts) {
      const names = facts?.derivedFrom ?? [];
      write(() =>
        q.setFacts.run(
          facts?.appleContentId ?? null,
          facts?.capturedAtMs ?? null,
          names.length === 0 ? null : JSON.stringify(names),
          id,
        ),
      );
    },
    sent(primarySha256) {
      return q.sent.get(primarySha256)?.members ?? null;
    },
    recordSent(g) {
      write(() => q.recordSent.run(g.primarySha256, g.folderId, g.members, g.vaultId, g.at));
    },
    rereadMedia(beside) {
      return write(() =>
        'exact' in beside
          ? q.rereadExact.run(beside.exact).changes
          : q.rereadPrefix.run(beside.prefix, `${beside.prefix}\uffff`).changes,
      );
    },
    forgetSent(primaries) {
      write(() => {
        for (const p of primaries) q.forgetSent.run(p);
      });
    },
  };
}
