// The state file the upload drivers (upload-driver.ts, tus-js-driver.ts) persist between
// kill -9s: written to a temp name, fsynced, then renamed, so a kill leaves the old or the
// new state, never half of one (the way the engine's SQLite commit is durable).
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

export interface DriverState {
  uploadUrl: string | null;
  offset: number;
  done: boolean;
}

export function readDriverState(path: string): DriverState {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DriverState;
  } catch {
    return { uploadUrl: null, offset: 0, done: false };
  }
}

export function writeDriverState(path: string, state: DriverState): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
