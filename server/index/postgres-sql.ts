// The Sql port (sql.ts) on PostgreSQL through `pg`: the index several vault nodes share
// (issue 14). A pool of connections; every transaction SERIALIZABLE and retried when it lost a
// race with another, so a read-then-write rule holds across nodes as it does in one SQLite
// process (See [Note: Transactions are the only atomicity] in sql.ts).
// Invariants: an integer comes back as a JavaScript number or not at all (a value beyond 2^53
// is refused, never rounded); a transaction's work sees only its own connection; two nodes
// migrating at once apply each migration once.
//
// [Note: Retrying what lost a race]
// PostgreSQL's SERIALIZABLE aborts a transaction whose outcome could differ from some serial
// order (SQLSTATE 40001), and breaks a deadlock by aborting one side (40P01). Neither is a
// fault: the same work run again, against the winner's committed rows, is correct. So the
// whole work is run again, up to MAX_ATTEMPTS times with a short randomized pause (the two
// losers of one race must not collide again in step). Work touches only the index, so
// running it twice is safe. Statements outside transaction() run SERIALIZABLE too (the
// session's default), each its own transaction, and are retried the same way: mixing weaker
// transactions with serializable ones would let a plain UPDATE slip past a rule that a
// transaction checked. A COMMIT can itself fail with 40001 and is retried with the work; a
// COMMIT that answers ROLLBACK (the work swallowed a failed statement) is an error, never a
// silent success.
//
// [Note: Results differ from SQLite]
// Unquoted identifiers fold to lower case in PostgreSQL: an alias a store reads in camelCase
// must be quoted (`AS "totalBytes"`, which SQLite accepts too). Booleans (EXISTS, comparisons)
// come back as true/false, not 1/0; bytea as Buffer, like a SQLite BLOB. int8 (COUNT, bigint
// columns) and numeric (SUM of bigint) are parsed by this pool's own type parsers, not pg's
// global ones, so nothing else in the process changes. Placeholders are numbered outside
// quotes only (numberPlaceholders in sql.ts): a `?` in a comment or a $$-quoted body would be
// taken for a parameter, so statements keep them out of both.
import pg from 'pg';
import {
  numberPlaceholders,
  type Sql,
  type SqlDatabase,
  type SqlParams,
  type SqlRunResult,
} from './sql.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;
/** The advisory lock key migrations hold ('keep' in ASCII): one migration at a time. */
const MIGRATION_LOCK_KEY = 0x6b656570;
const MAX_ATTEMPTS = 12;
const RETRYABLE = new Set(['40001', '40P01']);
/**
 * The server ended the session (a fast shutdown, a crash restart, still starting): whatever the
 * connection's transaction did was rolled back, so the work may run again on a new connection.
 */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03']);

export type PostgresIndexErrorCode = 'index_unreachable' | 'index_busy' | 'index_number_too_large';

/** An index failure a person can act on: the server is not there, or kept losing races. */
export class PostgresIndexError extends Error {
  override name = 'PostgresIndexError';
  constructor(
    readonly code: PostgresIndexErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface PostgresSqlOptions {
  /** Connections in the pool; default 10. */
  poolSize?: number;
  /** How long to wait for a connection (a new one, or a free one from the pool); default 30 s. */
  connectTimeoutMs?: number;
}

function parseInteger(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new PostgresIndexError(
      'index_number_too_large',
      `the PostgreSQL index returned ${text}, beyond the integers this vault handles exactly (2^53)`,
    );
  }
  return n;
}

/** numeric holds SUM(bigint) (an integer) or AVG (a fraction); an integer must be exact. */
function parseNumeric(text: string): number {
  if (/^-?\d+$/.test(text)) return parseInteger(text);
  return Number(text);
}

/** This pool's type parsers: int8 and numeric as numbers (See [Note: Results differ from SQLite]). */
const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary' && oid === INT8_OID) return parseInteger;
    if (format !== 'binary' && oid === NUMERIC_OID) return parseNumeric;
    return pg.types.getTypeParser(oid, format) as (text: string) => unknown;
  }) as typeof pg.types.getTypeParser,
};

/** The SQLSTATE in `codes` that `e` (or an error it wraps) carries. */
function sqlState(e: unknown, codes: ReadonlySet<string>): string | undefined {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && codes.has(code)) return code;
    cur = cur.cause;
  }
  return undefined;
}

