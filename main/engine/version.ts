// The version this engine reports (heartbeats, diagnostics): package.json's, read once from
// the repository or the packaged app beside this module. 'unknown' when neither is found (a
// bundle that left package.json out), never an error.
import { readFileSync } from 'node:fs';

let cached: string | null = null;

export function engineVersion(): string {
  if (cached !== null) return cached;
  cached = 'unknown';
  // From main/engine/ (source) or a bundle's output folder: the nearest package.json up.
  for (const up of ['../../package.json', '../package.json', './package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'keepsake' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    } catch {
      // not there: look further up
    }
  }
  return cached;
}
