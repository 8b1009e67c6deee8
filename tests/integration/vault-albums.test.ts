// Albums on the vault (issue 12 section 1), through the engine's own vault client against a
// real vault on loopback: an album keeps its name (emoji and all), description and members in
// order; posting it again (a re-run import) is the same album, never a second; content the
// vault does not hold is answered, not stored; albums survive a vault restart.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createVaultClient, type VaultClient } from '../../main/engine/vault/vault-client.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, uploadBuffer, vaultFetch, type TestVault } from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const NOT_HELD = 'f'.repeat(64);

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: albums', () => {
      let dir: { dir: string; cleanup: () => Promise<void> };
      let vault: TestVault;
      let client: VaultClient;
      const held: string[] = [];

      before(async () => {
        dir = await makeTempDir('keepsake-albums-');
        vault = await startTestVault({ ...setup!.vaultOptions, dataDir: dir.dir });
        client = createVaultClient({ endpoint: vault.url, token: vault.token });
        for (const rel of [
          'takeout/osxphotos/Takeout/Google Photos/Pumpkin Farm/Pumkins1.jpg',
          'takeout/osxphotos/Takeout/Google Photos/Pumpkin Farm/Pumkins2.jpg',
          'takeout/osxphotos/Takeout/Google Photos/Pumpkin Farm/Pumpkins3.jpg',
        ]) {
          const up = await uploadBuffer(vault, await readFile(corpusFile(rel)));
          assert.equal(up.res.status, 201, up.text);
          held.push(up.sha256);
        }
      });
      after(async () => {
        client?.close();
        await vault?.close();
        await dir?.cleanup();
      });

      it('makes an album with its name, description and members in order', async () => {
        const reply = await client.createAlbum({
          name: 'Pumpkin Farm 🎃',
          description: 'Halloween',
          source: 'takeout',
          key: 'Google Photos/Pumpkin Farm',
          members: [held[2]!, held[0]!, held[1]!],
        });
        assert.equal(reply.created, true);
        assert.equal(reply.added, 3);
        assert.deepEqual(reply.notHeld, []);
        const album = await client.album(reply.album.id);
        assert.ok(album);
        assert.equal(album.name, 'Pumpkin Farm 🎃');
        assert.equal(album.description, 'Halloween');
        assert.equal(album.source, 'takeout');
        assert.deepEqual(album.members, [held[2], held[0], held[1]]);
        assert.equal(album.memberCount, 3);
        assert.ok(album.created > 0);
      });

      it('the same album posted again is the same album: no second one, no repeated member', async () => {
        const again = await client.createAlbum({
          name: 'Pumpkin Farm 🎃',
          source: 'takeout',
          key: 'Google Photos/Pumpkin Farm',
          members: [held[2]!, held[0]!, held[1]!, held[0]!],
        });
        assert.equal(again.created, false);
        assert.equal(again.added, 0);
        const all = await client.albums();
        assert.equal(all.filter((a) => a.key === 'Google Photos/Pumpkin Farm').length, 1);
        assert.deepEqual(again.album.members, [held[2], held[0], held[1]]);
      });

      it('members the vault does not hold are answered as notHeld and not stored', async () => {
        const reply = await client.createAlbum({
          name: 'Adelaide',
          source: 'takeout',
          key: 'Google Photos/Adelaide',
          members: [NOT_HELD, held[1]!],
        });
        assert.deepEqual(reply.notHeld, [NOT_HELD]);
        assert.deepEqual(reply.album.members, [held[1]]);
      });

      it('refuses an album without a name, and answers 404 for an unknown id', async () => {
        const res = await vaultFetch(vault, '/api/v1/albums', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: '', source: 'takeout', key: 'k', members: [] }),
        });
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as { error: string }).error, 'bad_request');
        assert.equal(await client.album('999999'), null);
        assert.equal((await vaultFetch(vault, '/api/v1/albums/abc')).status, 404);
        const put = await vaultFetch(vault, '/api/v1/albums', { method: 'PUT' });
        assert.equal(put.status, 405);
      });

      it('albums survive a restart of the vault', async () => {
        const before = await client.albums();
        client.close();
        await vault.close();
        vault = await startTestVault({
          ...setup!.vaultOptions,
          dataDir: dir.dir,
          token: vault.token,
        });
        client = createVaultClient({ endpoint: vault.url, token: vault.token });
        assert.deepEqual(await client.albums(), before);
      });
    });
  });
}
