// `keepsake vault devices` and `keepsake vault enroll` on the index several vault nodes share
// (--index postgres://…, issue 14): a device added there is what every node sees, and an
// enrolment code made there is the shared index's. A real PostgreSQL (tests/support/postgres.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeviceJson } from '../../common/vault-protocol.js';
import { VaultIndex } from '../../server/index/vault-index.js';
import { describeRun, parseJsonOutput, runCli } from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';

describe('keepsake vault devices on a shared PostgreSQL index', () => {
  let postgres: TestPostgres;
  let temp: { dir: string; cleanup: () => Promise<void> };
  let url: string;
  before(async () => {
    temp = await makeTempDir('keepsake-devices-index-');
    postgres = await startTestPostgres();
    url = await postgres.createDatabase();
    await (await VaultIndex.open(url)).close(); // migrated, as a vault node's start leaves it
  });
  after(async () => {
    await postgres?.close();
    await temp?.cleanup();
  });

  const vaultCli = (args: string[]) =>
    runCli(['vault', ...args, '--data-dir', temp.dir, '--index', url, '--json'], {
      timeoutMs: 60_000,
    });

  it('adds, lists, renames and revokes devices, and makes enrolment codes, in the shared index', async () => {
    const added = await vaultCli(['devices', 'add', 'desk']);
    assert.equal(added.code, 0, describeRun(added));
    assert.match(parseJsonOutput<{ token: string }>(added).token, /^ksd_/);
    const again = await vaultCli(['devices', 'add', 'desk']);
    assert.equal(again.code, 1, describeRun(again));
    assert.match(again.stderr, /already exists/);
    assert.equal((await vaultCli(['devices', 'rename', 'desk', 'front desk'])).code, 0);
    assert.equal((await vaultCli(['devices', 'revoke', 'front desk'])).code, 0);
    const enrol = await vaultCli(['enroll']);
    assert.equal(enrol.code, 0, describeRun(enrol));
    assert.match(parseJsonOutput<{ code: string }>(enrol).code, /^[A-Z2-9]{4}(-[A-Z2-9]{4}){4}$/);

    const listed = await vaultCli(['devices', 'list']);
    assert.equal(listed.code, 0, describeRun(listed));
    const { devices } = parseJsonOutput<{ devices: DeviceJson[] }>(listed);
    assert.deepEqual(
      devices.map((d) => [d.name, d.revokedAt !== null]),
      [['front desk', true]],
    );
    const index = await VaultIndex.open(url);
    try {
      assert.equal((await index.devices.list()).length, 1, 'the shared index holds the device');
    } finally {
      await index.close();
    }
  });
});
