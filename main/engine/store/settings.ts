// Settings with their source: an administrator's policy (locked) beats a value the person set,
// which beats a runtime override from the command line, which beats the default.
// Invariant: a key locked by policy is never changed through settings.set ('setting_locked').
import type { Settings, SettingUpdate } from '../../../common/contract.js';
import { KeepsakeError } from '../errors.js';
import type { Store } from './store.js';

export interface SettingValues {
  vaultUrl: string | null;
  vaultTokenSet: boolean;
  tokenStorage: 'safe_storage' | 'file';
  bandwidthLimit: string | null;
  concurrency: number;
  chunkSizeBytes: number;
  pauseOnBattery: boolean;
  pauseOnMetered: boolean;
  startAtLogin: boolean;
  /** This computer's name on the vault; the engine supplies the host name as a fact. */
  deviceName: string;
}

export type SettingKey = keyof SettingValues;

export const defaultSettings: SettingValues = {
  vaultUrl: null,
  vaultTokenSet: false,
  tokenStorage: 'file',
  bandwidthLimit: null,
  concurrency: 3,
  chunkSizeBytes: 8 * 1024 * 1024,
  pauseOnBattery: false,
  pauseOnMetered: true,
  startAtLogin: true,
  deviceName: 'this computer',
};

/**
 * Keys the person may set (vaultToken is stored apart and never read back); kept in
 * choices.json too (person-choices.ts).
 */
export const storedKeys: readonly SettingKey[] = [
  'vaultUrl',
  'bandwidthLimit',
  'concurrency',
  'chunkSizeBytes',
  'pauseOnBattery',
  'pauseOnMetered',
  'startAtLogin',
  'deviceName',
];

export interface SettingsSource {
  /** Values an administrator's policy locks (a later issue reads policy files). */
  policy: Partial<SettingValues>;
  /** Values the command line gave for this run only (e.g. --concurrency); not persisted. */
  overrides: Partial<SettingValues>;
  /** Facts the engine knows rather than stores (vaultTokenSet, tokenStorage, vaultUrl). */
  facts: Partial<SettingValues>;
}

export function resolveSettings(store: Store, source: SettingsSource): Settings {
  const user = store.userSettings();
  const out: Record<
    string,
    { value: unknown; source: 'default' | 'user' | 'policy'; locked: boolean }
  > = {};
  for (const key of Object.keys(defaultSettings) as SettingKey[]) {
    if (key in source.policy) {
      out[key] = { value: source.policy[key], source: 'policy', locked: true };
    } else if (key in source.overrides) {
      out[key] = { value: source.overrides[key], source: 'user', locked: false };
    } else if (storedKeys.includes(key) && user.has(key)) {
      out[key] = { value: user.get(key), source: 'user', locked: false };
    } else if (key in source.facts) {
      out[key] = { value: source.facts[key], source: 'default', locked: false };
    } else {
      out[key] = { value: defaultSettings[key], source: 'default', locked: false };
    }
  }
  return out as Settings;
}

/** Persists one update (not vaultToken: the engine stores that apart). */
export function applySettingUpdate(
  store: Store,
  source: SettingsSource,
  update: Exclude<SettingUpdate, { key: 'vaultToken' }>,
): void {
  if (update.key in source.policy) {
    throw new KeepsakeError(
      'setting_locked',
      `The setting "${update.key}" is set by your administrator's policy and cannot be changed here.`,
    );
  }
  // A person's change wins over this run's command-line override from now on.
  delete source.overrides[update.key];
  store.setSetting(update.key, update.value);
}
