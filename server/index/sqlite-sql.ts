// The Sql port (sql.ts) on better-sqlite3: the single-machine vault's index file, WAL.
// better-sqlite3 is synchronous, so each call runs at once and returns a settled promise.
// Invariant: while a transaction is open, calls made outside it wait until it ends, so the
// transaction sees only its own statements between BEGIN and COMMIT.
//
// [Note: Waiting for the transaction]
// A transaction's work awaits between its statements, and in those gaps other requests'
// index calls may run. On one connection they would run INSIDE the open transaction (and be
// undone by its rollback), so calls outside it queue behind it: `idle` is a promise that
// settles when no transaction is open. Transactions are short (index work only, See [Note:
// Transactions are the only atomicity] in sql.ts), so the queue is too.
import Database from 'better-sqlite3';
import type { Sql, SqlDatabase, SqlParams, SqlRunResult } from './sql.js';

type Statement = Database.Statement<unknown[], unknown>;

function isList(params: SqlParams | undefined): params is readonly unknown[] {
  return Array.isArray(params);
}

class Statements {
  private readonly cache = new Map<string, Statement>();
  constructor(private readonly db: Database.Database) {}

  prepare(text: string): Statement {
    let s = this.cache.get(text);
    if (s === undefined) {
      s = this.db.prepare(text);
      // Bounded: the stores' statements are constant texts, except IN (?, ?, ...) lists.
      if (this.cache.size > 1000) this.cache.clear();
      this.cache.set(text, s);
    }
    return s;
  }

  get<T>(text: string, params: SqlParams | undefined): T | undefined {
    const s = this.prepare(text);
    if (isList(params)) return s.get(...params) as T | undefined;
    return (params === undefined ? s.get() : s.get(params)) as T | undefined;
  }

  all<T>(text: string, params: SqlParams | undefined): T[] {
    const s = this.prepare(text);
    if (isList(params)) return s.all(...params) as T[];
    return (params === undefined ? s.all() : s.all(params)) as T[];
  }

  run(text: string, params: SqlParams | undefined): SqlRunResult {
    const s = this.prepare(text);
    if (isList(params)) return { changes: s.run(...params).changes };
    return { changes: (params === undefined ? s.run() : s.run(params)).changes };
  }
}

/** The handle a transaction's work is given: statements run at once, inside it. */
class InTransaction implements Sql {
  readonly dialect = 'sqlite' as const;
  constructor(private readonly stmts: Statements) {}
  get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    return settle(() => this.stmts.get<T>(text, params));
  }
  all<T>(text: string, params?: SqlParams): Promise<T[]> {
    return settle(() => this.stmts.all<T>(text, params));
  }
  run(text: string, params?: SqlParams): Promise<SqlRunResult> {
    return settle(() => this.stmts.run(text, params));
  }
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return work(this);
  }
}

function settle<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

export class SqliteSql implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  private readonly db: Database.Database;
  private readonly stmts: Statements;
  /** Settles when no transaction is open (See [Note: Waiting for the transaction]). */
  private idle: Promise<void> | undefined;

  constructor(path: string) {
    this.description = path;
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // See [Note: Which commits are synced] in vault-index.ts.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.stmts = new Statements(this.db);
  }

  async get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    while (this.idle !== undefined) await this.idle;
    return this.stmts.get<T>(text, params);
  }

  async all<T>(text: string, params?: SqlParams): Promise<T[]> {
    while (this.idle !== undefined) await this.idle;
    return this.stmts.all<T>(text, params);
  }

  async run(text: string, params?: SqlParams): Promise<SqlRunResult> {
    while (this.idle !== undefined) await this.idle;
    return this.stmts.run(text, params);
  }

  async transaction<T>(work: (tx: Sql) => Promise<T>, options?: { durable?: boolean }): Promise<T> {
    while (this.idle !== undefined) await this.idle;
    let done!: () => void;
    this.idle = new Promise((resolve) => (done = resolve));
    const durable = options?.durable === true;
    try {
      if (durable) this.db.pragma('synchronous = FULL');
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(new InTransaction(this.stmts));
        this.db.exec('COMMIT');
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
    } finally {
      if (durable) this.db.pragma('synchronous = NORMAL');
      this.idle = undefined;
      done();
    }
  }

  schemaVersion(): Promise<number> {
    return Promise.resolve(this.db.pragma('user_version', { simple: true }) as number);
  }

  async migrate(
    steps: readonly { version: number; script: string }[],
    check: (current: number) => void,
  ): Promise<void> {
    // One process owns a SQLite index (the vault's lock file), so no lock beyond the
    // transaction is needed.
    const current = await this.schemaVersion();
    check(current);
    const pending = steps.filter((s) => s.version > current);
    if (pending.length === 0) return;
    this.db.transaction(() => {
      for (const s of pending) {
        this.db.exec(s.script);
        this.db.pragma(`user_version = ${s.version}`);
      }
    })();
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
