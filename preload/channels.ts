// IPC channel names shared by preload.ts and main/app/ipc.ts (pure; no Electron import).
export const invokeChannel = 'keepsake:invoke';
export const eventChannel = 'keepsake:event';
export const pickFolderChannel = 'keepsake:pick-folder';
