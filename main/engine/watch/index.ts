// The watch layer's public face: B1's engine imports from here.
export { classifyPath, backedUpExtensions } from './media-types.js';
export { scanFolder, scanSubtree, type ScanOptions } from './scan.js';
export { createFolderWatcher, type FolderWatcher, type FolderWatcherOptions } from './watcher.js';
export { detectNetworkFilesystem } from './filesystem.js';
export type * from './types.js';
