// `keepsake vault trash list|restore SHA256...|empty` (issue 15 section 1), on the vault's
// data directory: list and restore beside a running vault or a stopped one (the vault reads
// its index on every request); empty only on a stopped vault, and it is the one way a content
// ever leaves the vault (See [Note: What the trash answers] in server/trash.ts). It prints
// what it removed and what it kept, and why.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatSize } from '../../../common/size-units.js';
import { SHA256_HEX } from '../../../common/vault-protocol.js';
import type { VaultIndex } from '../../../server/index/vault-index.js';
import { emptyStoppedVaultTrash, trashListing } from '../../../server/trash.js';
import { VaultStartError } from '../../../server/vault.js';
import { openIndexToStart } from '../../../server/stopped-vault.js';

const USAGE =
  'usage: keepsake vault trash list | restore SHA256... | empty [--trash-retention DAYS] [--json] (--data-dir DIR)';

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function openIndex(dataDir: string, index?: string): Promise<VaultIndex | null> {
  const path = index ?? join(dataDir, 'vault.db');
  if (index === undefined && !existsSync(path)) {
    console.error(`keepsake vault trash: no vault in ${dataDir} (no vault.db there)`);
    process.exitCode = 1;
    return null;
  }
  try {
    return await openIndexToStart(path);
  } catch (err) {
    if (!(err instanceof VaultStartError)) throw err;
    console.error(`keepsake vault trash: ${err.message}`);
    process.exitCode = 1;
    return null;
  }
}

export async function runVaultTrash(opts: {
  dataDir: string;
  index?: string;
  blobs?: string;
  previewsDir?: string;
  args: string[];
  json: boolean;
  retentionDays: number;
}): Promise<void> {
  const [what, ...rest] = opts.args;
  if (what === 'list' && rest.length === 0) {
    const index = await openIndex(opts.dataDir, opts.index);
    if (index === null) return;
    try {
      const listing = await trashListing(index, opts.retentionDays);
      if (opts.json) {
        console.log(JSON.stringify(listing));
        return;
      }
      if (listing.items.length === 0) {
        console.log("the vault's trash is empty");
        return;
      }
      for (const i of listing.items) {
        console.log(
          `${i.sha256}  ${i.filename}  ${formatSize(i.size)}  trashed ${when(i.trashedAt)}  ` +
            `removable after ${when(i.removableAfter)}` +
            (i.livePlaces > 0 ? `  (kept: ${i.livePlaces} place(s) on devices)` : ''),
        );
      }
      console.log(
        `${listing.items.length} in the trash, ${formatSize(listing.bytes)} (${listing.retentionDays} days' retention)`,
      );
    } finally {
      await index.close();
    }
    return;
  }
  if (what === 'restore' && rest.length > 0) {
    const bad = rest.filter((s) => !SHA256_HEX.test(s));
    if (bad.length > 0) {
      console.error(`keepsake vault trash restore: not a sha256: ${bad.join(' ')}`);
      process.exitCode = 2;
      return;
    }
    const index = await openIndex(opts.dataDir, opts.index);
    if (index === null) return;
    try {
      const restored = await index.trash.restore(rest);
      if (opts.json) console.log(JSON.stringify({ restored }));
      else {
        for (const s of restored) console.log(`restored ${s}`);
        console.log(`${restored.length} restored to the library`);
      }
    } finally {
      await index.close();
    }
    return;
  }
  if (what === 'empty' && rest.length === 0) {
    try {
      const { args: _args, json: _json, ...where } = opts;
      const r = await emptyStoppedVaultTrash(where);
      if (opts.json) {
        console.log(JSON.stringify(r));
        return;
      }
      for (const x of r.removed)
        console.log(`removed ${x.sha256}  ${x.filename}  ${formatSize(x.size)}`);
      for (const x of r.kept) console.log(`kept ${x.sha256}  ${x.filename}: ${x.message}`);
      console.log(
        `removed ${r.removed.length} (${formatSize(r.removedBytes)}), kept ${r.kept.length}`,
      );
    } catch (err) {
      if (err instanceof VaultStartError) {
        console.error(`keepsake vault trash empty: ${err.message}`);
        process.exitCode = 1;
        return;
      }
      throw err;
    }
    return;
  }
  console.error(USAGE);
  process.exitCode = 2;
}
