// A Sql (server/index/sql.ts) that runs every transaction's work twice: once to the end and
// rolled back, then again for real, as PostgreSQL's driver does with a transaction that lost
// a race (See [Note: Transactions are the only atomicity] in server/index/sql.ts). A store
// whose work carries anything from one run to the next (an array filled outside it, a value
// read before it) answers differently through this wrapper than through the engine itself,
// which a test of that store can then see on SQLite alone.
import type { Sql, SqlDatabase, SqlParams, SqlRunResult } from '../../server/index/sql.js';

class RolledBackOnPurpose extends Error {}

export class RerunEveryTransaction implements SqlDatabase {
  readonly dialect;
  readonly description;
  /** Transactions run twice so far. */
  reruns = 0;

  constructor(private readonly inner: SqlDatabase) {
    this.dialect = inner.dialect;
    this.description = inner.description;
  }

  schemaVersion(): Promise<number> {
    return this.inner.schemaVersion();
  }

  migrate(
    steps: readonly { version: number; script: string }[],
    check: (current: number) => void,
  ): Promise<void> {
    return this.inner.migrate(steps, check);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get<T>(text: string, params?: SqlParams): Promise<T | undefined> {
    return this.inner.get<T>(text, params);
  }

  all<T>(text: string, params?: SqlParams): Promise<T[]> {
    return this.inner.all<T>(text, params);
  }

  run(text: string, params?: SqlParams): Promise<SqlRunResult> {
    return this.inner.run(text, params);
  }

  async transaction<T>(work: (tx: Sql) => Promise<T>, options?: { durable?: boolean }): Promise<T> {
    const purpose = new RolledBackOnPurpose('the first run of this work is rolled back');
    try {
      await this.inner.transaction(async (tx) => {
        await work(tx);
        throw purpose;
      }, options);
    } catch (e) {
      if (e !== purpose) throw e;
    }
    this.reruns++;
    return this.inner.transaction(work, options);
  }
}
