// Groups on the vault (issue 11 section 1), through the engine's own vault client against a
// real vault on loopback, with real corpus files: a Live Photo's still and video are one
// group, each member's asset says its group and role, a declaration sent again changes
// nothing, a corrected one replaces it (same id), a member taken into another group leaves
// its old one (which ends when it breaks), content the vault does not hold is refused whole,
// and groups survive a restart. With several devices a group is its declarer's: another
// device's conflicting declaration is refused with who holds what, and never steals members.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { DeviceCreated, GroupRole } from '../../common/vault-protocol.js';
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

    describe('vault: groups', () => {
      let dir: { dir: string; cleanup: () => Promise<void> };
      let vault: TestVault;
      let client: VaultClient;
      const sha: Record<string, string> = {};

      before(async () => {
        dir = await makeTempDir('keepsake-groups-');
        vault = await startTestVault({ ...setup!.vaultOptions, dataDir: dir.dir });
        client = createVaultClient({ endpoint: vault.url, token: vault.token });
        for (const [name, rel] of Object.entries({
          still: 'osxphotos/media_types/IMG_3582.HEIC',
          video: 'osxphotos/media_types/IMG_3582.mov',
          orphan: 'osxphotos/IMG_1853.HEIC',
          aae: 'osxphotos/IMG_1853.AAE',
          edit: 'osxphotos/IMG_E1853.heic',
          wedding: 'osxphotos/wedding.jpg',
        })) {
          const up = await uploadBuffer(vault, await readFile(corpusFile(rel)));
          assert.ok(up.res.status === 201 || up.res.status === 204, up.text);
          sha[name] = up.sha256;
        }
      });
      after(async () => {
        client?.close();
        await vault?.close();
        await dir?.cleanup();
      });

      it('a Live Photo declared as a group: each member says its group and role', async () => {
        const [result] = await client.declareGroups([
          {
            members: [
              { sha256: sha.still!, role: 'primary' },
              { sha256: sha.video!, role: 'live-video' },
            ],
          },
        ]);
        assert.ok(result?.status === 'stored', JSON.stringify(result));
        assert.equal(result.change, 'created');
        const still = await client.asset(sha.still!);
        const video = await client.asset(sha.video!);
        assert.deepEqual(still?.group, { id: result.id, role: 'primary' });
        assert.deepEqual(video?.group, { id: result.id, role: 'live-video' });
        const group = await client.group(result.id);
        assert.ok(group);
        assert.deepEqual(group.members, [
          { sha256: sha.still, role: 'primary' },
          { sha256: sha.video, role: 'live-video' },
        ]);
        assert.ok(group.declaredAt > 0);
        // A content in no group says so, and the listing carries groups too.
        assert.equal((await client.asset(sha.wedding!))?.group, null);
        const page = await client.listAssets(null, 100);
        assert.deepEqual(page.assets.find((a) => a.sha256 === sha.video)?.group, {
          id: result.id,
          role: 'live-video',
        });
      });

      it('the same declaration sent again changes nothing; a corrected one replaces it, same id', async () => {
        const members = [
          { sha256: sha.orphan!, role: 'primary' as const },
          { sha256: sha.aae!, role: 'sidecar' as const },
        ];
        const [first] = await client.declareGroups([{ members }]);
        const [again] = await client.declareGroups([{ members }]);
        assert.ok(first?.status === 'stored' && again?.status === 'stored');
        assert.equal(again.change, 'unchanged');
        assert.equal(again.id, first.id);
        const [grown] = await client.declareGroups([
          { members: [...members, { sha256: sha.edit!, role: 'edit' }] },
        ]);
        assert.ok(grown?.status === 'stored');
        assert.equal(grown.change, 'replaced');
        assert.equal(grown.id, first.id);
        assert.equal((await client.group(first.id))?.members.length, 3);
        assert.deepEqual((await client.asset(sha.edit!))?.group, { id: first.id, role: 'edit' });
      });

      it('a member declared into another group leaves its old one, which ends when one member is left', async () => {
        const [live] = await client.declareGroups([
          {
            members: [
              { sha256: sha.still!, role: 'primary' },
              { sha256: sha.video!, role: 'live-video' },
            ],
          },
        ]);
        assert.ok(live?.status === 'stored');
        const [taken] = await client.declareGroups([
          {
            members: [
              { sha256: sha.wedding!, role: 'primary' },
              { sha256: sha.video!, role: 'edit' },
            ],
          },
        ]);
        assert.ok(taken?.status === 'stored' && taken.change === 'created');
        assert.notEqual(taken.id, live.id);
        assert.equal(await client.group(live.id), null, 'the Live Photo group ended');
        assert.equal((await client.asset(sha.still!))?.group, null);
        // Declaring the primary alone ends its group.
        const [alone] = await client.declareGroups([
          { members: [{ sha256: sha.wedding!, role: 'primary' }] },
        ]);
        assert.deepEqual(alone, { status: 'dissolved' });
        assert.equal(await client.group(taken.id), null);
        assert.equal((await client.asset(sha.video!))?.group, null);
      });

      it('a declaration naming content the vault does not hold is refused whole, beside a stored one', async () => {
        const results = await client.declareGroups([
          {
            members: [
              { sha256: sha.still!, role: 'primary' },
              { sha256: NOT_HELD, role: 'live-video' },
            ],
          },
          {
            members: [
              { sha256: sha.still!, role: 'primary' },
              { sha256: sha.video!, role: 'live-video' },
            ],
          },
        ]);
        assert.deepEqual(results[0], { status: 'not_held', notHeld: [NOT_HELD] });
        assert.equal(results[1]?.status, 'stored');
        assert.equal((await client.asset(sha.video!))?.group?.role, 'live-video');
      });

      it('refuses a declaration without exactly one primary, or with a content twice', async () => {
        const res = await vaultFetch(vault, '/api/v1/groups', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            groups: [
              { members: [{ sha256: sha.still, role: 'live-video' }] },
              {
                members: [
                  { sha256: sha.still, role: 'primary' },
                  { sha256: sha.still, role: 'edit' },
                ],
              },
              { members: [{ sha256: sha.still, role: 'thumbnail' }] },
            ],
          }),
        });
        assert.equal(res.status, 200);
        const body = (await res.json()) as { results: { status: string; field?: string }[] };
        assert.deepEqual(
          body.results.map((r) => r.status),
          ['refused', 'refused', 'refused'],
        );
        assert.equal(body.results[2]?.field, 'members.0.role');
        const empty = await vaultFetch(vault, '/api/v1/groups', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ groups: [] }),
        });
        assert.equal(empty.status, 400);
        assert.equal((await vaultFetch(vault, '/api/v1/groups/abc')).status, 404);
        assert.equal((await vaultFetch(vault, '/api/v1/groups/999999')).status, 404);
        assert.equal((await vaultFetch(vault, '/api/v1/groups')).status, 405);
      });

      it('groups survive a restart of the vault', async () => {
        const before = await client.asset(sha.still!);
        assert.ok(before?.group);
        client.close();
        await vault.close();
        vault = await startTestVault({
          ...setup!.vaultOptions,
          dataDir: dir.dir,
          token: vault.token,
        });
        client = createVaultClient({ endpoint: vault.url, token: vault.token });
        assert.deepEqual((await client.asset(sha.still!))?.group, before.group);
        assert.equal((await client.group(before.group.id))?.members.length, 2);
      });
    });

    describe('vault: groups declared by several devices', () => {
      let dir: { dir: string; cleanup: () => Promise<void> };
      let vault: TestVault;
      let phone: VaultClient;
      let laptop: VaultClient;
      const sha: Record<string, string> = {};
      const primary = (s: string) => ({ sha256: sha[s]!, role: 'primary' as const });
      const as = (s: string, role: GroupRole) => ({ sha256: sha[s]!, role });

      async function device(name: string): Promise<VaultClient> {
        const res = await vaultFetch(vault, '/api/v1/devices', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name }),
        });
        assert.equal(res.status, 201, await res.clone().text());
        const created = (await res.json()) as DeviceCreated;
        return createVaultClient({ endpoint: vault.url, token: created.token });
      }

      before(async () => {
        dir = await makeTempDir('keepsake-groups-devices-');
        vault = await startTestVault({
          ...(await setup!.freshVaultOptions()),
          dataDir: dir.dir,
          previews: false,
        });
        for (const name of ['still', 'video', 'edit', 'other', 'raw', 'xmp', 'jpeg']) {
          const up = await uploadBuffer(vault, Buffer.from(`two devices, one ${name}`));
          assert.ok(up.res.status === 201 || up.res.status === 204, up.text);
          sha[name] = up.sha256;
        }
        phone = await device('phone');
        laptop = await device('laptop');
      });
      after(async () => {
        phone?.close();
        laptop?.close();
        await vault?.close();
        await dir?.cleanup();
      });

      it("another device's conflicting declaration is refused with who holds what; nothing moves", async () => {
        const [live] = await phone.declareGroups([
          { members: [primary('still'), as('video', 'live-video')] },
        ]);
        assert.ok(live?.status === 'stored' && live.change === 'created', JSON.stringify(live));
        // The laptop holds the same Live Photo and agrees: no conflict, nothing changes.
        const [same] = await laptop.declareGroups([
          { members: [primary('still'), as('video', 'live-video')] },
        ]);
        assert.deepEqual(same, { status: 'stored', id: live.id, change: 'unchanged' });

        const refused = await laptop.declareGroups([
          // the phone's group, with an edit only the laptop has
          { members: [primary('still'), as('video', 'live-video'), as('edit', 'edit')] },
          // the phone's video taken into a group of the laptop's
          { members: [primary('other'), as('video', 'edit')] },
          // the phone's group ended
          { members: [primary('still')] },
        ]);
        for (const r of refused) {
          assert.ok(r.status === 'conflict', JSON.stringify(r));
          assert.equal(r.heldBy, 'phone');
          assert.match(r.message, /phone declared/);
        }
        assert.deepEqual(refused[0]?.status === 'conflict' && refused[0].members, [
          sha.still,
          sha.video,
        ]);
        assert.deepEqual(refused[1]?.status === 'conflict' && refused[1].members, [sha.video]);
        const group = await phone.group(live.id);
        assert.deepEqual(group?.members, [
          { sha256: sha.still, role: 'primary' },
          { sha256: sha.video, role: 'live-video' },
        ]);
        assert.equal((await phone.asset(sha.other!))?.group, null, 'no group was made in part');
        assert.equal((await phone.asset(sha.edit!))?.group, null);

        // Its own declarer still changes it.
        const [replaced] = await phone.declareGroups([
          { members: [primary('still'), as('video', 'live-video'), as('edit', 'edit')] },
        ]);
        assert.deepEqual(replaced, { status: 'stored', id: live.id, change: 'replaced' });
      });

      it("a revoked device's groups are anybody's: the next declaration takes their members", async () => {
        const [own] = await laptop.declareGroups([
          { members: [primary('raw'), as('xmp', 'sidecar')] },
        ]);
        assert.ok(own?.status === 'stored', JSON.stringify(own));
        const [refused] = await phone.declareGroups([
          { members: [primary('jpeg'), as('xmp', 'sidecar')] },
        ]);
        assert.ok(
          refused?.status === 'conflict' && refused.heldBy === 'laptop',
          JSON.stringify(refused),
        );

        const revoke = await vaultFetch(vault, '/api/v1/devices/laptop/revoke', { method: 'POST' });
        assert.equal(revoke.status, 200);
        const [taken] = await phone.declareGroups([
          { members: [primary('jpeg'), as('xmp', 'sidecar')] },
        ]);
        assert.ok(taken?.status === 'stored' && taken.change === 'created', JSON.stringify(taken));
        assert.deepEqual((await phone.asset(sha.xmp!))?.group, { id: taken.id, role: 'sidecar' });
        // The laptop's group, left with one member, ended.
        assert.equal((await phone.asset(sha.raw!))?.group, null);
        assert.equal(await phone.group(own.id), null);
      });

      it('the admin token is one declarer among the devices', async () => {
        const admin = createVaultClient({ endpoint: vault.url, token: vault.token });
        try {
          const [refused] = await admin.declareGroups([{ members: [primary('still')] }]);
          assert.ok(
            refused?.status === 'conflict' && refused.heldBy === 'phone',
            JSON.stringify(refused),
          );
          const [own] = await admin.declareGroups([
            { members: [primary('other'), as('raw', 'rendition')] },
          ]);
          assert.ok(own?.status === 'stored', JSON.stringify(own));
          const [fromPhone] = await phone.declareGroups([
            { members: [primary('raw'), as('other', 'rendition')] },
          ]);
          assert.ok(
            fromPhone?.status === 'conflict' && fromPhone.heldBy === 'the admin token',
            JSON.stringify(fromPhone),
          );
        } finally {
          admin.close();
        }
      });
    });
  });
}
