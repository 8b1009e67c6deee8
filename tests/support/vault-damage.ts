// Damaging a test vault's stored blobs behind its back, and reading its /metrics, for the
// self-check tests (vault-heal*.test.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FsBlobStore } from '../../server/blob-store.js';
import { vaultFetch, type VaultEndpoint } from './vault.js';

/**
 * Where a vault keeps a blob, in whichever layout it has (See [Note: Blob layout]): the plain
 * file, or the compressed one when only that is there (See [Note: One way to read a blob]).
 */
export function blobPath(dataDir: string, sha256: string): string {
  const blobs = new FsBlobStore(join(dataDir, 'blobs'));
  const plain = blobs.pathOf(sha256);
  const packed = blobs.compressedPathOf(sha256);
  return !existsSync(plain) && existsSync(packed) ? packed : plain;
}

/** The original bytes a vault stores for a content, plain or compressed; null if neither. */
export async function storedContent(dataDir: string, sha256: string): Promise<Buffer | null> {
  const content = await new FsBlobStore(join(dataDir, 'blobs')).openContent(sha256);
  if (content === null) return null;
  try {
    const buf = Buffer.alloc(content.size);
    for (let pos = 0; pos < content.size;) {
      const { bytesRead } = await content.read(buf, pos, content.size - pos, pos);
      if (bytesRead === 0) throw new Error('the blob ended early');
      pos += bytesRead;
    }
    return buf;
  } finally {
    await content.close();
  }
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
