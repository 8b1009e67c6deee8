// The metadata pump with real parts: a real vault on loopback, a real SQLite store on disk,
// real exiftool on corpus copies. What a person relies on: metadata reaches the vault and is
// marked sent only once the vault stored it; a value the vault refuses costs that value
// alone (with a note), never the record; a vault that is down marks nothing sent and holds
// nobody up.
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMetadataReader } from '../../../../main/engine/metadata/metadata-reader.js';
import type { MediaMetadata, MetadataReader } from '../../../../main/engine/metadata/types.js';
import {
  createMetadataPump,
  type MetadataPump,
} from '../../../../main/engine/pipeline/metadata-pump.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { openDatabase } from '../../../../main/engine/store/database.js';
import { createStore, type Store } from '../../../../main/engine/store/store.js';
import { createVaultClient, type VaultClient } from '../../../../main/engine/vault/vault-client.js';
import { damageTable } from '../../../support/damage-db.js';
import { corpusFile, makeTempDir } from '../../../support/paths.js';
import {
  sha256Hex,
  startTestVault,
  uploadBuffer,
  vaultFetch,
  type TestVault,
} from '../../../support/vault.js';

const PHOTOS = [
  'exiftool-t-images/GPS.jpg',
  'osxphotos/IMG_1853.HEIC',
  'metadata-extractor-images/mov/with-gps.mov',
];

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('metadata pump (real vault, store and exiftool)', () => {
  let vault: TestVault;
  let dir: string;
  let cleanup: () => Promise<void>;
  let reader: MetadataReader;
  let n = 0;
  const open: { store: Store; pump: MetadataPump; client: VaultClient }[] = [];

  before(async () => {
    vault = await startTestVault();
    ({ dir, cleanup } = await makeTempDir('keepsake-meta-pump-'));
    reader = createMetadataReader({ logger: silentLogger, clock: systemClock, maxProcs: 1 });
  });
  after(async () => {
    for (const o of open) {
      await o.pump.close();
      o.store.close();
      o.client.close();
    }
    await reader.close();
    await vault.close();
    await cleanup();
  });

  function setup(endpoint = vault.url, metadataReader = reader) {
    const file = join(dir, `s${n++}.db`);
    const { db } = openDatabase(file, {
      logger: silentLogger,
      clock: systemClock,
    });
    const store = createStore(db, systemClock);
    const client = createVaultClient({ endpoint, token: vault.token, timeoutMs: 2000 });
    const pump = createMetadataPump({
      store,
      reader: metadataReader,
      vault: client,
      clock: systemClock,
      logger: silentLogger,
      concurrency: 4,
      sendingAllowed: () => true,
      events: { fileChanged: () => {}, pauseRequired: () => {} },
    });
    open.push({ store, pump, client });
    const folder = store.addFolder(dir, [], []);
    /** A backed-up file: its bytes on the vault (unless told otherwise), metadata pending. */
    async function addBackedUp(
      path: string,
      opts: { onVault?: boolean } = {},
    ): Promise<{ id: number; sha256: string }> {
      const bytes = await readFile(path);
      const sha256 =
        opts.onVault === false
          ? sha256Hex(Buffer.concat([bytes, Buffer.from('not on the vault')]))
          : (await uploadBuffer(vault, bytes)).sha256;
      const rec = store.insertFile({
        folderId: folder.id,
        path,
        relPath: path.slice(dir.length + 1),
        size: bytes.length,
        mtimeMs: 1000,
        ino: n * 1000 + Math.floor(Math.random() * 1000),
        dev: 1,
        state: 'backed_up',
        priority: 0,
        sha256,
      });
      return { id: rec.id, sha256 };
    }
    return { store, pump, addBackedUp, file };
  }

  async function onVault(sha256: string): Promise<MediaMetadata | null> {
    const res = await vaultFetch(vault, `/api/v1/assets/${sha256}`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { metadata: MediaMetadata | null }).metadata;
  }

  async function copies(prefix: string): Promise<string[]> {
    return Promise.all(
      PHOTOS.map(async (rel, i) => {
        const p = join(dir, `${prefix}-${i}-${rel.split('/').at(-1)}`);
        await copyFile(corpusFile(rel), p);
        return p;
      }),
    );
  }

  it('reads and sends the metadata of backed-up files; "sent" only once the vault stored it', async () => {
    const { store, pump, addBackedUp } = setup();
    const files = await Promise.all((await copies('sent')).map((p) => addBackedUp(p)));
    pump.kick();
    await until('metadata drained', () => pump.drained());
    for (const f of files) {
      assert.equal(store.getFile(f.id)?.metadataState, 'sent');
      const stored = await onVault(f.sha256);
      assert.ok(stored?.captureTime, 'the capture time reached the vault');
      assert.equal(stored?.originalPath, store.getFile(f.id)?.path);
    }
    const mov = files[2]!;
    assert.equal((await onVault(mov.sha256))?.captureTime, '2019-07-24T11:25:40.000+03:00');
  });

  it('a field the vault refuses is dropped with a note; the rest of the record is stored', async () => {
    const { store, pump, addBackedUp } = setup();
    const [photo] = await copies('refused');
    const f = await addBackedUp(photo!);
    const read: MediaMetadata = {
      captureTime: '2019-03-12T10:11:12.000+01:00',
      captureTimeSource: 'exif_original',
      timeZone: { offsetMinutes: 60, source: 'offset_time_original' },
      gps: null,
      camera: { make: 'Acme', model: 'Zero' },
      width: 0, // a broken camera wrote 0: the vault refuses it
      height: 3000,
      durationSec: null,
      orientation: 1,
      mime: 'image/jpeg',
    };
    store.setMetadata(f.id, JSON.stringify({ metadata: read, raw: {} }), [], read.captureTime);
    pump.kick();
    await until('metadata drained', () => pump.drained());
    const rec = store.getFile(f.id);
    assert.equal(rec?.metadataState, 'sent');
    const stored = await onVault(f.sha256);
    assert.equal(stored?.width, null);
    assert.equal(stored?.height, 3000);
    assert.equal(stored?.captureTime, read.captureTime);
    assert.deepEqual(stored?.camera, { make: 'Acme', model: 'Zero' });
    assert.ok(
      rec?.metadataProblems.some((p) =>
        /^The vault refused the width in this file's metadata \(.+\); the rest was sent without it\.$/.test(
          p,
        ),
      ),
      JSON.stringify(rec?.metadataProblems),
    );
    // the local record keeps what was read, and says what was left out
    const local = JSON.parse(store.metadataJson(f.id) ?? '{}') as {
      metadata: MediaMetadata;
      dropped: { field: string }[];
    };
    assert.equal(local.metadata.width, 0);
    assert.deepEqual(
      local.dropped.map((d) => d.field),
      ['width'],
    );
  });

  it('a database damaged while a file is read ends the read quietly: the fault is told, nothing thrown', async () => {
    // The store meets the damage in the read's callback, after an await: a daemon that met it
    // there died of the unhandled rejection instead of rebuilding (CI, 2026-11-29).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    const gated: MetadataReader = {
      async read(path, fallbackMtimeMs, signal) {
        started = true;
        await gate;
        return reader.read(path, fallbackMtimeMs, signal);
      },
      close: async () => {},
    };
    const thrown: unknown[] = [];
    const onRejection = (err: unknown) => thrown.push(err);
    process.on('unhandledRejection', onRejection);
    try {
      const { store, pump, addBackedUp, file } = setup(vault.url, gated);
      const [photo] = await copies('damaged');
      await addBackedUp(photo!);
      store.commit();
      pump.kick();
      await until('the read started', () => started);
      damageTable(file);
      release();
      await until('the store met the damage', () => store.fault() !== null);
      await until('the read ended', () => pump.drained());
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(store.fault()?.code, 'database_corrupt');
      assert.deepEqual(thrown.map(String), []);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('metadata of a file the vault does not hold is not marked sent, and says so', async () => {
    const { store, pump, addBackedUp } = setup();
    const [photo] = await copies('unknown');
    const f = await addBackedUp(photo!, { onVault: false });
    pump.kick();
    await until('metadata drained', () => pump.drained());
    const rec = store.getFile(f.id);
    assert.equal(rec?.metadataState, 'read');
    assert.ok(
      rec?.metadataProblems.some((p) => p.includes('does not hold this file')),
      JSON.stringify(rec?.metadataProblems),
    );
  });

  it('a vault that does not answer: nothing is marked sent, and closing does not wait for it', async () => {
    // a port where nothing listens: every send fails and is retried with backoff
    const gone = await startTestVault();
    const url = gone.url;
    await gone.close();
    const { store, pump, addBackedUp } = setup(url);
    const files = await Promise.all((await copies('down')).map((p) => addBackedUp(p)));
    pump.kick();
    await until('metadata read', () =>
      files.every((f) => store.getFile(f.id)?.metadataState === 'read'),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(pump.drained(), false, 'unsent metadata is still owed');
    for (const f of files) assert.equal(store.getFile(f.id)?.metadataState, 'read');
    const started = Date.now();
    await pump.close();
    assert.ok(Date.now() - started < 5000, 'close() does not wait for the vault');
  });
});
