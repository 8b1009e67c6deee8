// electron-builder.yml, checked as far as this machine can (issue 13 §4): electron-builder's
// own configuration validator (its scheme.json, the check `electron-builder` runs before any
// build) accepts it, and it names the targets IT needs. Building the installers needs each
// OS's toolchain (NSIS/WiX on Windows, pkgbuild on macOS) and is not done here: those are
// verified only statically.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../support/paths.js';

// electron-builder's own parts, resolved the way electron-builder resolves them.
const fromBuilder = createRequire(createRequire(import.meta.url).resolve('electron-builder'));
const { load } = fromBuilder('js-yaml') as { load: (text: string) => unknown };
const { validateConfiguration } = fromBuilder('app-builder-lib/out/util/config/config') as {
  validateConfiguration: (config: unknown, debug: { isEnabled: boolean }) => Promise<void>;
};

interface BuilderConfig {
  appId: string;
  mac: { target: string[] };
  win: { target: string[] };
  linux: { target: string[] };
  nsis: { oneClick: boolean; perMachine: boolean };
  msi: { perMachine: boolean };
  deb: { fpm: string[] };
  rpm: { fpm: string[] };
  publish: { provider: string; url: string; channel: string };
}

const config = load(readFileSync(join(repoRoot, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

describe('electron-builder.yml', () => {
  it('passes electron-builder’s own configuration validator', async () => {
    await validateConfiguration(config, { isEnabled: false });
  });

  it('the validator is not a pushover: a misspelt option is refused', async () => {
    await assert.rejects(
      validateConfiguration({ ...config, nsis: { onClick: false } }, { isEnabled: false }),
    );
  });

  it('names every installer IT deploys', () => {
    assert.deepEqual(config.win.target, ['nsis', 'msi']);
    assert.deepEqual(config.mac.target, ['dmg', 'pkg', 'zip']);
    assert.deepEqual(config.linux.target, ['AppImage', 'deb', 'rpm']);
    // NSIS per-user by default with the per-machine choice; MSI per-machine.
    assert.equal(config.nsis.oneClick, false);
    assert.equal(config.nsis.perMachine, false);
    assert.equal(config.msi.perMachine, true);
  });

  it('the deb and rpm install the daemon’s systemd user unit, which exists', () => {
    for (const fpm of [config.deb.fpm, config.rpm.fpm]) {
      const mapping = fpm.find((a) => a.endsWith('=/usr/lib/systemd/user/keepsake-daemon.service'));
      assert.ok(mapping, 'the unit is mapped into the package');
      const unit = readFileSync(join(repoRoot, mapping.split('=')[0] ?? ''), 'utf8');
      assert.match(unit, /^ExecStart=.*keepsake daemon/m);
      assert.match(unit, /^WantedBy=default\.target$/m);
    }
  });

  it('updates come from a generic feed, per channel, matching the policy’s managed preferences domain', () => {
    assert.equal(config.publish.provider, 'generic');
    assert.match(config.publish.url, /^https:\/\//);
    assert.equal(config.publish.channel, 'latest');
    assert.equal(config.appId, 'app.keepsake.desktop');
  });
});
