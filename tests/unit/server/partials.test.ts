// The idle clock of partial uploads (server/partials.ts), on real files with a clock the test
// sets: a partial is expired only after a whole TTL without a stored byte, however old it
// is, and its removal is what releases its reservation.
import assert from 'node:assert/strict';
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AbandonedPartials, type ReceivingUpload } from '../../../server/partials.js';
import { silentVaultLogger } from '../../../server/logger.js';
import { makeTempDir } from '../../support/paths.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('abandoned partials', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    temp = await makeTempDir('keepsake-partials-');
  });
  after(() => temp.cleanup());

  async function setUp(uploads: { id: string; createdAt: number; lastByteAt?: number }[]) {
    let now = T0;
    const live = new Map<string, ReceivingUpload>();
    for (const u of uploads) {
      const path = join(temp.dir, u.id);
      await writeFile(path, 'some bytes');
      const mtime = new Date(u.lastByteAt ?? u.createdAt);
      await utimes(path, mtime, mtime);
      live.set(u.id, { id: u.id, createdAt: u.createdAt });
    }
    const partials = new AbandonedPartials({
      ttlMs: 24 * HOUR,
      now: () => now,
      partialPath: (id) => join(temp.dir, id),
      receiving: () => Promise.resolve([...live.values()]),
      remove: (id) => {
        live.delete(id);
        return Promise.resolve();
      },
      logger: silentVaultLogger,
    });
    return { partials, live, setNow: (t: number) => (now = t) };
  }

  it('an upload that keeps receiving bytes is kept, however long ago it was created', async () => {
    const { partials, live, setNow } = await setUp([
      { id: 'old-but-busy', createdAt: T0 - 72 * HOUR, lastByteAt: T0 - HOUR },
      { id: 'abandoned', createdAt: T0 - 30 * HOUR, lastByteAt: T0 - 25 * HOUR },
      { id: 'fresh', createdAt: T0 - HOUR },
    ]);
    setNow(T0);
    assert.equal(await partials.expireIdle(), 1);
    assert.deepEqual([...live.keys()].sort(), ['fresh', 'old-but-busy']);
    assert.equal(await partials.expiresAt('old-but-busy', T0 - 72 * HOUR), T0 + 23 * HOUR);
  });

  it('the clock starts at creation for a partial that never received a byte', async () => {
    const created = T0 - 2 * HOUR;
    // an empty partial's mtime is its creation; an older mtime (a clock step) does not count
    const { partials, live, setNow } = await setUp([
      { id: 'empty', createdAt: created, lastByteAt: created - 48 * HOUR },
    ]);
    assert.equal(await partials.lastActivity('empty', created), created);
    setNow(created + 24 * HOUR);
    assert.equal(await partials.expireIdle(), 0, 'exactly the TTL is not yet past it');
    setNow(created + 24 * HOUR + 1);
    assert.equal(await partials.expireIdle(), 1);
    assert.equal(live.size, 0);
  });
});