/** The connection itself failed mid-call (not a statement's error). */
function connectionLost(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (sqlState(e, SESSION_ENDED) !== undefined) return true;
  if (e instanceof pg.DatabaseError) return false;
  const code = (e as { code?: unknown }).code;
  return (
    (typeof code === 'string' && code in SYSTEM_REASONS) ||
    /Connection terminated|not queryable/i.test(e.message)
  );
}

function pause(attempt: number): Promise<void> {
  const ceiling = Math.min(200, 5 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * ceiling));
}

/** The URL for messages: no password, in the authority or in the query. */
function withoutPassword(url: URL): string {
  const copy = new URL(url.href);
  copy.password = '';
  copy.searchParams.delete('password');
  return copy.href;
}

const SYSTEM_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the connection was reset',
  ENOENT: 'no such socket',
};

/** Why a connection failed, in words (node's AggregateError for several addresses included). */
function connectReason(e: unknown): string {
  const errors = e instanceof AggregateError && e.errors.length > 0 ? (e.errors as unknown[]) : [e];
  const first = errors[0];
  const code = first instanceof Error ? (first as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && code in SYSTEM_REASONS) return SYSTEM_REASONS[code]!;
  const message = first instanceof Error ? first.message : String(first);
  if (/timeout/i.test(message)) return 'timed out';
  if (/password must be a string/.test(message)) {
    return 'it asks for a password and none was given (put it in the URL, PGPASSWORD or a PGPASSFILE)';
  }
  return message;
}

/** The handle a transaction's work is given: statements on its one connection. */
class PostgresTransaction implements Sql {
  readonly dialect = 'postgres' as const;
  ended = false;
  constructor(private readonly client: pg.PoolClient) {}

  private async query(text: string, params: SqlParams | undefined): Promise<pg.QueryResult> {
    if (this.ended) throw new Error('an index transaction handle was used after it ended');
    const q = numberPlaceholders(text, params);
    return this.client.query(q.text, q.values);
  }
  async get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.query(text, params)).rows[0] as T | undefined;
  }
  async all<T>(text: string, params?: SqlParams): Promise<T[]> {
    return (await this.query(text, params)).rows as T[];
  }
  async run(text: string, params?: SqlParams): Promise<SqlRunResult> {
    return { changes: (await this.query(text, params)).rowCount ?? 0 };
  }
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return work(this);
  }
}

