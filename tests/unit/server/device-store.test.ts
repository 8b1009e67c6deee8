// The devices and enrolments tables through DeviceStore, on real engines: a code makes one
// device however many clients present it at once, live names stay unique, a revoked device's
// heartbeat is refused. Each rule is one transaction (See [Note: Device rules are one
// transaction] in server/index/device-store.ts), so each test also runs with every
// transaction's work run twice, the first run rolled back, as PostgreSQL's retry does.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeviceStore } from '../../../server/index/device-store.js';
import type { Sql } from '../../../server/index/sql.js';
import { closeIndexEngines, enginesWithRerun } from '../../support/index-engines.js';

const digest = (s: string) => Buffer.from(s.padEnd(32, '.'));

after(async () => {
  await closeIndexEngines();
});

for (const engine of enginesWithRerun) {
  describe(`device store (${engine.name})`, () => {
    let store: DeviceStore;
    let sql: Sql;
    let close: () => Promise<void>;
    before(async () => {
      const db = await engine.open();
      sql = db;
      store = new DeviceStore(db);
      close = () => db.close();
    });
    after(async () => {
      await close();
    });

    it('an enrolment code makes one device when two clients present it at once', async () => {
      await store.addEnrolment(digest('code-once'), 1, 1000);
      const outcomes = await Promise.all(
        ['a', 'b'].map((c) =>
          store.enrol(digest('code-once'), 10, {
            id: `dev_once_${c}`,
            name: `once ${c}`,
            tokenSha256: digest(`token-once-${c}`),
          }),
        ),
      );
      assert.deepEqual(outcomes.map((o) => (o.ok ? 'ok' : o.reason)).sort(), ['ok', 'used']);
      const made = (await store.list()).filter((d) => d.name.startsWith('once '));
      assert.equal(made.length, 1);
      assert.equal(
        await store
          .enrol(digest('code-once'), 20, {
            id: 'dev_once_c',
            name: 'once c',
            tokenSha256: digest('token-once-c'),
          })
          .then((o) => (o.ok ? 'ok' : o.reason)),
        'used',
      );
    });

    it('two clients enrolling with the same name at once get distinct names', async () => {
      await store.addEnrolment(digest('code-laptop-1'), 1, 1000);
      await store.addEnrolment(digest('code-laptop-2'), 1, 1000);
      const outcomes = await Promise.all(
        [1, 2].map((n) =>
          store.enrol(digest(`code-laptop-${n}`), 10, {
            id: `dev_laptop_${n}`,
            name: 'laptop',
            tokenSha256: digest(`token-laptop-${n}`),
          }),
        ),
      );
      assert.deepEqual(outcomes.map((o) => (o.ok ? o.device.name : o.reason)).sort(), [
        'laptop',
        'laptop (2)',
      ]);
    });

    it('an expired or unknown code makes no device', async () => {
      await store.addEnrolment(digest('code-old'), 1, 5);
      const device = { id: 'dev_late', name: 'late', tokenSha256: digest('token-late') };
      const expired = await store.enrol(digest('code-old'), 6, device);
      const unknown = await store.enrol(digest('code-never'), 6, device);
      assert.deepEqual(
        [expired, unknown],
        [
          { ok: false, reason: 'expired' },
          { ok: false, reason: 'unknown' },
        ],
      );
      assert.equal(await store.byId('dev_late'), undefined);
    });

    it('a live name is refused to a second device until its holder is revoked', async () => {
      const desk = (n: number) => ({
        id: `dev_desk_${n}`,
        name: 'desk',
        tokenSha256: digest(`token-desk-${n}`),
        at: n,
      });
      const [one, two] = await Promise.all([store.add(desk(1)), store.add(desk(2))]);
      assert.deepEqual([one, two].map((d) => (d === 'name_taken' ? d : 'added')).sort(), [
        'added',
        'name_taken',
      ]);
      const revoked = await store.revokeByName('desk', 50);
      assert.equal(revoked?.revokedAt, 50);
      assert.equal(await store.revokeByName('desk', 60), undefined, 'no live desk is left');
      const again = await store.add(desk(3));
      assert.notEqual(again, 'name_taken');
      assert.equal((await store.liveByName('desk'))?.id, 'dev_desk_3');
    });

    it('a rename refuses a name another live device holds, and an unknown device', async () => {
      for (const name of ['red', 'blue']) {
        await store.add({ id: `dev_${name}`, name, tokenSha256: digest(`t-${name}`), at: 1 });
      }
      assert.equal(await store.renameLive('red', 'blue'), 'name_taken');
      assert.equal(await store.renameLive('green', 'teal'), 'not_found');
      const renamed = await store.renameLive('red', 'crimson');
      assert.equal(renamed !== 'name_taken' && renamed !== 'not_found' && renamed.name, 'crimson');
      assert.equal((await store.renameLive('blue', 'blue')) !== 'name_taken', true);
    });

    it('finds a device by its token digest and counts the live places its token registered', async () => {
      await store.add({ id: 'dev_tok', name: 'tok', tokenSha256: digest('t-tok'), at: 1 });
      const found = await store.byTokenHash(digest('t-tok'));
      assert.deepEqual([found?.id, found?.tokenSha256], ['dev_tok', digest('t-tok')]);
      assert.equal(await store.byTokenHash(digest('t-none')), undefined);
      await sql.run(
        `INSERT INTO locations (sha256, device_id, device_name, folder, path, size, first_seen,
           last_seen, gone_at, vault_device)
         VALUES (?, 'c', 'C', 'F', ?, ?, 1, 1, ?, 'dev_tok')`,
        ['a'.repeat(64), Buffer.from('x'), 7, null],
      );
      await sql.run(
        `INSERT INTO locations (sha256, device_id, device_name, folder, path, size, first_seen,
           last_seen, gone_at, vault_device)
         VALUES (?, 'c', 'C', 'F', ?, ?, 1, 1, ?, 'dev_tok')`,
        ['b'.repeat(64), Buffer.from('y'), 5, 2],
      );
      assert.deepEqual(await store.safeTotals('dev_tok'), { files: 1, bytes: 7 });
      assert.deepEqual(await store.safeTotals('dev_none'), { files: 0, bytes: 0 });
      assert.deepEqual((await store.safeTotalsByDevice()).get('dev_tok'), { files: 1, bytes: 7 });
    });

    it('refuses a revoked device heartbeat and never moves the last backup back', async () => {
      await store.add({ id: 'dev_beat', name: 'beat', tokenSha256: digest('t-beat'), at: 1 });
      assert.equal(await store.recordHeartbeat('dev_beat', '{"n":1}', 100, 100), true);
      assert.equal(await store.recordHeartbeat('dev_beat', '{"n":2}', 200, 90), true);
      assert.equal(await store.recordHeartbeat('dev_beat', '{"n":3}', 300, null), true);
      let d = await store.byId('dev_beat');
      assert.deepEqual([d?.heartbeatAt, d?.lastBackupAt, d?.heartbeat], [300, 100, '{"n":3}']);
      await store.revokeByName('beat', 400);
      assert.equal(await store.recordHeartbeat('dev_beat', '{"n":4}', 500, 500), false);
      await store.markSeen('dev_beat', 600);
      d = await store.byId('dev_beat');
      assert.deepEqual(
        [d?.heartbeatAt, d?.lastBackupAt, d?.lastSeenAt, d?.revokedAt],
        [300, 100, 300, 400],
      );
    });
  });
}
