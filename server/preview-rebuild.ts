// `keepsake vault previews --rebuild`: deletes every thumbnail and preview of a stopped
// vault and makes them all again, now. A running vault would do the same in the background
// (See [Note: Preview work is the index] in previews.ts); this is for a person who wants
// them back at once, after deleting them or after a decoder was added.
import { join } from 'node:path';
import { openBlobStore } from './blobs/open-blob-store.js';
import { silentVaultLogger, type VaultLogger } from './logger.js';
import {
  PREVIEWS_DIR,
  PreviewFiles,
  type PreviewOptions,
  PreviewWorker,
  rendererFor,
} from './previews.js';
import { withStoppedVault } from './stopped-vault.js';

export interface RebuildSummary {
  assets: number;
  made: number;
  none: number;
  seconds: number;
}

export async function rebuildPreviews(opts: {
  dataDir: string;
  /** the vault's --index and --previews-dir (defaults in `dataDir`) */
  index?: string;
  previewsDir?: string;
  /** where the vault stores its blobs, as its --blobs option (default `<dataDir>/blobs`) */
  blobs?: string;
  previews?: PreviewOptions;
  logger?: VaultLogger;
}): Promise<RebuildSummary> {
  const started = performance.now();
  const blobs = openBlobStore(opts.blobs, opts.dataDir);
  return withStoppedVault(opts, 'stop it to rebuild its previews', async (index) => {
    const files = new PreviewFiles(opts.previewsDir ?? join(opts.dataDir, PREVIEWS_DIR));
    await index.previews.clear();
    await files.removeAll();
    const worker = new PreviewWorker({
      index,
      blobs,
      files,
      renderer: await rendererFor(opts.previews),
      logger: opts.logger ?? silentVaultLogger,
      now: Date.now,
      concurrency: opts.previews?.concurrency ?? 2,
      tempDir: join(opts.dataDir, 'uploads'),
    });
    try {
      const assets = await worker.processPending();
      const counts = await index.previews.counts();
      return { assets, ...counts, seconds: (performance.now() - started) / 1000 };
    } finally {
      await worker.stop();
    }
  }).finally(() => blobs.close());
}
