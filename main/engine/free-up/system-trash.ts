// The production MoveToTrash: the operating system's own trash through the `trash` package
// (freedesktop Trash on Linux: $XDG_DATA_HOME/Trash for the home's filesystem, $topdir/.Trash-UID
// on another one; the Finder's trash on macOS; the Recycle Bin on Windows), so an undo is the
// system's own. Never an unlink. Loaded on first use: most runs never free anything.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeepsakeError } from '../errors.js';
import type { MoveToTrash } from './free-up.js';

export const systemTrash: MoveToTrash = async (path) => {
  // A folder that cannot be changed (a read-only disk, a card's lock switch, permissions) is
  // said in those words: the trash package would fail deep inside with an unrelated errno
  // (a recursive mkdir on a read-only disk answers ENOENT).
  try {
    await access(dirname(path), constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new KeepsakeError(
      'permission_denied',
      code === 'EROFS'
        ? 'its folder is on a read-only disk'
        : `its folder is read-only for Keepsake (${code})`,
    );
  }
  const { default: trash } = await import('trash');
  // glob: false: a name with [ or * in it is that name, never a pattern.
  await trash([path], { glob: false });
};
