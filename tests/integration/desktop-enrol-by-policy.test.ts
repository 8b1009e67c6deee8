// The desktop app's first start on a computer IT deployed (issue 13): the policy names the
// vault and an enrolment code, and startHost({enrolByPolicy: true}), which is exactly what
// main/app/main.ts calls, enrols this computer with no clicks, keeps its own device token
// (in the secret store the desktop passes) and backs up to that vault. Later starts use the
// kept token and spend no code; a used code on another computer is logged and the start goes
// on. A real vault on loopback, a real policy file, the real engine; no Electron (the desktop's
// safeStorage is the port main/app/ fills, here a reversible stand-in as in host-restart).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceJson } from '../../common/vault-protocol.js';
import { startHost } from '../../main/host/host.js';
import type { Logger } from '../../main/engine/ports.js';
import { createSecretStore, type SafeStoragePort } from '../../main/engine/secret-store.js';
import { makeTempDir } from '../support/paths.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';

const fakeSafeStorage: SafeStoragePort = {
  isEncryptionAvailable: () => true,
  encryptString: (plain) => Buffer.from(Buffer.from(plain, 'utf8').map((b) => b ^ 0x5a)),
  decryptString: (enc) => Buffer.from(enc.map((b) => b ^ 0x5a)).toString('utf8'),
};

/** A logger that keeps what was said, for the assertions on warnings. */
function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: () => {},
    info: (msg) => void lines.push(`info ${msg}`),
    warn: (msg, fields) => void lines.push(`warn ${msg} ${JSON.stringify(fields ?? {})}`),
    error: (msg, fields) => void lines.push(`error ${msg} ${JSON.stringify(fields ?? {})}`),
    child: () => logger,
  };
  return logger;
}

describe('desktop first start: enrolment by policy', () => {
  let vault: TestVault;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let policyFile: string;
  before(async () => {
    vault = await startTestVault({ previews: false, scrub: false });
    temp = await makeTempDir('keepsake-desktop-enrol-');
    const res = await vaultFetch(vault, '/api/v1/enrolments', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ttlMs: 86_400_000 }),
    });
    assert.equal(res.status, 201);
    const { code } = (await res.json()) as { code: string };
    policyFile = join(temp.dir, 'policy.json');
    await writeFile(
      policyFile,
      JSON.stringify({ vaultUrl: vault.url, enrollmentCode: code, locked: ['vaultUrl'] }),
    );
  });
  after(async () => {
    await vault?.close();
    await temp?.cleanup();
  });

  const start = (dataDir: string, lines: string[]) =>
    startHost({
      dataDir,
      logger: recordingLogger(lines),
      secrets: createSecretStore(dataDir, { safeStorage: fakeSafeStorage }),
      vault: null,
      enrolByPolicy: true,
      env: { ...process.env, KEEPSAKE_POLICY_FILE: policyFile, KEEPSAKE_DEVICE_ROOTS: '' },
      engine: { metadataReader: null, createWatcher: null, settleMs: 0, reconcileIntervalMs: 0 },
    });

  const devices = async (): Promise<DeviceJson[]> =>
    ((await (await vaultFetch(vault, '/api/v1/devices')).json()) as { devices: DeviceJson[] })
      .devices;

  it('enrols with the policy’s code on the first start, keeps its own token, and spends no code after', async () => {
    const dataDir = join(temp.dir, 'laptop');
    const lines: string[] = [];
    const first = await start(dataDir, lines);
    try {
      assert.equal(first.vaultUrl, vault.url);
      assert.equal(first.embedded, false, 'the organisation’s vault, not an embedded one');
      assert.match(first.vaultToken, /^ksd_/, 'its own device token, not the admin token');
      const settings = await first.engine.api['settings.get']({});
      assert.equal(settings.vaultUrl.value, vault.url);
    } finally {
      await first.close();
    }
    assert.ok(lines.some((l) => l.startsWith('info enrolled with the vault named by the policy')));
    const kept = await createSecretStore(dataDir, { safeStorage: fakeSafeStorage }).read();
    assert.match(kept ?? '', /^ksd_/, 'the token is in the desktop’s secret store');
    const afterFirst = (await devices()).filter((d) => d.revokedAt === null);
    assert.equal(afterFirst.length, 1);

    const again: string[] = [];
    const second = await start(dataDir, again);
    try {
      assert.equal(second.vaultToken, kept, 'the kept token, no second enrolment');
      assert.equal(second.embedded, false);
    } finally {
      await second.close();
    }
    assert.ok(!again.some((l) => l.includes('enrol')), again.join('\n'));
    assert.equal((await devices()).length, 1, 'no new device on the vault');
  });

  it('another computer given the same, now used, code says so and starts without it', async () => {
    const lines: string[] = [];
    const other = await start(join(temp.dir, 'other'), lines);
    try {
      assert.notEqual(other.vaultToken.startsWith('ksd_'), true);
    } finally {
      await other.close();
    }
    assert.ok(
      lines.some(
        (l) =>
          l.startsWith('warn the enrolment code in the policy was refused') &&
          l.includes('already used'),
      ),
      lines.join('\n'),
    );
    assert.equal((await devices()).length, 1);
  });
});
