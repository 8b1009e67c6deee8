// The desktop window's Settings tell the truth about the vault token: whether one is stored,
// and whether it is encrypted by the keyring or only in an owner-only file.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withDesktopToken } from '../../../main/app/token-settings.js';
import { Settings } from '../../../common/contract.js';

const user = <T>(value: T) => ({ value, source: 'default' as const, locked: false });
const engineSettings = Settings.parse({
  vaultUrl: user('http://127.0.0.1:7418'),
  vaultTokenSet: user(false),
  tokenStorage: user('file'),
  bandwidthLimit: user(null),
  concurrency: user(3),
  chunkSizeBytes: user(8 << 20),
  pauseOnBattery: user(false),
  pauseOnMetered: user(true),
  startAtLogin: user(true),
});

describe('desktop token settings', () => {
  it('reports a keyring-encrypted token as such', () => {
    const s = withDesktopToken(engineSettings, 'safe_storage', true);
    assert.deepEqual(s.tokenStorage, { value: 'safe_storage', source: 'default', locked: true });
    assert.equal(s.vaultTokenSet.value, true);
    assert.deepEqual(Settings.parse(s), s, 'still valid contract data');
  });

  it('reports the owner-only file where there is no keyring', () => {
    const s = withDesktopToken(engineSettings, 'file', false);
    assert.equal(s.tokenStorage.value, 'file');
    assert.equal(s.vaultTokenSet.value, false);
  });

  it('leaves a token locked by policy as the policy says', () => {
    const locked = {
      ...engineSettings,
      vaultTokenSet: { value: true, source: 'policy' as const, locked: true },
    };
    assert.equal(withDesktopToken(locked, 'safe_storage', false).vaultTokenSet.value, true);
  });
});
