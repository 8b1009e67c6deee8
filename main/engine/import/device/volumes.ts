// Which removable volumes are mounted now, behind one port per operating system. The Linux
// implementation reads /proc/self/mountinfo; the device offers (device-offers.ts) diff what it
// lists. Invariant: only mounts strictly under the watched roots are listed (the roots
// themselves never), and a volume is named by what survives a re-insertion: its file system
// UUID, else its label, else its mount point's name. See [Note: Noticing a card].
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename, delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { KeepsakeError } from '../../errors.js';
import type { Clock } from '../../ports.js';

export interface MountedVolume {
  /** Stable across insertions: 'uuid:...', 'label:...' or 'name:...' (see the header). */
  id: string;
  /** What a person calls it (the file system label, e.g. EOS_DIGITAL). */
  label: string;
  mountPoint: string;
  fsType: string;
  /** The device the kernel mounted (e.g. /dev/sdb1), as mountinfo says. */
  source: string;
}

/** The port: mounted volumes now, a hint when that may have changed, and ejecting one. */
export interface VolumeSource {
  list(): Promise<MountedVolume[]>;
  /** Calls onHint when the mounts may have changed; returns the function that stops it. */
  watch(onHint: () => void): () => void;
  /** Whether eject() can work on this computer (Linux: udisksctl is installed). */
  readonly canEject: boolean;
  /**
   * Unmounts the volume and powers its device off where it can. Throws KeepsakeError
   * 'not_supported' (no way to eject here) or 'eject_failed' (e.g. still in use).
   */
  eject(volume: MountedVolume): Promise<void>;
}

// [Note: Noticing a card]
// Linux: a desktop mounts a card under /media/USER/LABEL (udisks2, Debian/Ubuntu) or
// /run/media/USER/LABEL (Fedora, Arch); /proc/self/mountinfo lists every mount of this
// process's namespace. The kernel flags a change to it through poll() (POLLPRI), which Node
// cannot wait on, and inotify does not see /proc, so the file is re-read every pollMs (2 s by
// default: a few KB, microseconds of work). The watched roots are a parameter (the daemon reads
// KEEPSAKE_DEVICE_ROOTS) so tests mount under a temp dir. Labels and UUIDs come from udev's
// /dev/disk/by-label and /dev/disk/by-uuid links to the mounted device; where udev is absent
// (containers) the mount point's name stands in, which is the label udisks named it by.
// macOS would list /Volumes (every entry but the startup disk's link) and be told of changes by
// NSWorkspace's didMount notification or DiskArbitration, with the UUID from `diskutil info`;
// Windows would list the drive letters of removable drives (GetLogicalDrives + GetDriveType
// DRIVE_REMOVABLE) and be told by WM_DEVICECHANGE, with the volume serial number as the id.
// Neither is written here: they would need native code or a helper process this project does
// not ship, and an untested imitation would be worse than saying so.

/** One mount of /proc/self/mountinfo: its mount point, file system type and source. */
export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mountinfo (proc(5)): fields 5 (mount point), and after " - ": type, source. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const before = line.slice(0, dash).split(' ');
    const after = line.slice(dash + 3).split(' ');
    const mountPoint = before[4];
    const fsType = after[0];
    const source = after[1];
    if (mountPoint === undefined || fsType === undefined || source === undefined) continue;
    out.push({ mountPoint: unescapeMount(mountPoint), fsType, source: unescapeMount(source) });
  }
  return out;
}

/** Whether `path` is strictly under one of `roots`. */
export function underRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => {
    const prefix = root.endsWith('/') ? root : `${root}/`;
    return path.startsWith(prefix) && path.length > prefix.length;
  });
}

/** udev's name links (/dev/disk/by-uuid or by-label): device real path -> name. */
async function namesByDevice(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out; // no udev here
  }
  await Promise.all(
    names.map(async (name) => {
      try {
        out.set(await realpath(join(dir, name)), name);
      } catch {
        // a dangling link: the device is gone
      }
    }),
  );
  return out;
}

