// Damages a SQLite database the way a failing disk does, under a connection that stays open.
import assert from 'node:assert/strict';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';

const pageSize = 4096;

/**
 * Damages every page of one table in the database file (the WAL first checkpointed into it,
 * the header left whole), then commits one small change through another connection: a
 * connection left open drops its page cache at its next read, as after any other writer, and
 * meets the damage. The open connection must hold no transaction (commit its group first).
 */
export function damageTable(dbFile: string, table = 'files'): void {
  const probe = new Database(dbFile);
  let pages: number[];
  try {
    probe.pragma('wal_checkpoint(TRUNCATE)');
    const rows = probe.prepare(`SELECT pageno FROM dbstat WHERE name = ?`).all(table) as {
      pageno: number;
    }[];
    pages = rows.map((r) => r.pageno);
  } finally {
    probe.close();
  }
  assert.ok(pages.length > 0 && !pages.includes(1), `${table} pages: ${pages.join(',')}`);
  const garbage = Buffer.alloc(pageSize, 0x5a);
  const fd = openSync(dbFile, 'r+');
  try {
    for (const p of pages) writeSync(fd, garbage, 0, pageSize, (p - 1) * pageSize);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const poke = new Database(dbFile);
  try {
    poke
      .prepare(
        `INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('test.poke', '1', 0)`,
      )
      .run();
  } finally {
    poke.close();
  }
}
