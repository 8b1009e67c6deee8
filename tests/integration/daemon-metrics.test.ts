// A daemon enrolled with a code (`keepsake daemon --enroll CODE --to URL --ui-port 0`) backs up
// to a real vault on loopback, serves its own Prometheus /metrics on the UI port behind the UI
// token, and its heartbeats reach the vault's device list (issue 13 section 2).
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceJson, EnrolmentCreated } from '../../common/vault-protocol.js';
import { killAllChildren, startDaemon, waitFor, type DaemonHandle } from '../support/cli.js';
import { corpusRoot, makeTempDir } from '../support/paths.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';

/** Prometheus text format 0.0.4, strictly: every sample named, typed and a number. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      typed.add(type[1]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample: ${line}`);
    assert.ok(typed.has(m[1]!), `${m[1]} has no # TYPE before it`);
    const value = m[3] === 'NaN' ? Number.NaN : Number(m[3]);
    assert.ok(m[3] === 'NaN' || Number.isFinite(value), `not a number: ${line}`);
    samples.set(m[1]! + (m[2] ?? ''), value);
  }
  return samples;
}

describe('daemon: enrolled with a code, its /metrics scraped, its heartbeat on the vault', () => {
  let vault: TestVault;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let daemon: DaemonHandle | undefined;
  before(async () => {
    vault = await startTestVault({ previews: false, scrub: false });
    temp = await makeTempDir('keepsake-daemon-metrics-');
  });
  after(async () => {
    daemon?.terminate();
    await daemon?.waitForExit(30_000).catch(() => {});
    await killAllChildren();
    await vault?.close();
    await temp?.cleanup();
  });

  it('serves counts, bytes and the last full backup as Prometheus text, only with its token', async () => {
    const enrolment = (await (
      await vaultFetch(vault, '/api/v1/enrolments', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ttlMs: 3600_000 }),
      })
    ).json()) as EnrolmentCreated;
    const photos = join(temp.dir, 'photos');
    await cp(join(corpusRoot, 'exifr-fixtures', 'orientation'), photos, { recursive: true });
    daemon = startDaemon([
      '--data-dir',
      join(temp.dir, 'data'),
      '--enroll',
      enrolment.code,
      '--to',
      vault.url,
      '--folder',
      photos,
      '--ui-port',
      '0',
    ]);
    const [, uiUrl] = await daemon.waitForOutput(/^ui (\S+)$/m);
    const ui = new URL(uiUrl!);
    const token = ui.searchParams.get('token')!;
    const scrape = (auth: boolean) =>
      fetch(new URL('/metrics', ui.origin), {
        headers: auth ? { Authorization: `Bearer ${token}` } : {},
      });

    assert.equal((await scrape(false)).status, 401, 'no token, no metrics');
    const done = await waitFor(
      async () => {
        const res = await scrape(true);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
        const m = parsePrometheus(await res.text());
        return (m.get('keepsake_last_full_backup_timestamp_seconds') ?? 0) > 0 &&
          (m.get('keepsake_files{state="backed_up"}') ?? 0) > 0
          ? m
          : undefined;
      },
      { timeoutMs: 120_000, what: 'the daemon to report a complete backup in /metrics' },
    );
    assert.equal(done.get('keepsake_bytes_pending'), 0);
    assert.ok((done.get('keepsake_upload_bytes_total') ?? 0) > 0);
    assert.equal(done.get('keepsake_vault_reachable'), 1);
    assert.equal(done.get('keepsake_paused'), 0);
    assert.ok((done.get('keepsake_seconds_since_full_backup') ?? Number.NaN) >= 0);

    // The daemon is its own device on the vault, and its heartbeat says it is healthy.
    const device = await waitFor(
      async () => {
        const { devices } = (await (await vaultFetch(vault, '/api/v1/devices')).json()) as {
          devices: DeviceJson[];
        };
        return devices.find((d) => d.lastBackupAt !== null);
      },
      { timeoutMs: 60_000, what: "the daemon's heartbeat after its backup" },
    );
    assert.equal(device.verdict, 'healthy');
    assert.equal(device.heartbeat?.bytesPending, 0);
    assert.equal(device.filesSafe, done.get('keepsake_files{state="backed_up"}'));
  });
});
