// The exact path of a files row (see [Note: Names that are not UTF-8] in ../raw-path.ts), for
// every query that reads rows. Invariant: a row read back carries the very strings the engine
// inserted, whatever bytes its name is made of.
import { decodeRawName, hasRawBytes, rawPathBytes } from '../raw-path.js';

/**
 * A row's path and relPath as the engine carries them: SQLite gives the text of a name that is
 * not UTF-8 back with U+FFFD in it, so the exact name comes from rel_path_raw (the path is its
 * folder's part, valid UTF-8, plus the exact relPath). See [Note: Names that are not UTF-8].
 */
export function exactPaths(row: { path: string; rel_path: string; rel_path_raw: Buffer | null }): {
  path: string;
  relPath: string;
} {
  if (row.rel_path_raw === null) return { path: row.path, relPath: row.rel_path };
  const relPath = decodeRawName(row.rel_path_raw);
  return { path: row.path.slice(0, row.path.length - row.rel_path.length) + relPath, relPath };
}

/** The rel_path_raw column of a relPath: its exact bytes when it is not UTF-8, else NULL. */
export function relPathRaw(relPath: string): Buffer | null {
  return hasRawBytes(relPath) ? rawPathBytes(relPath) : null;
}
