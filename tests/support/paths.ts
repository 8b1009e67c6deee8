// Where tests find the repository and the shared corpus (../shared/corpus beside the clone).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const corpusRoot = resolve(
  process.env.KEEPSAKE_CORPUS ?? join(repoRoot, '../shared/corpus'),
);

export function corpusFile(relPath: string): string {
  const path = join(corpusRoot, relPath);
  if (!existsSync(path)) throw new Error(`corpus file missing: ${path} (set KEEPSAKE_CORPUS?)`);
  return path;
}

/** A fresh temp directory, removed by the returned cleanup (call it in after/finally). */
export async function makeTempDir(
  prefix = 'keepsake-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
