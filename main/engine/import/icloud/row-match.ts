// Which Photo Details row describes which file of an iCloud Photos copy. Pure: paths and rows
// in, a row per file (where certain) and the reasons out. See [Note: iCloud rows and files]
// in icloud-import.ts for the rule.
// Invariant: a row describes at most one file and a file has at most one row; a match is made
// only where exactly one unclaimed row and exactly one unmatched file share the name at the
// closest level that has rows of it (its folder, then its part, then the whole copy).
import type { PhotoDetailsRow } from './photo-details.js';

export interface DetailsTable {
  /** the CSV's path in the export */
  csv: string;
  rows: readonly PhotoDetailsRow[];
}

export interface RowMatch {
  /** file path -> its row */
  rowOf: Map<string, PhotoDetailsRow>;
  /** file path -> why it has none */
  why: Map<string, string>;
  /** rows no file took */
  unmatched: { path: string; line: number; name: string; reason: string }[];
}

const AREA = /^(photos|recently deleted|albums|memories)$/i;

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
function folderOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * The part a path belongs to: what precedes Apple's "Photos", "Recently Deleted", "Albums" or
 * "Memories" folder ("iCloud Photos Part 1 of 3"), else its own folder.
 */
export function partOf(path: string): string {
  const segments = path.split('/');
  const at = segments.slice(0, -1).findIndex((s) => AREA.test(s));
  return at >= 0 ? segments.slice(0, at).join('/') : folderOf(path);
}

const LEVELS = [
  { name: 'folder', keyOf: folderOf, say: "its folder's Photo Details" },
  { name: 'part', keyOf: partOf, say: "its part's Photo Details" },
  { name: 'copy', keyOf: () => '', say: 'the Photo Details of the copy' },
] as const;

export function matchRows(files: readonly string[], tables: readonly DetailsTable[]): RowMatch {
  const rowOf = new Map<string, PhotoDetailsRow>();
  const why = new Map<string, string>();
  const csvOf = new Map<PhotoDetailsRow, string>();
  for (const t of tables) for (const r of t.rows) csvOf.set(r, t.csv);
  const claimed = new Set<PhotoDetailsRow>();
  let open = [...files];
  for (const level of LEVELS) {
    // unclaimed rows and unmatched files, by (level key, name)
    const rows = new Map<string, PhotoDetailsRow[]>();
    for (const t of tables) {
      for (const r of t.rows) {
        if (claimed.has(r)) continue;
        const k = `${level.keyOf(t.csv)}\0${r.name}`;
        rows.set(k, [...(rows.get(k) ?? []), r]);
      }
    }
    const peers = new Map<string, number>();
    for (const f of open) {
      const k = `${level.keyOf(f)}\0${baseName(f)}`;
      peers.set(k, (peers.get(k) ?? 0) + 1);
    }
    const next: string[] = [];
    for (const f of open) {
      const k = `${level.keyOf(f)}\0${baseName(f)}`;
      const candidates = rows.get(k) ?? [];
      const sharing = peers.get(k) ?? 0;
      if (candidates.length === 0) {
        next.push(f);
        continue;
      }
      if (candidates.length === 1 && sharing === 1) {
        const row = candidates[0] as PhotoDetailsRow;
        rowOf.set(f, row);
        claimed.add(row);
        continue;
      }
      // Rows of the name are here but which is whose is not certain: reported, not guessed.
      why.set(
        f,
        candidates.length > 1
          ? `${level.say} list the name ${candidates.length} times (${candidates.map((r) => `${csvOf.get(r) ?? ''} line ${r.line}`).join(', ')})`
          : `${sharing} files of that name share one row (${csvOf.get(candidates[0] as PhotoDetailsRow) ?? ''} line ${candidates[0]?.line ?? 0})`,
      );
    }
    open = next;
  }
  for (const f of open) why.set(f, 'no Photo Details row names it');
  const names = new Set(files.map(baseName));
  const unmatched: RowMatch['unmatched'] = [];
  for (const t of tables) {
    for (const r of t.rows) {
      if (claimed.has(r)) continue;
      unmatched.push({
        path: t.csv,
        line: r.line,
        name: r.name,
        reason: names.has(r.name)
          ? 'the files of that name have rows of their own, or which one it describes is not certain'
          : 'no photo or video of that name in the copy',
      });
    }
  }
  return { rowOf, why, unmatched };
}
