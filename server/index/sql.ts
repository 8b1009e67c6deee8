// The one port between the vault index's stores and a SQL engine: SQLite on the vault's own
// disk (sqlite-sql.ts, the default) or a PostgreSQL shared by several vault nodes
// (postgres-sql.ts, issue 14). Every store is written once, against this interface; where the
// two dialects differ, a store asks `sql.dialect` in one place and says why.
//
// [Note: One SQL, two engines]
// Statements are written in the common subset: `?` positional or `@name` named parameters
// (the PostgreSQL driver numbers them), `INSERT ... ON CONFLICT ... DO NOTHING/UPDATE`,
// `RETURNING`, COALESCE, CASE. Integers come back as JavaScript numbers from both (the
// PostgreSQL driver parses int8 and numeric, which hold byte counts and unix ms far below
// 2^53). Where they differ (JSON paths, case-insensitive LIKE, string aggregation, SQLite's
// bare-column MAX rule), a store branches on `dialect`. PostgreSQL folds unquoted names to
// lower case, so a camelCase alias is quoted (`AS "totalBytes"`), and it answers booleans as
// true/false where SQLite answers 1/0 (See [Note: Results differ from SQLite] in
// postgres-sql.ts).
//
// [Note: Transactions are the only atomicity]
// Index calls are asynchronous, so two index calls in a row are NOT atomic: another request
// may run between them, and with several vault nodes another process too. A rule that reads
// and then writes ("reserve if it fits the quota", "use an enrolment code at most N times")
// is one transaction() call. Its work touches only the index (no file or network I/O) and may
// run more than once: PostgreSQL runs transactions SERIALIZABLE and retries one that lost a
// race with another node, so the same rule holds across nodes that SQLite's single writer
// gives one process. `durable: true` commits to stable storage before the promise resolves
// (SQLite: synchronous = FULL for that commit; PostgreSQL commits are durable anyway): used
// for commits a client is told of (See [Note: Which commits are synced] in vault-index.ts).

export type SqlParams = readonly unknown[] | Readonly<Record<string, unknown>>;

export type SqlDialect = 'sqlite' | 'postgres';

export interface SqlRunResult {
  /** rows inserted, updated or deleted */
  changes: number;
}

export interface Sql {
  readonly dialect: SqlDialect;
  /** The first row, or undefined. */
  get<T>(text: string, params?: SqlParams): Promise<T | undefined>;
  all<T>(text: string, params?: SqlParams): Promise<T[]>;
  run(text: string, params?: SqlParams): Promise<SqlRunResult>;
  /**
   * Runs `work` in one transaction (See [Note: Transactions are the only atomicity]). Inside
   * `work`, use the handle it is given, never the outer one. A transaction() inside work joins
   * the outer transaction.
   */
  transaction<T>(work: (tx: Sql) => Promise<T>, options?: { durable?: boolean }): Promise<T>;
}

/** A connection (or pool) the index owns: it applies migrations and is closed once. */
export interface SqlDatabase extends Sql {
  /** Where it is, for messages: a file path, or a postgres URL without its password. */
  readonly description: string;
  /** The schema version applied, 0 for an empty database. */
  schemaVersion(): Promise<number>;
  /**
   * Applies `steps` in order, each in one transaction with the version bump, holding a lock
   * so that two vault nodes starting at once migrate once.
   */
  migrate(
    steps: readonly { version: number; script: string }[],
    check: (current: number) => void,
  ): Promise<void>;
  close(): Promise<void>;
}

/**
 * `?` and `@name` placeholders as PostgreSQL's `$1`, `$2`, ..., with the values in that order.
 * Quoted strings and identifiers are left alone, so `'?'` in a literal is not a parameter.
 */
export function numberPlaceholders(
  text: string,
  params: SqlParams | undefined,
): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const named = new Map<string, number>();
  const positional = Array.isArray(params) ? (params as readonly unknown[]) : [];
  const byName = params !== undefined && !Array.isArray(params) ? params : {};
  let out = '';
  let i = 0;
  let next = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      const stop = end === -1 ? text.length : end + 1;
      out += text.slice(i, stop);
      i = stop;
    } else if (c === '?') {
      if (next >= positional.length) throw new Error(`missing SQL parameter ${next + 1}`);
      values.push(positional[next++]);
      out += `$${values.length}`;
      i += 1;
    } else if (c === '@' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      const m = /^@([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i))!;
      const name = m[1]!;
      let n = named.get(name);
      if (n === undefined) {
        if (!(name in byName)) throw new Error(`missing SQL parameter @${name}`);
        values.push((byName as Record<string, unknown>)[name]);
        n = values.length;
        named.set(name, n);
      }
      out += `$${n}`;
      i += m[0].length;
    } else {
      out += c;
      i += 1;
    }
  }
  return { text: out, values };
}
