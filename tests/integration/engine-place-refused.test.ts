// A place the vault refuses to record (issue 10 section 1: it answers not_held or size_mismatch
// for one file of a locations batch) is a problem the person sees beside that file, in the
// status, `keepsake status` and the Queue, not only a log line; once the vault records the
// place, the problem is gone.
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { KeepsakeEngine } from '../../main/engine/api.js';
import { databasePath } from '../../main/engine/data-dir.js';
import { describeRun, listFiles, openEngine, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';

describe('a place the vault refuses', () => {
  let vault: TestVault;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let engine: KeepsakeEngine | null = null;

  before(async () => {
    temp = await makeTempDir('keepsake-place-refused-');
    vault = await startTestVault();
  });
  after(async () => {
    await engine?.close();
    await vault?.close();
    await temp?.cleanup();
  });

  /** Runs an engine on `dataDir` until its files settle and their places are sent. */
  async function runEngine(dataDir: string, folder?: string): Promise<KeepsakeEngine> {
    const e = (await openEngine(dataDir, vault, {
      createWatcher: null,
      settleMs: 0,
      metadataReader: null,
    })) as KeepsakeEngine;
    engine = e;
    if (folder !== undefined) await e.api['folders.add']({ path: folder });
    await e.start();
    await e.whenSettled(AbortSignal.timeout(60_000));
    await e.whenLocationsSent(AbortSignal.timeout(60_000));
    return e;
  }

  async function stop(e: KeepsakeEngine): Promise<void> {
    await e.close();
    engine = null;
  }

  /** Changes one row of the vault's index or the engine's database, as a test of state. */
  function sql(file: string, statement: string, ...params: unknown[]): void {
    const db = new Database(file);
    try {
      db.prepare(statement).run(...params);
    } finally {
      db.close();
    }
  }

  it('is shown as that file’s problem until the vault records the place', async () => {
    const src = join(temp.dir, 'Pictures');
    const dataDir = join(temp.dir, 'data');
    await mkdir(src, { recursive: true });
    await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(src, 'cookie.jpg'));
    await copyFile(corpusFile('osxphotos/wedding.jpg'), join(src, 'wedding.jpg'));
    let e = await runEngine(dataDir, src);
    const wedding = (await listFiles(e)).find((f) => f.path.endsWith('wedding.jpg'));
    assert.ok(wedding?.sha256, 'wedding.jpg is backed up');
    await stop(e);

    // The places were not told yet (a crash right after the uploads), and the vault's record
    // of one content now disagrees with the file's size: the vault refuses that one place.
    sql(databasePath(dataDir), 'UPDATE files SET location_sha256 = NULL, location_mtime_ms = NULL');
    const vaultDb = join(vault.dataDir, 'vault.db');
    sql(vaultDb, 'UPDATE assets SET size = size + 1 WHERE sha256 = ?', wedding.sha256);

    e = await runEngine(dataDir);
    const rows = await listFiles(e);
    const refused = rows.find((f) => f.path.endsWith('wedding.jpg'));
    const recorded = rows.find((f) => f.path.endsWith('cookie.jpg'));
    assert.equal(refused?.state, 'backed_up');
    assert.equal(refused?.problem?.code, 'place_not_recorded');
    assert.match(refused.problem.message, /the vault did not record where this file is kept/);
    assert.equal(recorded?.problem, null);
    const status = await e.api['status.get']({});
    assert.equal(status.placesNotRecorded, 1);
    assert.equal(status.status, 'needs_attention');
    await stop(e);

    const cli = await runCli(['status', '--data-dir', dataDir, '--json']);
    assert.equal(cli.code, 0, describeRun(cli));
    const report = parseJsonOutput<{ placesNotRecorded: { path: string; code: string }[] }>(cli);
    assert.deepEqual(
      report.placesNotRecorded.map((p) => [p.path, p.code]),
      [[join(src, 'wedding.jpg'), 'place_not_recorded']],
    );

    // The vault's record is right again: the next start records the place, the problem goes.
    sql(vaultDb, 'UPDATE assets SET size = size - 1 WHERE sha256 = ?', wedding.sha256);
    e = await runEngine(dataDir);
    const after = (await listFiles(e)).find((f) => f.path.endsWith('wedding.jpg'));
    assert.equal(after?.problem, null);
    assert.equal((await e.api['status.get']({})).placesNotRecorded, 0);
    await stop(e);
  });
});
