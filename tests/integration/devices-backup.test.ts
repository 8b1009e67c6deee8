// Many devices, one vault (issue 13 section 1), as an administrator and two computers use it:
// `keepsake vault devices add` prints each computer its token, both back up at once to one
// real vault on loopback, the places each registers carry its own device, and revoking one
// mid-upload stops that computer with "this device was revoked" while the other finishes.
// Enrolment: `keepsake vault enroll` prints a code, `backup --enroll CODE --to URL` makes the
// computer its own device and remembers it, and the same code is refused the second time.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceJson, Usage } from '../../common/vault-protocol.js';
import {
  type BackupSummary,
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
  waitFor,
} from '../support/cli.js';
import { corpusRoot, makeTempDir } from '../support/paths.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';
import { blobBackends, cliArgsFor, type BlobBackendSetup } from '../support/blob-backends.js';

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('devices: two computers back up to one vault, each with its own token', () => {
      let vault: TestVault;
      let temp: Awaited<ReturnType<typeof makeTempDir>>;
      before(async () => {
        vault = await startTestVault({ ...setup!.vaultOptions, previews: false, scrub: false });
        temp = await makeTempDir('keepsake-devices-');
      });
      after(async () => {
        await killAllChildren();
        await vault?.close();
        await temp?.cleanup();
      });

      const vaultCli = (args: string[]) =>
        runCli(
          [
            'vault',
            ...args,
            '--data-dir',
            vault.dataDir,
            ...cliArgsFor({ index: setup!.vaultOptions.index }),
          ],
          { timeoutMs: 60_000 },
        );

      async function listDevices(): Promise<Map<string, DeviceJson>> {
        const r = await vaultCli(['devices', 'list', '--json']);
        assert.equal(r.code, 0, describeRun(r));
        const { devices } = parseJsonOutput<{ devices: DeviceJson[] }>(r);
        return new Map(devices.map((d) => [d.name, d]));
      }

      it('revoking one computer mid-upload stops it with "this device was revoked"; the other finishes, and places and usage are per device', async () => {
        const tokens = new Map<string, string>();
        for (const name of ['laptop', 'desktop']) {
          const r = await vaultCli(['devices', 'add', name, '--json']);
          assert.equal(r.code, 0, describeRun(r));
          tokens.set(name, parseJsonOutput<{ token: string }>(r).token);
        }
        const laptopPhotos = join(temp.dir, 'laptop-photos');
        const desktopPhotos = join(temp.dir, 'desktop-photos');
        await cp(join(corpusRoot, 'osxphotos', 'media_types'), laptopPhotos, { recursive: true });
        await cp(join(corpusRoot, 'exifr-fixtures'), desktopPhotos, { recursive: true });

        // The laptop is slow (a 256 KiB/s cap), so it is still sending when it is revoked.
        const laptop = runCli(
          [
            'backup',
            laptopPhotos,
            '--to',
            vault.url,
            '--token',
            tokens.get('laptop')!,
            '--data-dir',
            join(temp.dir, 'laptop-data'),
            '--bwlimit',
            '256K',
            '--chunk-size',
            '256K',
            '--json',
          ],
          { timeoutMs: 120_000 },
        );
        const desktop = runCli(
          [
            'backup',
            desktopPhotos,
            '--to',
            vault.url,
            '--token',
            tokens.get('desktop')!,
            '--data-dir',
            join(temp.dir, 'desktop-data'),
            '--json',
          ],
          { timeoutMs: 120_000 },
        );

        // Mid-upload: the vault holds a partial the laptop's token created.
        const laptopId = (await listDevices()).get('laptop')!.id;
        const db = await setup!.openSql(vault.dataDir);
        try {
          await waitFor(
            async () =>
              (await db.get<{ n: number }>(
                "SELECT count(*) AS n FROM uploads WHERE owner = ? AND state = 'receiving'",
                [laptopId],
              ))!.n > 0 || undefined,
            { timeoutMs: 60_000, what: "the laptop's upload in progress" },
          );
        } finally {
          await db.close();
        }
        const revoked = await vaultCli(['devices', 'revoke', 'laptop']);
        assert.equal(revoked.code, 0, describeRun(revoked));

        const [l, d] = await Promise.all([laptop, desktop]);
        assert.equal(d.code, 0, describeRun(d));
        assert.notEqual(l.code, 0, describeRun(l));
        assert.ok(!l.timedOut, describeRun(l));
        assert.match(l.stderr, /this device was revoked/, describeRun(l));
        const laptopSummary = parseJsonOutput<BackupSummary & { stopped?: { message: string } }>(l);
        assert.match(laptopSummary.stopped?.message ?? '', /this device was revoked/);

        const desktopSummary = parseJsonOutput<BackupSummary>(d);
        const devices = await listDevices();
        const desk = devices.get('desktop')!;
        assert.equal(desk.filesSafe, desktopSummary.backedUp + desktopSummary.duplicates);
        assert.ok(desk.bytesSafe > 0);
        assert.ok(desk.lastSeenAt !== null);
        // Its heartbeat at the end of the run: a completed backup, healthy, with its version.
        assert.ok(desk.lastBackupAt !== null, JSON.stringify(desk));
        assert.equal(desk.verdict, 'healthy', JSON.stringify(desk));
        assert.equal(desk.version, '0.1.0');
        assert.equal(desk.heartbeat?.bytesPending, 0);
        assert.equal(desk.heartbeat?.counts.backed_up, desktopSummary.backedUp);
        assert.ok(devices.get('laptop')!.revokedAt !== null);

        // Usage per device: the desktop's places are its own, none of the laptop's are there.
        const usage = (await (await vaultFetch(vault, '/api/v1/usage')).json()) as Usage;
        const byFiles = usage.byDevice.map((x) => x.files).sort((a, b) => a - b);
        assert.ok(byFiles.includes(desk.filesSafe), JSON.stringify(usage.byDevice));
      });

      it('an enrolment code makes a computer its own device once; the same code is refused after', async () => {
        const issued = await vaultCli(['enroll', '--ttl', '7d', '--json']);
        assert.equal(issued.code, 0, describeRun(issued));
        const { code } = parseJsonOutput<{ code: string }>(issued);
        const photos = join(temp.dir, 'enrolled-photos');
        await cp(join(corpusRoot, 'exifr-fixtures', 'orientation'), photos, { recursive: true });
        const dataDir = join(temp.dir, 'enrolled-data');
        const first = await runCli(
          ['backup', photos, '--enroll', code, '--to', vault.url, '--data-dir', dataDir, '--json'],
          { timeoutMs: 120_000 },
        );
        assert.equal(first.code, 0, describeRun(first));
        assert.equal(parseJsonOutput<{ vault: { url: string } }>(first).vault.url, vault.url);

        // The next run needs neither flag: the vault and this device's token were remembered.
        const again = await runCli(['backup', photos, '--data-dir', dataDir, '--json'], {
          timeoutMs: 120_000,
        });
        assert.equal(again.code, 0, describeRun(again));
        const summary = parseJsonOutput<{ vault: { url: string; embedded: boolean } }>(again);
        assert.equal(summary.vault.url, vault.url);
        assert.equal(summary.vault.embedded, false);
        const enrolledDevice = [...(await listDevices()).values()].find(
          (x) => x.revokedAt === null && x.filesSafe > 0 && !['laptop', 'desktop'].includes(x.name),
        );
        assert.ok(enrolledDevice, 'the enrolled computer is a device with its own places');

        const reused = await runCli(
          [
            'backup',
            photos,
            '--enroll',
            code,
            '--to',
            vault.url,
            '--data-dir',
            join(temp.dir, 'other-data'),
          ],
          { timeoutMs: 60_000 },
        );
        assert.equal(reused.code, 2, describeRun(reused));
        assert.match(reused.stderr, /already used/);
      });
    });
  });
}
