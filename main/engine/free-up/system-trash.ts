// The production MoveToTrash: the operating system's own trash through the `trash` package
// (freedesktop Trash on Linux: $XDG_DATA_HOME/Trash for the home's filesystem, $topdir/.Trash-UID
// on another one; the Finder's trash on macOS; the Recycle Bin on Windows), so an undo is the
// system's own. Never an unlink. Loaded on first use: most runs never free anything.
import type { MoveToTrash } from './free-up.js';

export const systemTrash: MoveToTrash = async (path) => {
  const { default: trash } = await import('trash');
  // glob: false: a name with [ or * in it is that name, never a pattern.
  await trash([path], { glob: false });
};
