// Devices on one vault (issue 13 sections 1 and 2), spoken to over HTTP on loopback: each
// device has its own token, a revoked one is refused at once with a message that says so,
// devices never touch each other's partial uploads, enrolment codes work once and expire,
// and heartbeats become health verdicts (silence measured on a clock the test moves).
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeviceCreated, DeviceJson, Heartbeat } from '../../common/vault-protocol.js';
import {
  postBatch,
  sha256Hex,
  startTestVault,
  tusCreate,
  tusHead,
  tusPatch,
  uploadBuffer,
  vaultFetch,
  TUS,
  type TestVault,
  type VaultEndpoint,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const DAY = 24 * 3600 * 1000;

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  assert.ok(res.ok, `${res.status} ${text}`);
  return JSON.parse(text) as T;
}

async function addDevice(vault: TestVault, name: string): Promise<DeviceCreated> {
  return json<DeviceCreated>(
    await vaultFetch(vault, '/api/v1/devices', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name }),
    }),
  );
}

async function listDevices(vault: TestVault): Promise<DeviceJson[]> {
  return (await json<{ devices: DeviceJson[] }>(await vaultFetch(vault, '/api/v1/devices')))
    .devices;
}

function as(vault: TestVault, token: string): VaultEndpoint {
  return { url: vault.url, token };
}