export class PostgresSql implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly where: string;
  /** Connections whose ROLLBACK failed: their state is unknown, so they are closed, not reused. */
  private readonly broken = new WeakSet<pg.PoolClient>();

  /** `url`: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; pg reads PGPASSWORD / PGPASSFILE. */
  constructor(url: string, options: PostgresSqlOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (e) {
      throw new PostgresIndexError('index_unreachable', `not a PostgreSQL URL: ${url}`, {
        cause: e,
      });
    }
    this.description = withoutPassword(parsed);
    const host =
      parsed.searchParams.get('host') ?? (parsed.hostname || process.env['PGHOST'] || 'localhost');
    this.where = host.startsWith('/') ? host : `${host}:${parsed.port || '5432'}`;
    // See [Note: Retrying what lost a race]: statements outside transaction() too. Set in the
    // URL, because pg lets the URL's own `options` override the config's.
    const connect = new URL(parsed.href);
    const theirs = connect.searchParams.get('options');
    const ours = '-c default_transaction_isolation=serializable';
    connect.searchParams.set('options', theirs === null ? ours : `${theirs} ${ours}`);
    this.pool = new pg.Pool({
      connectionString: connect.href,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 30_000,
      types: typeParsers,
      application_name: 'keepsake-vault',
    });
    // A pooled connection the server closed while idle (a restart, a failover) is dropped by
    // the pool and replaced on the next call; without a listener the event would end the process.
    this.pool.on('error', () => {});
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      if (e instanceof pg.DatabaseError) {
        throw new PostgresIndexError(
          'index_unreachable',
          `the PostgreSQL index at ${this.where} refused the connection: ${e.message}`,
          { cause: e },
        );
      }
      throw new PostgresIndexError(
        'index_unreachable',
        `could not reach the PostgreSQL index at ${this.where}: ${connectReason(e)}`,
        { cause: e },
      );
    }
  }

  /** Runs `attempt` on one connection, again after a lost race (See [Note: Retrying what lost a race]). */
  private async withRetry<T>(attempt: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      const client = await this.connect();
      try {
        return await attempt(client);
      } catch (e) {
        if (connectionLost(e)) {
          this.broken.add(client);
          // A session the server ended ran nothing to completion: run it again (a server
          // that is gone now answers the next connect with a readable error). A connection
          // that just broke may have committed: say so rather than run it twice.
          if (sqlState(e, SESSION_ENDED) === undefined || n >= MAX_ATTEMPTS) {
            throw new PostgresIndexError(
              'index_unreachable',
              `lost the connection to the PostgreSQL index at ${this.where}: ${connectReason(e)}`,
              { cause: e },
            );
          }
        } else if (sqlState(e, RETRYABLE) === undefined) {
          throw e;
        } else if (n >= MAX_ATTEMPTS) {
          throw new PostgresIndexError(
            'index_busy',
            `the PostgreSQL index at ${this.where} kept aborting this transaction for conflicts with concurrent ones (${MAX_ATTEMPTS} attempts): ${(e as Error).message}`,
            { cause: e },
          );
        }
      } finally {
        client.release(this.broken.has(client));
      }
      await pause(n);
    }
  }

  private async statement(text: string, params: SqlParams | undefined): Promise<pg.QueryResult> {
    const q = numberPlaceholders(text, params);
    return this.withRetry((client) => client.query(q.text, q.values));
  }

  async get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.statement(text, params)).rows[0] as T | undefined;
  }

  async all<T>(text: string, params?: SqlParams): Promise<T[]> {
    return (await this.statement(text, params)).rows as T[];
  }

  async run(text: string, params?: SqlParams): Promise<SqlRunResult> {
    return { changes: (await this.statement(text, params)).rowCount ?? 0 };
  }

  /** `durable` needs nothing here: a PostgreSQL commit is on stable storage when it returns. */
  transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return this.withRetry((client) =>
      this.once(client, 'BEGIN ISOLATION LEVEL SERIALIZABLE', work),
    );
  }

  /** One attempt: BEGIN, the work, COMMIT; ROLLBACK when anything throws. */
  private async once<T>(
    client: pg.PoolClient,
    begin: string,
    work: (tx: PostgresTransaction) => Promise<T>,
  ): Promise<T> {
    const tx = new PostgresTransaction(client);
    await client.query(begin);
    try {
      const result = await work(tx);
      const commit = await client.query('COMMIT');
      if (commit.command === 'ROLLBACK') {
        throw new Error(
          'the index transaction was rolled back: a statement in it failed and the failure was caught',
        );
      }
      return result;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        this.broken.add(client);
      }
      throw e;
    } finally {
      tx.ended = true;
    }
  }

  async schemaVersion(): Promise<number> {
    const table = await this.get<{ name: string | null }>(
      "SELECT to_regclass('keepsake_schema')::text AS name",
    );
    if (table?.name == null) return 0;
    const row = await this.get<{ version: number }>('SELECT version FROM keepsake_schema');
    return row?.version ?? 0;
  }

  /**
   * All pending steps in one transaction, holding an advisory lock for its length, so a second
   * node waits and then finds nothing to do. READ COMMITTED, not SERIALIZABLE: the version must
   * be read AFTER the lock is held, which a snapshot taken at the first statement would not see.
   */
  async migrate(
    steps: readonly { version: number; script: string }[],
    check: (current: number) => void,
  ): Promise<void> {
    await this.withRetry((client) =>
      this.once(client, 'BEGIN ISOLATION LEVEL READ COMMITTED', async (tx) => {
        await tx.run(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
        await tx.run('CREATE TABLE IF NOT EXISTS keepsake_schema (version integer NOT NULL)');
        let row = await tx.get<{ version: number }>('SELECT version FROM keepsake_schema');
        if (row === undefined) {
          await tx.run('INSERT INTO keepsake_schema (version) VALUES (0)');
          row = { version: 0 };
        }
        check(row.version);
        const pending = steps.filter((s) => s.version > row.version);
        for (const s of pending) {
          // A script is several statements and has no parameters: sent as it is.
          await client.query(s.script);
          await tx.run('UPDATE keepsake_schema SET version = ?', [s.version]);
        }
      }),
    );
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
