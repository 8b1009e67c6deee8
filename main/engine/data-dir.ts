// Where the engine keeps its state, and the lock that keeps two engines off one data
// directory. The default matches Electron's app.getPath('userData') for the app name
// "Keepsake", so the desktop app and the CLI share one directory.
//
// Invariant: while a DataDirLock is held, its lock file names the holder's pid; a lock whose
// pid is dead is stale and is taken over (a kill -9 never locks a person out).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { diskFullError, KeepsakeError } from './errors.js';

export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): string {
  switch (platform) {
    case 'darwin':
      return join(home, 'Library', 'Application Support', 'Keepsake');
    case 'win32':
      return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Keepsake');
    case 'linux':
    case 'aix':
    case 'android':
    case 'cygwin':
    case 'freebsd':
    case 'haiku':
    case 'netbsd':
    case 'openbsd':
    case 'sunos':
      return join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'Keepsake');
  }
}

export const databaseFileName = 'keepsake.db';
export const lockFileName = 'keepsake.lock';

export function databasePath(dataDir: string): string {
  return join(dataDir, databaseFileName);
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data directory's lock (creating the directory), or throws 'data_dir_locked'. */
export function lockDataDir(dataDir: string, pid: number = process.pid): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, lockFileName);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${pid}\n`);
      } catch (writeErr) {
        // Not even the lock's few bytes fit: the words of a full disk, and no empty lock left.
        closeSync(fd);
        rmSync(path, { force: true });
        if ((writeErr as NodeJS.ErrnoException).code === 'ENOSPC') {
          throw diskFullError(dataDir, writeErr);
        }
        throw writeErr;
      }
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          try {
            if (readFileSync(path, 'utf8').trim() === String(pid)) rmSync(path, { force: true });
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = Number.NaN;
      try {
        holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      } catch {
        // vanished between open and read: try again
        continue;
      }
      if (Number.isInteger(holder) && holder > 0 && (holder === pid || pidAlive(holder))) {
        throw new KeepsakeError(
          'data_dir_locked',
          `Another Keepsake (pid ${holder}) is using the data directory ${dataDir}; stop it first or use --data-dir.`,
        );
      }
      // Stale (a dead pid, or garbage): take it over.
      rmSync(path, { force: true });
    }
  }
  throw new KeepsakeError('data_dir_locked', `Could not take the lock ${path}.`);
}
