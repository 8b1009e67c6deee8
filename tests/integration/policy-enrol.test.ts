// An organisation deploys Keepsake with a policy naming the vault and an enrolment code: the
// first run enrols this computer by itself (its own device token), later runs use the token
// it kept, and a second computer given the same, now used, code says so and goes on without it.
import assert from 'node:assert/strict';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusRoot, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';

describe('policy: enrolment code', () => {
  let vault: TestVault;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    vault = await startTestVault({ previews: false, scrub: false });
    temp = await makeTempDir('keepsake-policy-enrol-');
  });
  after(async () => {
    await killAllChildren();
    await vault?.close();
    await temp?.cleanup();
  });

  it('a computer enrols itself with the policy’s code once, then backs up with its own token', async () => {
    const issued = await runCli([
      'vault',
      'enroll',
      '--ttl',
      '1d',
      '--json',
      '--data-dir',
      vault.dataDir,
    ]);
    assert.equal(issued.code, 0, describeRun(issued));
    const { code } = parseJsonOutput<{ code: string }>(issued);
    const policyFile = join(temp.dir, 'policy.json');
    await writeFile(policyFile, JSON.stringify({ vaultUrl: vault.url, enrollmentCode: code }));
    const photos = join(temp.dir, 'photos');
    await cp(join(corpusRoot, 'exifr-fixtures', 'orientation'), photos, { recursive: true });
    const env = { KEEPSAKE_POLICY_FILE: policyFile };

    const first = await runCli(['backup', photos, '--data-dir', join(temp.dir, 'a'), '--json'], {
      env,
      timeoutMs: 120_000,
    });
    assert.equal(first.code, 0, describeRun(first));
    assert.equal(parseJsonOutput<{ vault: { url: string } }>(first).vault.url, vault.url);

    // Enrolled: the used code is not offered again.
    const again = await runCli(['backup', photos, '--data-dir', join(temp.dir, 'a'), '--json'], {
      env,
      timeoutMs: 120_000,
    });
    assert.equal(again.code, 0, describeRun(again));
    assert.doesNotMatch(again.stderr, /enrolment code/);
    const summary = parseJsonOutput<{ vault: { url: string; embedded: boolean } }>(again);
    assert.equal(summary.vault.url, vault.url);

    // Another computer with the same policy: the code is used; it says so and goes on.
    const other = await runCli(['backup', photos, '--data-dir', join(temp.dir, 'b'), '--json'], {
      env,
      timeoutMs: 120_000,
    });
    assert.equal(other.code, 0, describeRun(other));
    assert.match(other.stderr, /the enrolment code in the policy was refused \(.*already used/);
  });
});
