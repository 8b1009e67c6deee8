// The metadata contract between the engine and the vault, checked with real files: what the
// engine's exiftool reader extracts from corpus photos and videos (plus the original path and
// device the engine adds) is accepted by the vault's PUT .../metadata and read back unchanged.
// The vault keeps its own schema (server/ stands alone), so this is where drift would show.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { createMetadataReader } from '../../main/engine/metadata/index.js';
import type { MediaMetadata, MetadataReader } from '../../main/engine/metadata/types.js';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { corpusFile, corpusRoot } from '../support/paths.js';
import { startTestVault, uploadBuffer, vaultFetch, type TestVault } from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const MEDIA =
  /\.(jpe?g|heic|heif|png|tiff?|dng|cr2|cr3|crw|nef|arw|raf|orf|rw2|gif|webp|avif|mov|mp4|m4v|avi|3gp|mts|wmv)$/i;

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault accepts the metadata the engine extracts from real files', () => {
      let vault: TestVault;
      let reader: MetadataReader;
      let sample: string[];

      before(async () => {
        vault = await startTestVault(setup!.vaultOptions);
        reader = createMetadataReader({ logger: silentLogger, clock: systemClock });
        const manifest = await readFile(`${corpusRoot}/MANIFEST.tsv`, 'utf8');
        const media = manifest
          .split('\n')
          .slice(1)
          .map((l) => l.split('\t')[0] ?? '')
          .filter((p) => MEDIA.test(p));
        // every 4th media file: ~100 files across every source folder and format
        sample = media.filter((_, i) => i % 4 === 0);
      });
      after(async () => {
        await reader?.close();
        await vault?.close();
      });

      it('every extracted record is stored and read back unchanged', async () => {
        assert.ok(sample.length >= 50, `a real sample (${sample.length} files)`);
        const refused: string[] = [];
        const results = await Promise.all(
          sample.map(async (rel) => {
            const path = corpusFile(rel);
            const st = await stat(path);
            return { rel, path, read: await reader.read(path, st.mtimeMs) };
          }),
        );
        for (const { rel, path, read } of results) {
          const up = await uploadBuffer(vault, await readFile(path), {
            filename: rel.split('/').at(-1)!,
          });
          assert.equal(up.res.status, 201, `${rel}: ${up.text}`);
          const body: MediaMetadata = { ...read.metadata, originalPath: path, device: hostname() };
          const put = await vaultFetch(vault, `/api/v1/assets/${up.sha256}/metadata`, {
            method: 'PUT',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
          });
          if (put.status !== 200) {
            refused.push(`${rel}: ${put.status} ${await put.text()}`);
            continue;
          }
          const stored = (await put.json()) as { metadata: unknown };
          assert.deepEqual(stored.metadata, JSON.parse(JSON.stringify(body)), rel);
        }
        assert.deepEqual(refused, [], 'the vault refused metadata the engine extracted');
      });
    });
  });
}
