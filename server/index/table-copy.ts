// Copies the rows of a stopped single-machine vault's index (SQLite) into another index (a
// PostgreSQL several vault nodes share, or another SQLite file), through the Sql port, for
// `keepsake vault migrate` (../migrate-vault.ts). The SQL of the copy lives here, with the
// other index SQL; the order of the copy and the blobs are the caller's.
// Invariants: a row already on the target is never changed (INSERT ... ON CONFLICT DO
// NOTHING), so a second run continues where a first one stopped; a target row that differs
// from the source's row under the same key is reported as a conflict, never overwritten or
// taken as copied; after the copy, every identity sequence on the target is past the ids it
// was given.
//
// [Note: What the migration copies]
// Every table of the latest schema is either copied or skipped for a reason, and a source
// table this list does not know refuses the migration (a newer schema must say what to do
// with its table here first):
// - copied, in dependency order: devices, enrolments, assets (with asset_checks, by the
//   caller: See [Note: Blobs before rows] in ../migrate-vault.ts), albums, album_members,
//   groups, group_members, locations, trash, then counters.
// - uploads: skipped. Its rows describe tus uploads in flight on the old machine, whose
//   partial files are not migrated; a client that resumes one is answered 404 and starts
//   again, and the dedup check tells it what the vault already holds.
// - previews, similarity: skipped. They are derived data whose files (previews/) stay on the
//   old machine; a content without a previews row is pending, so the scaled vault makes its
//   previews again, and the similarity backfill measures them after.
// Counters are single named values: one the target still holds at its fresh default (0) takes
// the source's value; one that differs otherwise is a conflict.
import type { Sql, SqlDatabase } from './sql.js';

export type IndexRow = Record<string, unknown>;

interface TablePlan {
  readonly table: string;
  /** the primary key's columns */
  readonly key: readonly string[];
  /** other unique keys, to say which one a conflicting row collides on */
  readonly unique?: readonly (readonly string[])[];
  /** id is an identity column on PostgreSQL, to move past the copied ids */
  readonly identity?: true;
}

/** The tables copied row for row, in dependency order (See [Note: What the migration copies]). */
const COPIED: readonly TablePlan[] = [
  { table: 'devices', key: ['id'], unique: [['token_sha256']] },
  { table: 'enrolments', key: ['code_sha256'] },
  { table: 'assets', key: ['id'], unique: [['sha256']], identity: true },
  { table: 'asset_checks', key: ['sha256'] },
  { table: 'albums', key: ['id'], unique: [['source', 'key']], identity: true },
  { table: 'album_members', key: ['album_id', 'sha256'] },
  { table: 'groups', key: ['id'], identity: true },
  { table: 'group_members', key: ['sha256'] },
  { table: 'locations', key: ['id'], identity: true },
  { table: 'trash', key: ['sha256'] },
];

/** Tables the migration leaves behind, and why (See [Note: What the migration copies]). */
export const SKIPPED_TABLES: Readonly<Record<string, string>> = {
  uploads: 'tus uploads in flight on the old machine; their partial files are not migrated',
  previews: 'derived: the scaled vault makes previews again',
  similarity: 'derived from previews: measured again after they are made',
  quota_reservations: "batches in flight on the old machine: none outlives its vault's stop",
};

/** The tables copied whole by copyTable, in order: all but assets and asset_checks. */
export const ROW_TABLES: readonly string[] = COPIED.map((p) => p.table).filter(
  (t) => t !== 'assets' && t !== 'asset_checks',
);

/** A target row under a source row's key that holds something else. */
export interface RowConflict {
  table: string;
  /** the key, as `col=value, ...` */
  key: string;
  /** what differs, for a person */
  detail: string;
}

/** The target already holds different rows under keys the source uses: refused, named. */
export class IndexConflictError extends Error {
  override name = 'IndexConflictError';
  constructor(readonly conflicts: readonly RowConflict[]) {
    super(
      `the target index already holds different rows under the same keys (${conflicts.length}${conflicts.length >= MAX_CONFLICTS ? '+' : ''}): ` +
        conflicts
          .slice(0, 5)
          .map((c) => `${c.table} ${c.key}: ${c.detail}`)
          .join('; ') +
        (conflicts.length > 5 ? '; …' : ''),
    );
  }
}

