// A real, small, full-able disk for tests of "the disk is full": a size-limited tmpfs mounted
// at a fresh temp dir (root only; where mounting is refused, the caller skips with the reason),
// and a filler that takes every free byte of it.
import { execFileSync } from 'node:child_process';
import { appendFile, writeFile } from 'node:fs/promises';
import { makeTempDir } from './paths.js';

const MiB = 1024 * 1024;

export interface SmallDisk {
  dir: string;
  /** Unmounts (lazily: a process still inside cannot keep it) and removes the temp dir. */
  unmount: () => Promise<void>;
}

/** A tmpfs of `sizeMiB` (default 20) at a fresh temp dir, or the reason it cannot be mounted. */
export async function mountSmallDisk(sizeMiB = 20): Promise<SmallDisk | { skip: string }> {
  const temp = await makeTempDir('keepsake-small-disk-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', temp.dir], {
      stdio: 'pipe',
    });
  } catch (err) {
    await temp.cleanup();
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { skip: `cannot mount a size-limited tmpfs here: ${stderr || String(err)}` };
  }
  return {
    dir: temp.dir,
    unmount: async () => {
      execFileSync('umount', ['-l', temp.dir], { stdio: 'pipe' });
      await temp.cleanup();
    },
  };
}

/** Fills the filesystem of `path` until ENOSPC, one MiB at a time, then page by page. */
export async function fillDisk(path: string): Promise<void> {
  await writeFile(path, '');
  for (const size of [MiB, 4096]) {
    const chunk = Buffer.alloc(size, 0xaa);
    for (;;) {
      try {
        await appendFile(path, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
}
