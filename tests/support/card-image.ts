// Real mounted "cards" for the device import tests: a FAT image loop-mounted read-only (what a
// camera card is), and a read-only bind mount of a folder (a mount the kernel refuses writes to,
// where a FAT driver is missing). Root only; where mounting is refused the caller skips with the
// reason. Every mount is undone by its unmount(), lazily (a process still inside cannot keep it).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './paths.js';

export interface MountedCard {
  /** The mount point: the card's top folder. */
  dir: string;
  unmount: () => Promise<void>;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'pipe' });
}

function reason(err: unknown): string {
  const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
  return stderr || (err instanceof Error ? err.message : String(err));
}

/**
 * A FAT image of `sizeMiB` labelled `label`, holding a copy of `content` (a folder with DCIM),
 * loop-mounted read-only at `at` (or a fresh temp dir), or why that cannot be done here.
 */
export async function mountFatCard(
  content: string,
  opts: { label?: string; sizeMiB?: number; at?: string } = {},
): Promise<MountedCard | { skip: string }> {
  const temp = await makeTempDir('keepsake-fat-card-');
  const image = join(temp.dir, 'card.img');
  const mountPoint = opts.at ?? join(temp.dir, 'mnt');
  mkdirSync(mountPoint, { recursive: true });
  let mounted = false;
  try {
    run('truncate', ['-s', `${opts.sizeMiB ?? 64}M`, image]);
    try {
      run('mkfs.vfat', ['-n', opts.label ?? 'EOS_DIGITAL', image]);
    } catch (err) {
      throw new Error(`mkfs.vfat (dosfstools) is not usable here: ${reason(err)}`);
    }
    try {
      run('mount', ['-o', 'loop', image, mountPoint]);
    } catch (err) {
      throw new Error(`cannot loop-mount a FAT image here: ${reason(err)}`);
    }
    mounted = true;
    cpSync(content, mountPoint, { recursive: true });
    run('umount', [mountPoint]);
    mounted = false;
    run('mount', ['-o', 'loop,ro', image, mountPoint]);
    mounted = true;
  } catch (err) {
    if (mounted) execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
    await temp.cleanup();
    return { skip: err instanceof Error ? err.message : String(err) };
  }
  return {
    dir: mountPoint,
    unmount: async () => {
      execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
      await temp.cleanup();
    },
  };
}

/** `content` bind-mounted read-only at `at`, or why that cannot be done here. */
export function bindMountReadOnly(content: string, at: string): MountedCard | { skip: string } {
  mkdirSync(at, { recursive: true });
  try {
    run('mount', ['--bind', content, at]);
  } catch (err) {
    return { skip: `cannot bind-mount here: ${reason(err)}` };
  }
  try {
    run('mount', ['-o', 'remount,bind,ro', at]);
  } catch (err) {
    execFileSync('umount', ['-l', at], { stdio: 'ignore' });
    return { skip: `cannot make a bind mount read-only here: ${reason(err)}` };
  }
  return {
    dir: at,
    unmount: () => {
      execFileSync('umount', ['-l', at], { stdio: 'pipe' });
      return Promise.resolve();
    },
  };
}
