// What kind of filesystem a watched folder lives on, as far as watching is concerned.
// Invariant: only a positive identification of a network filesystem switches a folder to
// polling; anything unknown is treated as local (native events plus the periodic
// reconcile scan still catch what events miss).
//
// [Note: Why network shares are polled]
// inotify (and FSEvents, ReadDirectoryChangesW) report changes made through this machine's
// kernel. On NFS, SMB/CIFS and other network filesystems, files written by another machine
// (the NAS itself, a phone app syncing to the share, another laptop) produce no event here,
// so a watcher would sit there reporting nothing while new photos pile up. Those folders are
// scanned periodically instead, and their status says so. Detection uses statfs(2)'s f_type
// magic numbers, which are Linux-specific: on macOS and Windows Node reports other values,
// so this returns null there (the reconcile scan still runs hourly).
// FUSE (0x65735546) is deliberately NOT in the list: it covers sshfs and rclone mounts
// (remote) but also ntfs-3g and exFAT drivers (local), and statfs cannot tell them apart.
import { statfs } from 'node:fs/promises';

/** statfs f_type magic numbers of network/cluster filesystems (linux/magic.h and friends). */
const networkMagic = new Map<number, string>([
  [0x6969, 'NFS'],
  [0x517b, 'SMB'],
  [0xff534d42, 'CIFS'],
  [0xfe534d42, 'SMB2'],
  [0x564c, 'NCP (NetWare)'],
  [0x5346414f, 'AFS'],
  [0x6b414653, 'kAFS'],
  [0x73757245, 'Coda'],
  [0x01021997, '9P'],
  [0x00c36400, 'Ceph'],
  [0x01161970, 'GFS2'],
  [0x7461636f, 'OCFS2'],
  [0x0bd00bd0, 'Lustre'],
  [0x47504653, 'GPFS'],
  [0xaad7aaea, 'PanFS'],
  [0x19830326, 'BeeGFS'],
]);

/** The network filesystem's name for a statfs type number, or null when it is not one. */
export function networkFilesystemName(statfsType: number | bigint): string | null {
  // f_type is signed on some architectures: normalise to an unsigned 32-bit value
  const type = Number(BigInt.asUintN(32, BigInt(statfsType)));
  return networkMagic.get(type) ?? null;
}

/**
 * Names the network filesystem `path` is on ('NFS', 'SMB2', ...), or null when it is local,
 * unknown, or not on Linux. Never throws: a statfs failure is "unknown".
 */
export async function detectNetworkFilesystem(path: string): Promise<string | null> {
  if (process.platform !== 'linux') return null;
  try {
    const info = await statfs(path);
    return networkFilesystemName(info.type);
  } catch {
    return null;
  }
}
