// The vault's disk is full, seen from the client (issue 9, item 9): the vault's data directory
// on a real, size-limited tmpfs. `keepsake backup` says "the vault's disk is full" with what
// the vault can still store, exits 1 and still prints its --json summary; once space is freed
// on the vault's disk, the next run goes on cleanly and backs up the rest, each file once.
// Where mounting is refused the test skips with that reason.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  VaultReader,
  describeRun,
  killAllChildren,
  listEngineFiles,
  parseJsonOutput,
  runCli,
  type BackupSummary,
} from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { mountSmallDisk } from '../support/small-disk.js';
import { sha256Of } from '../support/tree.js';
import { startTestVault } from '../support/vault.js';

const MiB = 1024 * 1024;

describe("the vault's disk is full", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
  });

  it('`backup` says "the vault\'s disk is full", exits 1 with its --json summary, and the next run after space is freed backs up the rest', async (t) => {
    const disk = await mountSmallDisk(48);
    if ('skip' in disk) return t.skip(disk.skip);
    cleanups.push(disk.unmount);
    // Room on the vault's disk for a few of the photos only, until the filler goes.
    const filler = join(disk.dir, 'filler.bin');
    await writeFile(filler, Buffer.alloc(38 * MiB, 0xaa));
    const vault = await startTestVault({ dataDir: join(disk.dir, 'vault') });
    cleanups.push(() => vault.close());
    const reader = new VaultReader(vault.url, vault.token);

    const src = await makeTempDir('keepsake-vault-full-src-');
    const data = await makeTempDir('keepsake-vault-full-data-');
    cleanups.push(src.cleanup, data.cleanup);
    const hashes = new Map<string, string>();
    for (let i = 0; i < 16; i++) {
      const bytes = randomBytes(MiB + i * 1000);
      const name = `clip-${String(i).padStart(2, '0')}.mov`;
      await writeFile(join(src.dir, name), bytes);
      hashes.set(name, sha256Of(bytes));
    }
    const args = ['backup', src.dir, '--data-dir', data.dir, '--to', vault.url, '--json'];
    const env = { KEEPSAKE_TOKEN: vault.token, KEEPSAKE_SETTLE_MS: '0' };

    const full = await runCli(args, { env, timeoutMs: 180_000 });
    assert.equal(full.timedOut, false, describeRun(full));
    assert.equal(full.code, 1, describeRun(full));
    const s = parseJsonOutput<BackupSummary & { stopped?: { code: string; message: string } }>(
      full,
    );
    assert.equal(s.files, hashes.size, 'the summary counts every file');
    assert.ok(s.backedUp < hashes.size, `some did not fit (${s.backedUp} backed up)`);
    assert.equal(s.stopped?.code, 'vault_full', JSON.stringify(s));
    assert.match(full.stderr, /the vault's disk is full \(it can store [\d.]+ [KMG]?i?B more\)/);
    assert.doesNotMatch(full.stderr, /lost the vault|internal/);

    await rm(filler);
    const again = await runCli(args, { env, timeoutMs: 180_000 });
    assert.equal(again.code, 0, describeRun(again));
    const s2 = parseJsonOutput<BackupSummary>(again);
    assert.equal(s2.failed, 0);
    assert.equal(s2.backedUp + s2.duplicates, hashes.size, JSON.stringify(s2));
    const held = await reader.assetsBySha();
    for (const [name, sha] of hashes) assert.ok(held.has(sha), `${name} on the vault`);
    assert.equal(held.size, hashes.size, 'each once');
    const rows = await listEngineFiles(data.dir);
    // Safe, each of them: backed up, or (a file whose upload the vault committed just as the
    // first run stopped, before the engine recorded it) found already on the vault.
    const unsafe = rows.filter((r) => r.state !== 'backed_up' && r.state !== 'duplicate');
    assert.deepEqual(
      unsafe.map((r) => `${r.relPath}: ${r.state}`),
      [],
      'every file safe after the second run',
    );
  });
});
