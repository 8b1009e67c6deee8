// `keepsake vault previews --rebuild --data-dir DIR`: deletes a stopped vault's thumbnails and
// previews and makes them all again, then prints a summary (or one JSON object with --json).
// A running vault makes missing ones in the background by itself.
import { rebuildPreviews } from '../../../server/preview-rebuild.js';
import { VaultStartError } from '../../../server/vault.js';

export async function runVaultPreviews(opts: {
  dataDir: string;
  index?: string;
  blobs?: string;
  previewsDir?: string;
  rebuild: boolean;
  json?: boolean;
}): Promise<void> {
  if (!opts.rebuild) {
    console.error(
      'keepsake vault previews: say --rebuild (delete every preview and make them again)',
    );
    process.exitCode = 2;
    return;
  }
  try {
    const { rebuild: _rebuild, json: _json, ...where } = opts;
    const s = await rebuildPreviews(where);
    if (opts.json === true) {
      console.log(JSON.stringify(s));
    } else {
      console.log(
        `rebuilt previews of ${s.assets} assets in ${s.seconds.toFixed(1)} s: ${s.made} made, ${s.none} cannot be made (GET /api/v1/assets/SHA256/previews says why)`,
      );
    }
  } catch (err) {
    if (err instanceof VaultStartError) {
      console.error(`keepsake vault previews: ${err.message}`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}