/** The source holds a table this version does not know how to migrate. */
export class UnknownTableError extends Error {
  override name = 'UnknownTableError';
}

const MAX_CONFLICTS = 20;
/** Parameters per statement: below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMS = 30_000;

function planOf(table: string): TablePlan {
  const plan = COPIED.find((p) => p.table === table);
  if (plan === undefined) throw new Error(`not a copied table: ${table}`);
  return plan;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (a === null || a === undefined) return b === null || b === undefined;
  return a === b;
}

function showValue(v: unknown): string {
  if (Buffer.isBuffer(v)) return `x'${v.toString('hex')}'`;
  if (typeof v === 'string') return v.length > 40 ? `'${v.slice(0, 37)}…'` : `'${v}'`;
  return String(v);
}

function showKey(row: IndexRow, cols: readonly string[]): string {
  return cols.map((c) => `${c}=${showValue(row[c])}`).join(', ');
}

/** The columns that differ between two rows, for a person; '' when none do. */
function difference(source: IndexRow, target: IndexRow, columns: readonly string[]): string {
  const differing = columns.filter((c) => !sameValue(source[c], target[c]));
  return differing
    .slice(0, 3)
    .map((c) => `${c} is ${showValue(target[c])} there, ${showValue(source[c])} here`)
    .join(', ');
}

/** `(a = ? AND b = ?) OR ...` over `rows`, with its parameters. */
function keysWhere(rows: readonly IndexRow[], cols: readonly string[]): [string, unknown[]] {
  const params: unknown[] = [];
  const ors = rows.map((r) => {
    for (const c of cols) params.push(r[c]);
    return `(${cols.map((c) => `${c} = ?`).join(' AND ')})`;
  });
  return [ors.join(' OR '), params];
}

function keyString(row: IndexRow, cols: readonly string[]): string {
  return JSON.stringify(
    cols.map((c) => (Buffer.isBuffer(row[c]) ? row[c].toString('hex') : row[c])),
  );
}

/** The copy of one source index into one target index. */
export class IndexCopy {
  private readonly columns = new Map<string, readonly string[]>();

  private constructor(
    private readonly source: SqlDatabase,
    private readonly target: SqlDatabase,
  ) {}

  /**
   * Reads the source's tables and their columns; refuses a source table this version does
   * not know (See [Note: What the migration copies]). Both indexes are at the same schema.
   */
  static async prepare(source: SqlDatabase, target: SqlDatabase): Promise<IndexCopy> {
    if (source.dialect !== 'sqlite') throw new Error('the source of a copy is a SQLite index');
    const copy = new IndexCopy(source, target);
    const tables = await source.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    for (const { name } of tables) {
      if (name === 'counters' || name in SKIPPED_TABLES) continue;
      if (!COPIED.some((p) => p.table === name)) {
        throw new UnknownTableError(
          `the source index has a table "${name}" this version does not know how to migrate`,
        );
      }
      // Generated columns (hidden 2 and 3: assets.taken_at) are computed by each engine.
      const cols = await source.all<{ name: string; hidden: number }>(
        `SELECT name, hidden FROM pragma_table_xinfo('${name}')`,
      );
      copy.columns.set(
        name,
        cols.filter((c) => c.hidden === 0).map((c) => c.name),
      );
    }
    return copy;
  }

  private columnsOf(table: string): readonly string[] {
    const cols = this.columns.get(table);
    if (cols === undefined) throw new Error(`the source index has no table ${table}`);
    return cols;
  }

