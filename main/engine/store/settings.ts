// Settings with their source: an administrator's locked policy value beats a runtime override
// from the command line, which beats a value the person set, which beats the organisation's
// unlocked policy value (its default), which beats the default. See [Note: What a policy
// means] in common/policy.ts.
// Invariant: a key locked by policy is never changed through settings.set ('setting_locked').
import type { Settings, SettingUpdate } from '../../../common/contract.js';
import { lockedMessage, type Policy } from '../../../common/policy.js';
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
  updatesAllowed: boolean;
  updateChannel: 'latest' | 'beta' | 'alpha';
  /** Whether free-up may move backed-up files to the system's trash (folders opt in too). */
  freeUpAllowed: boolean;
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
  updatesAllowed: true,
  updateChannel: 'latest',
  freeUpAllowed: true,
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
  'updatesAllowed',
  'updateChannel',
  'freeUpAllowed',
];

export interface SettingsSource {
  /** Values an administrator's policy locks (policySettings() builds them from a Policy). */
  policy: Partial<SettingValues>;
  /** Keys the policy locks without giving a value: the default (or fact) is what is locked. */
  lockedKeys?: ReadonlySet<SettingKey>;
  /** The organisation's unlocked values: they apply until the person sets their own. */
  policyDefaults?: Partial<SettingValues>;
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
    } else if (source.lockedKeys?.has(key) === true) {
      const value = key in source.facts ? source.facts[key] : defaultSettings[key];
      out[key] = { value, source: 'policy', locked: true };
    } else if (key in source.overrides) {
      out[key] = { value: source.overrides[key], source: 'user', locked: false };
    } else if (storedKeys.includes(key) && user.has(key)) {
      out[key] = { value: user.get(key), source: 'user', locked: false };
    } else if (source.policyDefaults !== undefined && key in source.policyDefaults) {
      out[key] = { value: source.policyDefaults[key], source: 'policy', locked: false };
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
  if (isSettingLocked(source, update.key)) {
    throw new KeepsakeError('setting_locked', lockedMessage(update.key));
  }
  // A person's change wins over this run's command-line override from now on.
  delete source.overrides[update.key];
  store.setSetting(update.key, update.value);
}

export function isSettingLocked(source: SettingsSource, key: SettingKey): boolean {
  return key in source.policy || source.lockedKeys?.has(key) === true;
}

/** The Settings part of a policy: locked values, locked keys without a value, and defaults. */
export function policySettings(
  policy: Policy,
): Pick<SettingsSource, 'policy' | 'lockedKeys' | 'policyDefaults'> {
  const locked: Partial<Record<SettingKey, unknown>> = {};
  const defaults: Partial<Record<SettingKey, unknown>> = {};
  const lockedKeys = new Set<SettingKey>();
  const lockedSet = new Set<string>(policy.locked);
  for (const key of Object.keys(defaultSettings) as SettingKey[]) {
    const value = (policy.values as Record<string, unknown>)[key];
    if (lockedSet.has(key)) {
      if (value !== undefined) locked[key] = value;
      else lockedKeys.add(key);
    } else if (value !== undefined) {
      defaults[key] = value;
    }
  }
  return {
    policy: locked as Partial<SettingValues>,
    lockedKeys,
    policyDefaults: defaults as Partial<SettingValues>,
  };
}
