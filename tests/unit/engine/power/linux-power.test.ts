// The headless daemon's battery and metered signals on Linux, from a fake sysfs tree made of
// real files (the layout of /sys/class/power_supply) and nmcli's terse output; a signal that
// cannot be read is unknown (null), never a guessed "no".
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  parseNmcliMetered,
  readLinuxBattery,
  readNmcliMetered,
} from '../../../../main/engine/power/linux-power.js';
import { createEngine } from '../../../../main/engine/engine.js';
import { silentLogger } from '../../../../main/engine/ports.js';
import { makeTempDir } from '../../../support/paths.js';

const cleanups: (() => Promise<void>)[] = [];
after(() => Promise.all(cleanups.map((c) => c())));

async function sysfs(supplies: Record<string, Record<string, string>>): Promise<string> {
  const t = await makeTempDir('keepsake-sysfs-');
  cleanups.push(t.cleanup);
  for (const [name, attrs] of Object.entries(supplies)) {
    await mkdir(join(t.dir, name));
    for (const [attr, value] of Object.entries(attrs)) {
      await writeFile(join(t.dir, name, attr), `${value}\n`);
    }
  }
  return t.dir;
}

describe('Linux power signals', () => {
  it('a laptop on its charger is not on battery; unplugged and discharging it is', async () => {
    const plugged = await sysfs({
      AC: { type: 'Mains', online: '1' },
      BAT0: { type: 'Battery', status: 'Charging', capacity: '80' },
    });
    assert.equal(await readLinuxBattery(plugged), false);
    const unplugged = await sysfs({
      AC: { type: 'Mains', online: '0' },
      BAT0: { type: 'Battery', status: 'Discharging', capacity: '79' },
    });
    assert.equal(await readLinuxBattery(unplugged), true);
  });

  it('a desktop with no supplies is never on battery; a wireless mouse’s battery does not count', async () => {
    assert.equal(await readLinuxBattery(await sysfs({})), false);
    const mouse = await sysfs({
      hidpp_battery_0: { type: 'Battery', status: 'Discharging', scope: 'Device' },
    });
    assert.equal(await readLinuxBattery(mouse), false);
  });

  it('no power_supply class to read is unknown', async () => {
    assert.equal(await readLinuxBattery('/nonexistent/power_supply'), null);
  });

  it('reads NetworkManager’s metered flag of the connected devices', () => {
    const text = [
      'GENERAL.DEVICE:wlp2s0',
      'GENERAL.STATE:100 (connected)',
      'GENERAL.METERED:yes (guessed)',
      '',
      'GENERAL.DEVICE:enp0s31f6',
      'GENERAL.STATE:20 (unavailable)',
      'GENERAL.METERED:no',
      '',
      'GENERAL.DEVICE:lo',
      'GENERAL.STATE:100 (connected (externally))',
      'GENERAL.METERED:no (guessed)',
      '',
    ].join('\n');
    assert.equal(parseNmcliMetered(text), true);
    assert.equal(parseNmcliMetered(text.replace('yes (guessed)', 'no')), false);
    assert.equal(
      parseNmcliMetered(
        'GENERAL.DEVICE:wlp2s0\nGENERAL.STATE:100 (connected)\nGENERAL.METERED:unknown\n',
      ),
      null,
    );
    assert.equal(parseNmcliMetered(''), null);
  });

  it('asks the real nmcli where it is installed; without it, metered is unknown', async (t) => {
    let installed = true;
    try {
      execFileSync('nmcli', ['--version'], { stdio: 'ignore' });
    } catch {
      installed = false;
    }
    const metered = await readNmcliMetered();
    if (!installed) {
      assert.equal(metered, null);
      t.diagnostic('nmcli is not installed here: the real NetworkManager call is not exercised');
      return;
    }
    assert.ok(metered === null || typeof metered === 'boolean');
  });

  it('the engine reports an unknown signal as null, and pauses on a known one', async () => {
    const data = await makeTempDir('keepsake-power-data-');
    cleanups.push(data.cleanup);
    const engine = await createEngine({
      dataDir: data.dir,
      logger: silentLogger,
      metadataReader: null,
      createWatcher: null,
      policy: {
        values: { pauseOnBattery: true },
        locked: [],
        sources: ['test'],
        problems: [],
      },
    });
    try {
      const before = await engine.api['status.get']({});
      assert.deepEqual(before.power, { onBattery: null, metered: null });
      engine.setPowerState({ onBattery: true, metered: false, meteredKnown: false });
      const now = await engine.api['status.get']({});
      assert.deepEqual(now.power, { onBattery: true, metered: null });
      assert.equal(now.pauseReason, 'battery');
    } finally {
      await engine.close();
    }
  });
});
