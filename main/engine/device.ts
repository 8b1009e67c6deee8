// This computer's identity on the vault (issue 10 section 1): a random id made once per data
// directory and kept in its settings table, and a name a person can read and change (the
// `deviceName` setting; the host name until they do). Locations are registered under the id,
// so renaming the computer never splits its history; the name travels beside it for display.
//
// Invariant: the id never changes for a data directory once made (a new data directory is a
// new device, which is what a restore onto a new machine is).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Store } from './store/store.js';

/** Settings-table key of the device id (not a user setting: never shown or set). */
const deviceIdKey = 'engine.deviceId';

export interface DeviceIdentity {
  /** Visible ASCII, stable for the data directory (deviceIdSchema in common/vault-protocol.ts). */
  id: string;
  /** What people see: the deviceName setting, else the host name. */
  name: string;
}

/** The host name as a device name: never empty, at most 255 characters. */
export function defaultDeviceName(host: string = hostname()): string {
  const name = host.replace(/\0/g, '').trim().slice(0, 255);
  return name === '' ? 'this computer' : name;
}

/** The data directory's device id, made (and stored) on first use. */
export function deviceIdOf(store: Store): string {
  const stored = store.userSettings().get(deviceIdKey);
  if (typeof stored === 'string' && /^[\x21-\x7e]{1,128}$/.test(stored)) return stored;
  const id = randomUUID();
  store.setSetting(deviceIdKey, id);
  store.commit();
  return id;
}
