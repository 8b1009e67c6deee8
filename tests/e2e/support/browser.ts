// Debian's Chromium driven by playwright-core, and a fresh renderer build, for the UI tests.
// Chromium is launched headless with a fresh temporary profile and everything that would
// reach the network on its own (updates, sync, QUIC) turned off: only loopback is a target.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from '../../support/paths.js';

export const chromiumPath = process.env.KEEPSAKE_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  return existsSync(chromiumPath)
    ? null
    : `no Chromium at ${chromiumPath} (apt-get install chromium, or set KEEPSAKE_CHROMIUM)`;
}

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      ...extraArgs,
    ],
  });
}

/** Builds the renderer into `outDir` (a test's own folder, so parallel runs never share one). */
export function buildRenderer(outDir: string): void {
  const res = spawnSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--config',
      'renderer/vite.config.ts',
      '--outDir',
      outDir,
    ],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`renderer build failed:\n${res.stdout}\n${res.stderr}`);
  if (!existsSync(join(outDir, 'index.html')))
    throw new Error(`renderer build wrote no index.html in ${outDir}`);
}

export const screenshotDir = join(repoRoot, 'test-results', 'screenshots');
export async function ensureScreenshotDir(): Promise<string> {
  await mkdir(screenshotDir, { recursive: true });
  return screenshotDir;
}
