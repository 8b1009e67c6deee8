// Types for scripts/electron-binary.mjs (used by `npm start` and tests/e2e/electron.test.ts).
export function findElectronBinary(): { path: string } | { path: null; reason: string };
export function electronVersion(): string;