function heartbeat(overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    version: '0.9.0',
    os: 'linux test',
    counts: { backed_up: 3, queued: 0 },
    bytesPending: 0,
    oldestUnsafeAgeMs: null,
    lastError: null,
    paused: false,
    pausedReason: null,
    pass: 'backup',
    at: Date.now(),
    ...overrides,
  };
}

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: every device has its own token', () => {
      let vault: TestVault;
      let skew = 0;
      let revokedId = '';
      before(async () => {
        vault = await startTestVault({
          ...setup!.vaultOptions,
          previews: false,
          scrub: false,
          now: () => Date.now() + skew,
          fleet: { behindAfterMs: 2 * DAY, silentAfterMs: 5 * DAY },
        });
      });
      after(async () => {
        await vault?.close();
      });

      it('a device token uploads and registers places that carry its device id; the admin token still works', async () => {
        const laptop = await addDevice(vault, 'laptop');
        assert.match(laptop.token, /^ksd_/);
        const data = Buffer.from('laptop photo bytes');
        const up = await uploadBuffer(as(vault, laptop.token), data, { filename: 'a.jpg' });
        assert.equal(up.res.status, 201, up.text);
        const reg = await vaultFetch(as(vault, laptop.token), '/api/v1/locations', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            deviceId: 'client-laptop',
            deviceName: 'Laptop',
            locations: [
              { sha256: up.sha256, folder: 'Pictures', path: 'a.jpg', size: data.length },
            ],
          }),
        });
        assert.equal(reg.status, 200, await reg.text());
        const listed = (await listDevices(vault)).find((d) => d.name === 'laptop');
        assert.equal(listed?.filesSafe, 1);
        assert.equal(listed?.bytesSafe, data.length);
        assert.ok(listed.lastSeenAt !== null, 'last seen is recorded');
        // The admin token keeps working for everything, administration included.
        assert.equal((await vaultFetch(vault, '/api/v1/usage')).status, 200);
      });

      it("a device token cannot register or mark gone places in another device's name (403)", async () => {
        const intruder = await addDevice(vault, 'intruder');
        const data = Buffer.from('laptop photo bytes'); // held since the first test
        const body = (path: string) =>
          JSON.stringify({
            deviceId: 'client-laptop',
            deviceName: 'Laptop',
            locations: [{ sha256: sha256Hex(data), folder: 'Pictures', path, size: data.length }],
          });
        const post = (path: string, json: string) =>
          vaultFetch(as(vault, intruder.token), path, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: json,
          });
        assert.equal((await post('/api/v1/locations', body('a.jpg'))).status, 403);
        assert.equal((await post('/api/v1/locations/gone', body('a.jpg'))).status, 403);
        const laptop = (await listDevices(vault)).find((d) => d.name === 'laptop');
        assert.equal(laptop?.filesSafe, 1, "the laptop's place is untouched");
        // Under its own client id it registers as it likes.
        const own = await post(
          '/api/v1/locations',
          body('a.jpg').replace('client-laptop', 'client-x'),
        );
        assert.equal(own.status, 200, await own.text());
      });

      it('content a device uploads, by tus or in a batch, records that device as its uploader', async () => {
        const camera = await addDevice(vault, 'camera-pc');
        const big = Buffer.from('a tus upload from the camera pc');
        const small = Buffer.from('a batch upload from the camera pc');
        const up = await uploadBuffer(as(vault, camera.token), big, { filename: 'big.jpg' });
        assert.equal(up.res.status, 201, up.text);
        const batch = await postBatch(as(vault, camera.token), [
          { data: small, filename: 's.jpg' },
        ]);
        assert.equal(batch.status, 200, JSON.stringify(batch.json));
        const adminUp = await uploadBuffer(vault, Buffer.from('the admin token uploads this'), {
          filename: 'admin.jpg',
        });
        assert.equal(adminUp.res.status, 201, adminUp.text);
        const db = await setup!.openSql(vault.dataDir);
        try {
          const by = async (sha256: string) =>
            (
              await db.get<{ uploaded_by: string | null }>(
                'SELECT uploaded_by FROM assets WHERE sha256 = ?',
                [sha256],
              )
            )?.uploaded_by;
          assert.equal(await by(sha256Hex(big)), camera.id);
          assert.equal(await by(sha256Hex(small)), camera.id);
          assert.equal(await by(adminUp.sha256), null);
        } finally {
          await db.close();
        }
      });

      it('a device token cannot administer devices or read metrics', async () => {
        const phone = await addDevice(vault, 'phone');
        const forbidden = await vaultFetch(as(vault, phone.token), '/api/v1/devices');
        assert.equal(forbidden.status, 403);
        assert.equal((await vaultFetch(as(vault, phone.token), '/metrics')).status, 403);
        assert.equal((await vaultFetch(vault, '/metrics')).status, 200);
      });

      it('a revoked device is refused at once with "this device was revoked", and others go on', async () => {
        const old = await addDevice(vault, 'old-desktop');
        revokedId = old.id;
        const other = await addDevice(vault, 'new-desktop');
        assert.equal((await vaultFetch(as(vault, old.token), '/api/v1/usage')).status, 200);
        const revoked = await vaultFetch(vault, '/api/v1/devices/old-desktop/revoke', {
          method: 'POST',
        });
        assert.equal(revoked.status, 200, await revoked.text());
        const refused = await vaultFetch(as(vault, old.token), '/api/v1/usage');
        assert.equal(refused.status, 401);
        const body = (await refused.json()) as { error: string; message: string };
        assert.equal(body.error, 'device_revoked');
        assert.match(body.message, /this device was revoked/);
        assert.equal((await vaultFetch(as(vault, other.token), '/api/v1/usage')).status, 200);
        // The name is free again for a new machine.
        const again = await addDevice(vault, 'old-desktop');
        assert.notEqual(again.id, old.id);
      });

      it('rename keeps the device and its token', async () => {
        const d = await addDevice(vault, 'kitchen');
        const renamed = await vaultFetch(vault, '/api/v1/devices/kitchen/rename', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: 'study' }),
        });
        assert.equal(renamed.status, 200, await renamed.text());
        const names = (await listDevices(vault)).map((x) => x.name);
        assert.ok(names.includes('study') && !names.includes('kitchen'));
        assert.equal((await vaultFetch(as(vault, d.token), '/api/v1/usage')).status, 200);
      });

      it("a device cannot HEAD, PATCH or DELETE another device's partial upload (404)", async () => {
        const a = await addDevice(vault, 'device-a');
        const b = await addDevice(vault, 'device-b');
        const data = Buffer.alloc(4000, 3);
        const created = await tusCreate(as(vault, a.token), {
          size: data.length,
          metadata: { filename: 'p.jpg', sha256: sha256Hex(data) },
        });
        assert.equal(created.res.status, 201, created.text);
        const location = created.location!;
        assert.equal(
          (await tusPatch(as(vault, a.token), location, 0, data.subarray(0, 1000))).res.status,
          204,
        );

        assert.equal((await tusHead(as(vault, b.token), location)).status, 404);
        const patch = await tusPatch(as(vault, b.token), location, 1000, data.subarray(1000, 2000));
        assert.equal(patch.res.status, 404);
        const del = await vaultFetch(as(vault, b.token), location, {
          method: 'DELETE',
          headers: TUS,
        });
        assert.equal(del.status, 404);

        // Its owner still finds it where it left it; the admin token may look too.
        const head = await tusHead(as(vault, a.token), location);
        assert.equal(head.status, 200);
        assert.equal(head.offset, 1000);
        assert.equal((await tusHead(vault, location)).status, 200);
        const rest = await tusPatch(as(vault, a.token), location, 1000, data.subarray(1000));
        assert.equal(rest.res.status, 204, rest.text);
      });

      it('an enrolment code gives one device its token; used twice or expired it is refused', async () => {
        const enrolment = await json<{ code: string; expiresAt: number }>(
          await vaultFetch(vault, '/api/v1/enrolments', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ ttlMs: DAY }),
          }),
        );
        const enrol = (code: string, name: string) =>
          fetch(new URL('/api/v1/enrol', vault.url), {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ code, name }),
          });
        const first = await enrol(enrolment.code.toLowerCase(), 'laptop');
        const device = await json<DeviceCreated>(first);
        assert.equal(device.name, 'laptop (2)', 'a taken name is numbered');
        assert.equal((await vaultFetch(as(vault, device.token), '/api/v1/usage')).status, 200);

        const second = await enrol(enrolment.code, 'thief');
        assert.equal(second.status, 410);
        assert.match(((await second.json()) as { message: string }).message, /already used/);

        const short = await json<{ code: string }>(
          await vaultFetch(vault, '/api/v1/enrolments', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ ttlMs: 60_000 }),
          }),
        );
        skew += 120_000;
        try {
          const late = await enrol(short.code, 'late');
          assert.equal(late.status, 410);
          assert.match(((await late.json()) as { message: string }).message, /expired/);
        } finally {
          skew -= 120_000;
        }
        const unknown = await enrol('AAAA-BBBB-CCCC-DDDD-EEEE', 'x');
        assert.equal(unknown.status, 404);
      });

      it('heartbeats become verdicts: healthy, behind, failing, and silent once the clock passes the threshold', async () => {
        const names = ['hb-healthy', 'hb-behind', 'hb-failing', 'hb-quiet'];
        const tokens = new Map<string, string>();
        for (const n of names) tokens.set(n, (await addDevice(vault, n)).token);
        const beat = async (name: string, hb: Heartbeat) => {
          const res = await vaultFetch(as(vault, tokens.get(name)!), '/api/v1/heartbeat', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(hb),
          });
          assert.equal(res.status, 204, await res.text());
        };
        await beat('hb-healthy', heartbeat());
        await beat(
          'hb-behind',
          heartbeat({ pass: 'reconcile', bytesPending: 10, oldestUnsafeAgeMs: 3 * DAY }),
        );
        await beat(
          'hb-failing',
          heartbeat({ paused: true, pausedReason: 'vault_full', lastError: 'The vault is full' }),
        );
        await beat('hb-quiet', heartbeat());
        const verdicts = async () =>
          new Map((await listDevices(vault)).map((d) => [d.name, d] as const));
        let now = await verdicts();
        assert.equal(now.get('hb-healthy')?.verdict, 'healthy');
        assert.equal(now.get('hb-healthy')?.version, '0.9.0');
        assert.ok(now.get('hb-healthy')?.lastBackupAt !== null, 'a completed pass is a backup');
        assert.equal(now.get('hb-behind')?.verdict, 'behind');
        assert.equal(now.get('hb-behind')?.lastBackupAt, null);
        assert.equal(now.get('hb-failing')?.verdict, 'failing');
        assert.equal(now.get('hb-failing')?.lastBackupAt, null, 'a paused device did not complete');
        assert.equal(now.get('hb-quiet')?.verdict, 'healthy');

        // The same per device in Prometheus text, for an existing Alertmanager.
        const metrics = await (await vaultFetch(vault, '/metrics')).text();
        const sample = (name: string, device: string, extra = '') => {
          const line = metrics
            .split('\n')
            .find((l) => l.startsWith(`${name}{device="${device}",`) && l.includes(extra));
          assert.ok(line, `${name} for ${device} in:\n${metrics}`);
          return Number(line.split(' ').at(-1));
        };
        assert.ok(sample('keepsake_vault_device_last_backup_timestamp_seconds', 'hb-healthy') > 0);
        assert.equal(sample('keepsake_vault_device_last_backup_timestamp_seconds', 'hb-behind'), 0);
        assert.equal(sample('keepsake_vault_device_bytes_pending', 'hb-behind'), 10);
        assert.equal(
          sample('keepsake_vault_device_oldest_unsafe_age_seconds', 'hb-behind'),
          3 * 86400,
        );
        assert.equal(sample('keepsake_vault_device_verdict', 'hb-failing', 'verdict="failing"'), 1);
        assert.equal(sample('keepsake_vault_device_verdict', 'hb-failing', 'verdict="healthy"'), 0);
        assert.ok(
          revokedId !== '' && !metrics.includes(`id="${revokedId}"`),
          'revoked devices are left out',
        );

        skew += 6 * DAY;
        try {
          await beat('hb-healthy', heartbeat());
          now = await verdicts();
          assert.equal(now.get('hb-quiet')?.verdict, 'silent');
          assert.match(now.get('hb-quiet')?.verdictReason ?? '', /no heartbeat for 6 days/);
          assert.equal(now.get('hb-healthy')?.verdict, 'healthy');
        } finally {
          skew -= 6 * DAY;
        }
      });
    });
  });
}
