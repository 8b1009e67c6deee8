// Reading /proc/self/mountinfo (volumes.ts): mount points with spaces, only what is strictly
// under the watched roots, and the kernel's own format (proc(5)).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  createLinuxVolumeSource,
  parseMountinfo,
  underRoots,
} from '../../../../../main/engine/import/device/volumes.js';
import { systemClock } from '../../../../../main/engine/ports.js';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '98 22 8:17 / /media/alice/EOS_DIGITAL rw,nosuid,nodev shared:50 - vfat /dev/sdb1 rw,uid=1000',
  '99 22 8:33 / /run/media/bob/NIKON\\040D750 rw,nosuid shared:51 - exfat /dev/sdc1 rw',
  '100 22 0:50 / /media rw shared:52 - tmpfs tmpfs rw',
  '',
].join('\n');

describe('mounted volumes on Linux', () => {
  it('reads mount points, types and devices, spaces included', () => {
    const entries = parseMountinfo(MOUNTINFO);
    assert.deepEqual(entries[2], {
      mountPoint: '/run/media/bob/NIKON D750',
      fsType: 'exfat',
      source: '/dev/sdc1',
    });
    assert.equal(entries.length, 4);
  });

  it('lists only what is mounted strictly under the watched roots, named by its mount point where udev is absent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keepsake-mountinfo-'));
    try {
      await writeFile(join(dir, 'mountinfo'), MOUNTINFO);
      const source = createLinuxVolumeSource({
        clock: systemClock,
        roots: ['/media', '/run/media'],
        mountinfoPath: join(dir, 'mountinfo'),
        byUuidDir: join(dir, 'no-udev'),
        byLabelDir: join(dir, 'no-udev'),
      });
      const volumes = await source.list();
      assert.deepEqual(
        volumes.map((v) => [v.id, v.label, v.mountPoint]),
        [
          ['name:EOS_DIGITAL', 'EOS_DIGITAL', '/media/alice/EOS_DIGITAL'],
          ['name:NIKON D750', 'NIKON D750', '/run/media/bob/NIKON D750'],
        ],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a root itself or a sibling with the same prefix is not under it', () => {
    assert.equal(underRoots('/media', ['/media']), false);
    assert.equal(underRoots('/mediathek/x', ['/media']), false);
    assert.equal(underRoots('/media/x', ['/media/']), true);
  });
});