  /** Rows in the source table. */
  async count(table: string): Promise<number> {
    planOf(table);
    const row = await this.source.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`);
    return row?.n ?? 0;
  }

  /** The source's rows in rowid order (SQLite's own order of insertion), `size` at a time. */
  async *pages(table: string, size: number): AsyncGenerator<IndexRow[]> {
    planOf(table);
    const cols = this.columnsOf(table);
    let after = -Infinity;
    for (;;) {
      const rows = await this.source.all<IndexRow & { keepsake_rowid: number }>(
        `SELECT rowid AS keepsake_rowid, ${cols.join(', ')} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`,
        [after === -Infinity ? Number.MIN_SAFE_INTEGER : after, size],
      );
      if (rows.length === 0) return;
      after = rows.at(-1)!.keepsake_rowid;
      yield rows.map((r) => {
        const row: IndexRow = {};
        for (const c of cols) row[c] = r[c];
        return row;
      });
      if (rows.length < size) return;
    }
  }

  /** The source rows of `table` whose `column` is one of `values`. */
  async sourceRowsWhere(
    table: string,
    column: string,
    values: readonly unknown[],
  ): Promise<IndexRow[]> {
    if (values.length === 0) return [];
    const cols = this.columnsOf(table);
    return this.source.all<IndexRow>(
      `SELECT ${cols.join(', ')} FROM ${table} WHERE ${column} IN (${values.map(() => '?').join(', ')})`,
      values,
    );
  }

  /**
   * Which of `rows` the target already holds, identical, by primary key; throws
   * IndexConflictError when it holds a different row under one of their keys.
   */
  async alreadyCopied(table: string, rows: readonly IndexRow[]): Promise<Set<IndexRow>> {
    const found = await this.compare(this.target, table, rows);
    return new Set(rows.filter((_, i) => found[i] === true));
  }

  /**
   * Inserts `rows` into the target in `tx` (ON CONFLICT DO NOTHING); a row the target already
   * holds identically counts as copied before, a different one is a conflict (thrown).
   * Returns how many were inserted now.
   */
  async insert(tx: Sql, table: string, rows: readonly IndexRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const cols = this.columnsOf(table);
    const per = Math.max(1, Math.floor(MAX_PARAMS / cols.length));
    let inserted = 0;
    for (let i = 0; i < rows.length; i += per) {
      const slice = rows.slice(i, i + per);
      const params: unknown[] = [];
      const values = slice.map((r) => {
        for (const c of cols) params.push(r[c] ?? null);
        return `(${cols.map(() => '?').join(', ')})`;
      });
      const res = await tx.run(
        `INSERT INTO ${table} (${cols.join(', ')}) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`,
        params,
      );
      inserted += res.changes;
      if (res.changes < slice.length) {
        // Some were there: each must be there identically (a resumed run), else refuse. The
        // rows inserted just now are found too, so a row not found collided on a unique key
        // that compare() does not look up (a partial one, such as a live place's).
        const found = await this.compare(tx, table, slice);
        const lost = slice.filter((_, j) => found[j] !== true);
        if (lost.length > 0) {
          throw new IndexConflictError(
            lost.slice(0, MAX_CONFLICTS).map((row) => ({
              table,
              key: showKey(row, planOf(table).key),
              detail: 'the target holds another row under one of its unique keys',
            })),
          );
        }
      }
    }
    return inserted;
  }

  /**
   * For each row, true when the target (through `on`) holds it identically, false when it
   * holds nothing under any of its keys; throws IndexConflictError for different rows.
   */
  private async compare(on: Sql, table: string, rows: readonly IndexRow[]): Promise<boolean[]> {
    const plan = planOf(table);
    const cols = this.columnsOf(table);
    const result: boolean[] = rows.map(() => false);
    const conflicts: RowConflict[] = [];
    /** rows whose primary key the target holds (alike or not) */
    const seen = new Set<number>();
    const keySets = [plan.key, ...(plan.unique ?? [])];
    const per = Math.max(1, Math.floor(MAX_PARAMS / plan.key.length));
    for (let i = 0; i < rows.length; i += per) {
      const slice = rows.slice(i, i + per);
      const [where, params] = keysWhere(slice, plan.key);
      const there = await on.all<IndexRow>(
        `SELECT ${cols.join(', ')} FROM ${table} WHERE ${where}`,
        params,
      );
      const byKey = new Map(there.map((r) => [keyString(r, plan.key), r]));
      for (const [j, row] of slice.entries()) {
        const target = byKey.get(keyString(row, plan.key));
        if (target !== undefined) {
          const diff = difference(row, target, cols);
          if (diff === '') result[i + j] = true;
          else conflicts.push({ table, key: showKey(row, plan.key), detail: diff });
          seen.add(i + j);
        }
      }
    }
    // A row absent by its primary key may still collide on another unique key.
    for (const unique of keySets.slice(1)) {
      const absent = rows.filter((_, i) => !seen.has(i));
      for (let i = 0; i < absent.length && conflicts.length < MAX_CONFLICTS; i += per) {
        const slice = absent.slice(i, i + per);
        const [where, params] = keysWhere(slice, unique);
        const there = await on.all<IndexRow>(
          `SELECT ${cols.join(', ')} FROM ${table} WHERE ${where}`,
          params,
        );
        const byKey = new Map(there.map((r) => [keyString(r, unique), r]));
        for (const row of slice) {
          const target = byKey.get(keyString(row, unique));
          if (target === undefined) continue;
          conflicts.push({
            table,
            key: showKey(row, unique),
            detail: `the target holds it under ${showKey(target, plan.key)}, the source under ${showKey(row, plan.key)}`,
          });
        }
      }
    }
    if (conflicts.length > 0) throw new IndexConflictError(conflicts.slice(0, MAX_CONFLICTS));
    return result;
  }

  /** Runs `work` in one durable transaction on the target. */
  inTargetTransaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return this.target.transaction(work, { durable: true });
  }

  /** The contents among `shas` whose health on the target is damaged or missing. */
  async targetProblems(shas: readonly string[]): Promise<Map<string, 'damaged' | 'missing'>> {
    const found = new Map<string, 'damaged' | 'missing'>();
    for (let i = 0; i < shas.length; i += MAX_PARAMS) {
      const slice = shas.slice(i, i + MAX_PARAMS);
      const rows = await this.target.all<{ sha256: string; state: 'damaged' | 'missing' }>(
        `SELECT sha256, state FROM asset_checks WHERE state <> 'ok' AND sha256 IN (${slice.map(() => '?').join(', ')})`,
        slice,
      );
      for (const r of rows) found.set(r.sha256, r.state);
    }
    return found;
  }

  /**
   * Copies a whole table in transactions of `batch` rows; `done(rows)` after each commits.
   * Returns the rows inserted now and the rows found copied before.
   */
  async copyTable(
    table: string,
    batch: number,
    done?: (rows: number) => void,
  ): Promise<{ copied: number; alreadyThere: number }> {
    let copied = 0;
    let alreadyThere = 0;
    for await (const rows of this.pages(table, batch)) {
      const n = await this.target.transaction((tx) => this.insert(tx, table, rows), {
        durable: true,
      });
      copied += n;
      alreadyThere += rows.length - n;
      done?.(rows.length);
    }
    return { copied, alreadyThere };
  }

  /**
   * The source's counters onto the target: a target counter at its fresh default (0), or
   * absent, takes the source's value; an equal one is left; another is a conflict.
   */
  async copyCounters(): Promise<number> {
    const rows = await this.source.all<{ name: string; value: number }>(
      'SELECT name, value FROM counters ORDER BY name',
    );
    return this.target.transaction(async (tx) => {
      const conflicts: RowConflict[] = [];
      let changed = 0;
      for (const row of rows) {
        const there = await tx.get<{ value: number }>('SELECT value FROM counters WHERE name = ?', [
          row.name,
        ]);
        if (there === undefined) {
          await tx.run('INSERT INTO counters (name, value) VALUES (?, ?)', [row.name, row.value]);
          changed++;
        } else if (there.value === row.value) {
          continue;
        } else if (there.value === 0) {
          await tx.run('UPDATE counters SET value = ? WHERE name = ?', [row.value, row.name]);
          changed++;
        } else {
          conflicts.push({
            table: 'counters',
            key: `name='${row.name}'`,
            detail: `value is ${there.value} there, ${row.value} here`,
          });
        }
      }
      if (conflicts.length > 0) throw new IndexConflictError(conflicts);
      return changed;
    });
  }

  /**
   * Moves each PostgreSQL identity sequence past the largest id now in its table, so the next
   * row the vault inserts does not collide with a copied one (never backwards). SQLite needs
   * nothing: an INTEGER PRIMARY KEY takes max(rowid) + 1.
   */
  async moveIdentities(): Promise<void> {
    if (this.target.dialect !== 'postgres') return;
    for (const plan of COPIED) {
      if (plan.identity !== true) continue;
      // setval(..., false): the next nextval() answers exactly that value.
      await this.target.get(
        `SELECT setval(s.seq, GREATEST(m.next, COALESCE(q.last_value + 1, 1)), false)
           FROM (SELECT pg_get_serial_sequence('${plan.table}', 'id') AS seq) s
           CROSS JOIN (SELECT COALESCE(MAX(id), 0) + 1 AS next FROM ${plan.table}) m
           LEFT JOIN pg_sequences q ON format('%I.%I', q.schemaname, q.sequencename) = s.seq`,
      );
    }
  }
}
