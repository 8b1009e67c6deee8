// What the vault found when it last re-read each asset, and the scrubber's place, on both
// index engines (a SQLite file and a real PostgreSQL); the shared pass also from two vault
// nodes at once, each with its own connections to one PostgreSQL.
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { HealthStore, type ScrubStep } from '../../../server/index/health-store.js';
import type { SqlDatabase } from '../../../server/index/sql.js';
import { closeIndexEngines, indexEngines } from '../../support/index-engines.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');

async function addAssets(sql: SqlDatabase, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await sql.run(
      `INSERT INTO assets (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at)
       VALUES (?, 10, NULL, 'other', ?, NULL, NULL, 1000)`,
      [hex(i), `f${i}`],
    );
  }
}

after(closeIndexEngines);

for (const engine of indexEngines)
  describe(`health store on ${engine.name}`, () => {
    let sql: SqlDatabase;
    let health: HealthStore;
    beforeEach(async () => {
      sql = await engine.open();
      health = new HealthStore(sql);
    });
    afterEach(() => sql.close());

    it('a problem keeps the moment it was first found until ok again, and each finding says what it replaced', async () => {
      const sha = hex(1);
      assert.equal(await health.record(sha, 'damaged', 10), undefined);
      assert.equal(await health.record(sha, 'missing', 20), 'damaged');
      assert.deepEqual(await health.get(sha), {
        state: 'missing',
        checkedAt: 20,
        problemSince: 10,
      });
      assert.equal(await health.problem(sha), 'missing');
      assert.equal(await health.record(sha, 'ok', 30), 'missing');
      assert.deepEqual(await health.get(sha), { state: 'ok', checkedAt: 30, problemSince: null });
      assert.equal(await health.problem(sha), undefined);
      assert.equal(await health.record(sha, 'ok', 40), undefined);
      assert.equal(await health.get(hex(2)), undefined);
    });

    it('tells the known problems among many hashes, and how many of each', async () => {
      await health.record(hex(1), 'damaged', 1);
      await health.record(hex(2), 'missing', 1);
      await health.record(hex(3), 'ok', 1);
      const asked = Array.from({ length: 1200 }, (_, i) => hex(i + 1));
      assert.deepEqual([...(await health.problems(asked))].sort(), [
        [hex(1), 'damaged'],
        [hex(2), 'missing'],
      ]);
      assert.deepEqual(await health.counts(), { damaged: 1, missing: 1 });
    });

    it('keeps the scrubber place across a reopen of the store', async () => {
      assert.deepEqual(await health.scrubPlace(), {
        cursor: 0,
        passStartedAt: 0,
        lastFullPassAt: 0,
      });
      await health.saveScrubPlace({ cursor: 7, passStartedAt: 5, lastFullPassAt: 3 });
      assert.deepEqual(await new HealthStore(sql).scrubPlace(), {
        cursor: 7,
        passStartedAt: 5,
        lastFullPassAt: 3,
      });
    });

    it('scrubbers on several vault nodes share one pass: each asset is claimed once', async () => {
      const period = 10_000;
      assert.deepEqual(await health.nextScrubStep(3, 1000, period), { kind: 'empty' });
      await addAssets(sql, 10);
      const other = await engine.otherNode(sql);
      try {
        const claimed: string[] = [];
        let started = 0;
        let done = 0;
        // Three scrubbers (two on the other node) ask at once, each until no pass is due.
        const node = async (store: HealthStore): Promise<ScrubStep['kind']> => {
          for (;;) {
            const step = await store.nextScrubStep(3, 2000, period);
            if (step.kind === 'stretch') {
              claimed.push(...step.assets.map((a) => a.sha256));
              if (step.started) started += 1;
            } else if (step.kind === 'passDone') done += 1;
            else return step.kind;
          }
        };
        const ends = await Promise.all([
          node(health),
          node(new HealthStore(other)),
          node(new HealthStore(other)),
        ]);
        assert.deepEqual(ends, ['between', 'between', 'between']);
        assert.deepEqual(
          claimed.sort(),
          Array.from({ length: 10 }, (_, i) => hex(i + 1)),
        );
        assert.deepEqual([started, done], [1, 1]);
        assert.deepEqual(await health.scrubPlace(), {
          cursor: 0,
          passStartedAt: 2000,
          lastFullPassAt: 2000,
        });
        // A period after the pass began, the next one begins, from the first asset.
        const next = await health.nextScrubStep(3, 2000 + period, period);
        assert.ok(next.kind === 'stretch' && next.started);
        assert.deepEqual(
          next.assets.map((a) => a.sha256),
          [hex(1), hex(2), hex(3)],
        );
      } finally {
        if (other !== sql) await other.close();
      }
    });
  });
