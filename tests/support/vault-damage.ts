// Damaging a test vault's stored blobs behind its back, and reading its /metrics, for the
// self-check tests (vault-heal*.test.ts).
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobStore } from '../../server/blob-store.js';
import { vaultFetch, type VaultEndpoint } from './vault.js';

/** Where a vault keeps a blob, in whichever layout it has (See [Note: Blob layout]). */
export function blobPath(dataDir: string, sha256: string): string {
  return new BlobStore(join(dataDir, 'blobs')).pathOf(sha256);
}

/** Flips every bit of the byte at `at` in place (same size, different content). */
export async function flipByte(path: string, at: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, at);
    one[0] = one[0]! ^ 0xff;
    await fh.write(one, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** The value of one sample line of /metrics, e.g. `name{label="x"}`. */
export async function metricValue(vault: VaultEndpoint, line: string): Promise<number> {
  const text = await (await vaultFetch(vault, '/metrics')).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  assert.ok(found, `metric ${line} in:\n${text}`);
  return Number(found.slice(line.length + 1));
}
