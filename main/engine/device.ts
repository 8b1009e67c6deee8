// This computer's identity on the vault (issue 10 section 1): a random id made once per data
// directory and kept in its own file there (`device-id`), and a name a person can read and
// change (the `deviceName` setting; the host name until they do). Locations are registered
// under the id, so renaming the computer never splits its history; the name travels beside it
// for display.
//
// Invariant: the id never changes for a data directory once made (a new data directory is a
// new device, which is what a restore onto a new machine is). It is not kept in keepsake.db:
// the database is a cache that is set aside and rebuilt when it is damaged or deleted, and a
// rebuilt database must not make this computer a second device on the vault (every place
// registered twice, dedup savings counted twice). A database made before the file existed
// hands its id over once.
import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Store } from './store/store.js';

/** Settings-table key where the id was kept before device-id (read once, to hand it over). */
const deviceIdKey = 'engine.deviceId';
const deviceIdFileName = 'device-id';
const validId = /^[\x21-\x7e]{1,128}$/;

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

function readIdFile(path: string): string | null {
  try {
    const id = readFileSync(path, 'utf8').trim();
    return validId.test(id) ? id : null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** The data directory's device id, made (and stored durably in DATA_DIR/device-id) on first use. */
export function deviceIdOf(dataDir: string, store: Store): string {
  const path = join(dataDir, deviceIdFileName);
  const existing = readIdFile(path);
  if (existing !== null) return existing;
  const stored = store.userSettings().get(deviceIdKey);
  const id = typeof stored === 'string' && validId.test(stored) ? stored : randomUUID();
  // written whole then renamed: a crash leaves the old state (no file) or the new one
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${id}\n`, { mode: 0o644, flush: true });
  renameSync(tmp, path);
  return id;
}
