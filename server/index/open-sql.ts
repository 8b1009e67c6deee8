// Which engine holds the vault index, from the one string an operator gives (`--index`):
// a postgres:// or postgresql:// URL is a PostgreSQL shared by vault nodes (issue 14),
// anything else the path of a SQLite file on this machine (the default, under --data-dir).
//
// Credentials never need the command line, where every user of the machine can read them in
// the process list: pg takes the password from the URL when it has one, else from the
// standard PGPASSWORD variable or the PGPASSFILE file (default ~/.pgpass), and PGHOST,
// PGUSER, PGDATABASE fill in what the URL leaves out. Messages name the URL without its
// password (SqlDatabase.description).
import { PostgresSql, type PostgresSqlOptions } from './postgres-sql.js';
import type { SqlDatabase } from './sql.js';
import { SqliteSql } from './sqlite-sql.js';

/** True when `location` names a PostgreSQL server rather than a SQLite file. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

export function openSqlDatabase(
  location: string,
  options: PostgresSqlOptions = {},
): Promise<SqlDatabase> {
  try {
    const db: SqlDatabase = isPostgresLocation(location)
      ? new PostgresSql(location, options)
      : new SqliteSql(location);
    return Promise.resolve(db);
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}
