// Restoring from the vault (issue 10 section 2): what the CLI and the UI call.
export { runRestore } from './restore.js';
export type { RestoreProgress, RestoreSummary } from './restore.js';
export { parseDateOption } from './selection.js';
export type { RestoreFilters } from './selection.js';
export { parseConvertRules } from './convert.js';
export type { ConvertOptions } from './convert.js';
