// One vault per data directory: DATA_DIR/vault.lock holds the pid of the vault using it.
// Two vaults on one directory would race on partials and blobs. A lock left by a process
// that no longer runs (kill -9, power loss) is taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { VaultStartError } from './start-error.js';

export interface DataDirLock {
  release(): Promise<void>;
}

const heldInThisProcess = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireDataDirLock(dataDir: string): Promise<DataDirLock> {
  const path = join(dataDir, 'vault.lock');
  const busy = () =>
    new VaultStartError('data_dir_locked', `another vault is already using ${dataDir}`);
  if (heldInThisProcess.has(path)) throw busy();
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      heldInThisProcess.add(path);
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          heldInThisProcess.delete(path);
          await unlink(path).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw busy();
      await unlink(path).catch(() => {}); // stale: its vault is gone
    }
  }
  throw busy();
}
