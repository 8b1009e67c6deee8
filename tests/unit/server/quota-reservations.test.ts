// The quota across vault nodes (issue 14): an upload's reservation and a batch's are each one
// transaction with the check, in the index the nodes share, so two nodes asking for the last
// room at once cannot both have it. Run on a real PostgreSQL (two pools, as two nodes, where
// the loser of a race is retried) and on SQLite, which one process owns (the vault's lock
// file): there the two "nodes" are two requests on one index.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VaultIndex } from '../../../server/index/vault-index.js';
import { makeTempDir } from '../../support/paths.js';
import { startTestPostgres, type TestPostgres } from '../../support/postgres.js';

const hex = (c: string) => c.repeat(64).slice(0, 64);
const QUOTA = { quotaBytes: 100 };

describe('quota reservations shared by vault nodes', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let postgres: TestPostgres;
  let n = 0;
  before(async () => {
    temp = await makeTempDir('keepsake-quota-');
    postgres = await startTestPostgres();
  });
  after(async () => {
    await postgres.close();
    await temp.cleanup();
  });

  const engines = [
    {
      name: 'SQLite',
      location: () => Promise.resolve(join(temp.dir, `quota-${++n}.db`)),
      shared: false,
    },
    { name: 'PostgreSQL', location: () => postgres.createDatabase(), shared: true },
  ];

  for (const engine of engines) {
    describe(engine.name, () => {
      /** Two vault nodes on one index. */
      async function twoNodes(): Promise<[VaultIndex, VaultIndex]> {
        const location = await engine.location();
        const a = await VaultIndex.open(location);
        return [a, engine.shared ? await VaultIndex.open(location) : a];
      }

      it('gives the last room to one of two uploads created on two nodes at once', async () => {
        const [a, b] = await twoNodes();
        try {
          for (let round = 0; round < 5; round++) {
            const answers = await Promise.all([
              a.recordUploadCreated({ id: `a${round}`, sha256: hex('a'), size: 60, at: 1 }, QUOTA),
              b.recordUploadCreated({ id: `b${round}`, sha256: hex('b'), size: 60, at: 1 }, QUOTA),
            ]);
            assert.equal(answers.filter((x) => x === null).length, 1, `round ${round}: one fits`);
            assert.deepEqual(
              answers.find((x) => x !== null),
              { roomBytes: 40 },
            );
            assert.equal(await a.reservedBytes(), 60);
            for (const id of [`a${round}`, `b${round}`]) await a.forgetUpload(id);
          }
        } finally {
          await a.close();
          if (b !== a) await b.close();
        }
      });

      it("counts a batch's bytes on one node against an upload on another, until it ends", async () => {
        const [a, b] = await twoNodes();
        try {
          assert.equal(await a.reserveForBatch('batch1', 30, QUOTA.quotaBytes, 1), null);
          assert.equal(await a.reserveForBatch('batch1', 30, QUOTA.quotaBytes, 1), null);
          assert.equal(await b.reservedBytes(), 60, 'the other node sees the batch');
          assert.deepEqual(
            await b.recordUploadCreated({ id: 'u1', sha256: hex('c'), size: 50, at: 1 }, QUOTA),
            { roomBytes: 40 },
          );
          // A file of the batch refused after its bytes were reserved gives them back.
          await a.releaseFromBatch('batch1', 30);
          assert.equal(
            await b.recordUploadCreated({ id: 'u2', sha256: hex('c'), size: 50, at: 1 }, QUOTA),
            null,
          );
          assert.deepEqual(await a.reserveForBatch('batch2', 30, QUOTA.quotaBytes, 1), {
            roomBytes: 20,
          });
          await a.endBatchReservation('batch1');
          assert.equal(await b.reservedBytes(), 50, 'only the upload is left');
        } finally {
          await a.close();
          if (b !== a) await b.close();
        }
      });

      it('forgets the reservations a crash left, by their age', async () => {
        const [a, b] = await twoNodes();
        try {
          await a.reserveForBatch('old', 10, QUOTA.quotaBytes, 1_000);
          await a.reserveForBatch('new', 10, QUOTA.quotaBytes, 5_000);
          assert.equal(await b.forgetBatchReservationsBefore(2_000), 1);
          assert.equal(await b.reservedBytes(), 10);
        } finally {
          await a.close();
          if (b !== a) await b.close();
        }
      });
    });
  }
});
