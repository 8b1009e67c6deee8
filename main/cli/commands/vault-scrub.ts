// `keepsake vault scrub --data-dir DIR`: re-hashes everything a stopped vault stores, now,
// and prints a summary (or one JSON object with --json). Exit 1 when anything is damaged
// or missing; those assets are recorded so the vault reports them absent and clients
// upload them again. A running vault scrubs itself in the background instead.
import { formatSize } from '../../../common/size-units.js';
import { scrubDataDir } from '../../../server/scrub.js';
import { runMaintenance } from './vault-maintenance.js';

export async function runVaultScrub(opts: {
  dataDir: string;
  index?: string;
  blobs?: string;
  json?: boolean;
}): Promise<void> {
  await runMaintenance('scrub', async (signal) => {
    const { json: _json, ...where } = opts;
    const s = await scrubDataDir({ ...where, signal });
    const bad = s.damaged.length + s.missing.length;
    if (opts.json === true) {
      console.log(JSON.stringify(s));
    } else {
      console.log(
        `scrubbed ${s.assets} assets (${formatSize(s.bytes)}) in ${s.seconds.toFixed(1)} s: ${s.ok} intact, ${s.damaged.length} damaged, ${s.missing.length} missing`,
      );
      for (const sha of s.damaged) console.log(`damaged ${sha}`);
      for (const sha of s.missing) console.log(`missing ${sha}`);
      if (bad > 0) {
        console.log('clients holding the originals upload them again at their next backup');
      }
    }
    if (bad > 0) process.exitCode = 1;
  });
}
