// The metered-network signal where Electron exposes none (issue 13 section 3). Windows: the
// connection cost API's output, as the PowerShell script prints it (Name=Value lines) and as
// the object prints itself (Format-List), read as Microsoft's guidance says (Fixed or Variable
// plans, roaming and over the data limit are metered); no internet profile or Unknown cost is
// unknown (null), never "not metered". The real PowerShell call runs only on Windows and
// reports itself skipped elsewhere; macOS has no way at all and says unknown.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  networkCostUnknownReason,
  parseWindowsConnectionCost,
  readMetered,
  readWindowsMetered,
  windowsConnectionCostScript,
} from '../../../../main/engine/power/network-cost.js';

const lines = (o: Record<string, string>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join('\r\n') + '\r\n';

describe('Windows connection cost', () => {
  it('an unrestricted home network is not metered', () => {
    const out = lines({
      NetworkCostType: 'Unrestricted',
      Roaming: 'False',
      OverDataLimit: 'False',
      ApproachingDataLimit: 'False',
    });
    assert.equal(parseWindowsConnectionCost(out), false);
  });

  it('a fixed or variable plan, roaming, or over the data limit is metered', () => {
    const base = { Roaming: 'False', OverDataLimit: 'False', ApproachingDataLimit: 'False' };
    assert.equal(parseWindowsConnectionCost(lines({ NetworkCostType: 'Fixed', ...base })), true);
    assert.equal(parseWindowsConnectionCost(lines({ NetworkCostType: 'Variable', ...base })), true);
    assert.equal(
      parseWindowsConnectionCost(
        lines({ NetworkCostType: 'Unrestricted', ...base, Roaming: 'True' }),
      ),
      true,
    );
    assert.equal(
      parseWindowsConnectionCost(
        lines({ NetworkCostType: 'Unrestricted', ...base, OverDataLimit: 'True' }),
      ),
      true,
    );
  });

  it('Unknown cost, no internet profile, or output it does not know is unknown, not "no"', () => {
    assert.equal(
      parseWindowsConnectionCost(
        lines({ NetworkCostType: 'Unknown', Roaming: 'False', OverDataLimit: 'False' }),
      ),
      null,
    );
    assert.equal(parseWindowsConnectionCost('NoProfile\r\n'), null);
    assert.equal(parseWindowsConnectionCost(''), null);
    assert.equal(parseWindowsConnectionCost('Unable to find type [Windows.Networking...]'), null);
  });

  it('reads the object as PowerShell prints it by itself (Format-List)', () => {
    const formatList = [
      '',
      'ApproachingDataLimit : False',
      'NetworkCostType      : Fixed',
      'OverDataLimit        : False',
      'Roaming              : False',
      'BackgroundDataUsageRestricted : False',
      '',
    ].join('\r\n');
    assert.equal(parseWindowsConnectionCost(formatList), true);
  });

  it('the script asks WinRT for the internet profile’s cost, one property a line', () => {
    assert.match(windowsConnectionCostScript, /ContentType = WindowsRuntime/);
    assert.match(windowsConnectionCostScript, /GetInternetConnectionProfile\(\)/);
    for (const name of ['NetworkCostType', 'Roaming', 'OverDataLimit', 'ApproachingDataLimit']) {
      assert.match(windowsConnectionCostScript, new RegExp(`"${name}=\\$\\(\\$cost\\.${name}\\)"`));
    }
  });

  it(
    'the real connection cost of this Windows computer is read',
    {
      skip:
        process.platform === 'win32'
          ? false
          : `needs Windows and its PowerShell (this is ${process.platform})`,
    },
    async () => {
      const metered = await readWindowsMetered();
      assert.ok(metered === true || metered === false || metered === null);
    },
  );

  it('without PowerShell the signal is unknown', async () => {
    assert.equal(await readWindowsMetered('/nonexistent/powershell.exe'), null);
  });
});

describe('network cost per OS', () => {
  it('macOS says unknown, with the reason, and runs nothing', async () => {
    assert.match(networkCostUnknownReason('darwin') ?? '', /NWPath\.isExpensive/);
    assert.equal(await readMetered('darwin'), null);
  });

  it('Windows and Linux can tell', () => {
    assert.equal(networkCostUnknownReason('win32'), null);
    assert.equal(networkCostUnknownReason('linux'), null);
  });
});