/** udev writes a label's unsafe characters as \xHH in the link name. */
function unescapeUdev(name: string): string {
  return name.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

export interface LinuxVolumeSourceOptions {
  /** Mount points under these are volumes (default /media and /run/media). */
  roots?: readonly string[];
  clock: Clock;
  /** default /proc/self/mountinfo */
  mountinfoPath?: string;
  /** How often mountinfo is re-read (default 2000 ms). See [Note: Noticing a card]. */
  pollMs?: number;
  /** udev's link folders (default /dev/disk/by-uuid, /dev/disk/by-label). */
  byUuidDir?: string;
  byLabelDir?: string;
  /** Where udisksctl is (default: found on PATH; null: none). */
  udisksctl?: string | null;
}

/** An executable `name` on PATH, or null. */
function onPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

const run = promisify(execFile);

/**
 * Ejects through udisks2, as the file manager's Eject does: unmount (refused while a program
 * still has a file open there), then power the drive off (a card reader that cannot be powered
 * off is left on: the card may be taken out all the same once unmounted).
 */
async function ejectWithUdisks(udisksctl: string, volume: MountedVolume): Promise<void> {
  try {
    await run(udisksctl, ['unmount', '--block-device', volume.source, '--no-user-interaction']);
  } catch (err) {
    const raw = (err as { stderr?: unknown }).stderr;
    const stderr = (
      typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString() : ''
    ).trim();
    throw new KeepsakeError(
      'eject_failed',
      `${volume.label} could not be ejected${stderr ? `: ${stderr.split('\n')[0]}` : ''} (close any program using it and try again)`,
      true,
      { cause: err },
    );
  }
  await run(udisksctl, [
    'power-off',
    '--block-device',
    volume.source,
    '--no-user-interaction',
  ]).catch(() => {});
}

export const defaultLinuxRoots = ['/media', '/run/media'] as const;

export function createLinuxVolumeSource(options: LinuxVolumeSourceOptions): VolumeSource {
  const roots = options.roots ?? defaultLinuxRoots;
  const mountinfoPath = options.mountinfoPath ?? '/proc/self/mountinfo';
  const pollMs = options.pollMs ?? 2000;
  const udisksctl = options.udisksctl === undefined ? onPath('udisksctl') : options.udisksctl;
  return {
    canEject: udisksctl !== null,
    async eject(volume) {
      if (udisksctl === null) {
        throw new KeepsakeError(
          'not_supported',
          `Keepsake cannot eject ${volume.label} on this computer (udisksctl, from udisks2, is not installed): eject it from the file manager, or unmount ${volume.mountPoint}`,
        );
      }
      await ejectWithUdisks(udisksctl, volume);
    },
    async list() {
      const mounts = parseMountinfo(await readFile(mountinfoPath, 'utf8')).filter((m) =>
        underRoots(m.mountPoint, roots),
      );
      if (mounts.length === 0) return [];
      const [uuids, labels] = await Promise.all([
        namesByDevice(options.byUuidDir ?? '/dev/disk/by-uuid'),
        namesByDevice(options.byLabelDir ?? '/dev/disk/by-label'),
      ]);
      // A mount point listed twice (mounted over) is the last mount.
      const byPoint = new Map(mounts.map((m) => [m.mountPoint, m]));
      return [...byPoint.values()].map((m) => {
        const uuid = uuids.get(m.source);
        const label = labels.get(m.source);
        const name = label !== undefined ? unescapeUdev(label) : basename(m.mountPoint);
        return {
          id:
            uuid !== undefined
              ? `uuid:${uuid}`
              : `${label !== undefined ? 'label' : 'name'}:${name}`,
          label: name,
          mountPoint: m.mountPoint,
          fsType: m.fsType,
          source: m.source,
        };
      });
    },
    watch(onHint) {
      let last: string | null = null;
      let stopped = false;
      let timer: ReturnType<Clock['setTimeout']> | null = null;
      const tick = async () => {
        try {
          const text = await readFile(mountinfoPath, 'utf8');
          if (last !== null && text !== last) onHint();
          last = text;
        } catch {
          // mountinfo unreadable this time: try again at the next tick
        }
        if (!stopped) {
          timer = options.clock.setTimeout(() => void tick(), pollMs);
          timer.unref?.();
        }
      };
      void tick();
      return () => {
        stopped = true;
        if (timer !== null) options.clock.clearTimeout(timer);
      };
    },
  };
}
