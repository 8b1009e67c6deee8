// The vault's index: which content the vault holds, what the first uploader said about it,
// the metadata clients attached, and the tus uploads in flight. On SQLite (the vault's own
// vault.db, the default) or a PostgreSQL several vault nodes share (issue 14), through the
// one port in sql.ts. The one gateway to the database: no SQL outside server/index/ (this
// file and the stores it composes, such as location-store.ts).
// Invariant: an assets row is inserted only after its blob is durable on disk (see
// [Note: Commit order] in ../blob-store.ts), so every row has its blob.
import type { GroupRole } from '../../common/vault-protocol.js';
import { AlbumStore } from './album-store.js';
import { DeviceStore } from './device-store.js';
import { GroupStore } from './group-store.js';
import { HealthStore } from './health-store.js';
import { LibraryStore } from './library-store.js';
import { LocationStore } from './location-store.js';
import { IndexTooNewError, migrateIndex } from './migrate.js';
import { openSqlDatabase } from './open-sql.js';
import type { Sql, SqlDatabase } from './sql.js';
import { PreviewStore } from './preview-store.js';
import { SimilarityStore } from './similarity-store.js';
import { EncodingStore } from './encoding-store.js';
import { TrashStore } from './trash-store.js';
import { BlobReferenceStore } from './blob-reference-store.js';

export type AssetKind = 'image' | 'video' | 'other';

export interface AssetRecord {
  sha256: string;
  size: number;
  mime: string | null;
  kind: AssetKind;
  filename: string;
  relpath: string | null;
  mtimeMs: number | null;
  firstUploadedAt: number;
  /** Parsed MediaMetadata JSON, or null before any PUT. */
  metadata: unknown;
  /** The group this content belongs to and its role there; null when it stands alone. */
  group: { id: number; role: GroupRole } | null;
}

export interface NewAsset {
  sha256: string;
  size: number;
  mime: string | null;
  kind: AssetKind;
  filename: string;
  relpath: string | null;
  mtimeMs: number | null;
  at: number;
  /** devices.id of the token that uploaded it; absent or null = the admin token */
  uploadedBy?: string | null;
}

export interface UploadRecord {
  id: string;
  sha256: string;
  size: number;
  state: 'receiving' | 'finished';
  createdAt: number;
  finishedAt: number | null;
  /** the devices row whose token created it; null = the admin token */
  owner: string | null;
}

export interface UsageTotals {
  assets: number;
  bytes: number;
  dedupSavedBytes: number;
  /** bytes the blobs take on disk; `bytes` is what they hold (See encoding-store.ts) */
  storedBytes: number;
  compressionSavedBytes: number;
  byType: Record<AssetKind, { assets: number; bytes: number }>;
}

interface AssetRow {
  id: number;
  sha256: string;
  size: number;
  mime: string | null;
  kind: AssetKind;
  filename: string;
  relpath: string | null;
  mtime_ms: number | null;
  first_uploaded_at: number;
  metadata: string | null;
  group_id: number | null;
  group_role: GroupRole | null;
}

/** An assets row with its group membership (group_members is keyed by sha256). */
const SELECT_ASSET = `SELECT a.*, g.group_id, g.role AS group_role
  FROM assets a LEFT JOIN group_members g ON g.sha256 = a.sha256`;

interface UploadRow {
  id: string;
  sha256: string;
  size: number;
  state: 'receiving' | 'finished';
  created_at: number;
  finished_at: number | null;
  owner: string | null;
}

function toAsset(row: AssetRow): AssetRecord {
  return {
    sha256: row.sha256,
    size: row.size,
    mime: row.mime,
    kind: row.kind,
    filename: row.filename,
    relpath: row.relpath,
    mtimeMs: row.mtime_ms,
    firstUploadedAt: row.first_uploaded_at,
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as unknown),
    group:
      row.group_id === null || row.group_role === null
        ? null
        : { id: row.group_id, role: row.group_role },
  };
}

function toUpload(row: UploadRow): UploadRecord {
  return {
    id: row.id,
    sha256: row.sha256,
    size: row.size,
    state: row.state,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    owner: row.owner,
  };
}

export { IndexTooNewError };

// [Note: Which commits are synced]
// A client is told an upload is safe (final PATCH 204) or its metadata stored (PUT 200) right
// after the commit, so those commits run with synchronous = FULL and survive power loss.
// Upload bookkeeping (reservations, forgetting an upload) runs with NORMAL: in WAL mode it
// survives a process crash, and what a power loss may undo is repaired by the start-up sweep
// (a partial without its row is removed, a row without its partial forgotten).
export class VaultIndex {
  /** Where clients hold each content (issue 10). */
  readonly locations: LocationStore;
  /** What the last re-read of each asset's bytes found, and the scrubber's place. */
  readonly health: HealthStore;
  /** Albums imports rebuilt (issue 12). */
  readonly albums: AlbumStore;
  /** What the vault made of each asset's thumbnail and preview (issue 11). */
  readonly previews: PreviewStore;
  /** The timeline the Library page pages through (issue 11 section 3). */
  readonly library: LibraryStore;
  /** Which contents are one asset to a person (issue 11). */
  readonly groups: GroupStore;
  /** Device tokens, their heartbeats, and enrolment codes (issue 13). */
  readonly devices: DeviceStore;
  /** Each photo's perceptual hash and sharpness, for the similar-photos review (issue 15). */
  readonly similarity: SimilarityStore;
  /** How each content is stored on disk: plain or compressed (issue 15). */
  readonly encodings: EncodingStore;
  /** Contents a person moved out of the library (issue 15). See ../trash.ts. */
  readonly trash: TrashStore;
  /** What names a stored content, for the sweep of objects without rows (issue 14). */
  readonly blobReferences: BlobReferenceStore;
  /**
   * Told, after the commit, of content that just became a verified asset (every path that
   * commits an upload goes through commitVerifiedUpload or commitBatch). Must return at once.
   */
  onNewAssets: ((assets: readonly NewAsset[]) => void) | undefined;

  /**
   * Opens (and migrates) the index at `location`: a SQLite file path, or a postgres:// URL
   * (See open-sql.ts). Throws IndexTooNewError for an index a newer vault made.
   */
  static async open(location: string): Promise<VaultIndex> {
    const sql = await openSqlDatabase(location);
    try {
      await migrateIndex(sql);
    } catch (err) {
      await sql.close();
      throw err;
    }
    return new VaultIndex(sql);
  }

  private constructor(private readonly sql: SqlDatabase) {
    this.locations = new LocationStore(sql);
    this.health = new HealthStore(sql);
    this.albums = new AlbumStore(sql);
    this.previews = new PreviewStore(sql);
    this.library = new LibraryStore(sql);
    this.groups = new GroupStore(sql);
    this.devices = new DeviceStore(sql);
    this.similarity = new SimilarityStore(sql);
    this.encodings = new EncodingStore(sql);
    this.trash = new TrashStore(sql);
    this.blobReferences = new BlobReferenceStore(sql);
  }

  /** The engine the index is on, for messages: a file path or a URL without its password. */
  get description(): string {
    return this.sql.description;
  }

  async getAsset(sha256: string): Promise<AssetRecord | undefined> {
    const row = await this.sql.get<AssetRow>(`${SELECT_ASSET} WHERE a.sha256 = ?`, [sha256]);
    return row ? toAsset(row) : undefined;
  }

  /** Whether the vault holds any content of exactly `size` bytes. */
  async holdsSize(size: number): Promise<boolean> {
    // No index on size: asked once per large upload created without its hash.
    const row = await this.sql.get('SELECT 1 AS one FROM assets WHERE size = ? LIMIT 1', [size]);
    return row !== undefined;
  }

  /** Which of the given hashes the vault holds (one statement per chunk of 500). */
  async present(hashes: readonly string[]): Promise<string[]> {
    const found: string[] = [];
    for (let i = 0; i < hashes.length; i += 500) {
      const chunk = hashes.slice(i, i + 500);
      const rows = await this.sql.all<{ sha256: string }>(
        `SELECT sha256 FROM assets WHERE sha256 IN (${chunk.map(() => '?').join(',')})`,
        chunk,
      );
      for (const r of rows) found.push(r.sha256);
    }
    return found;
  }

  /** Assets after the cursor (an id; 0 = from the start), in upload order, with their ids. */
  async listAssets(
    afterId: number,
    limit: number,
  ): Promise<{ assets: { id: number; record: AssetRecord }[] }> {
    const rows = await this.sql.all<AssetRow>(
      `${SELECT_ASSET} WHERE a.id > ? ORDER BY a.id LIMIT ?`,
      [afterId, limit],
    );
    return { assets: rows.map((r) => ({ id: r.id, record: toAsset(r) })) };
  }

  /**
   * Stores many assets' metadata JSON in one synced transaction; per item, false when the
   * asset is unknown.
   */
  setMetadataMany(
    items: readonly { sha256: string; json: string }[],
    at: number,
  ): Promise<boolean[]> {
    return this.sql.transaction(
      async (tx) => {
        const stored: boolean[] = [];
        for (const i of items)
          stored.push((await tx.run(SET_METADATA, [i.json, at, i.sha256])).changes === 1);
        return stored;
      },
      { durable: true },
    );
  }

  /** Stores metadata JSON; false when the asset is unknown. */
  async setMetadata(sha256: string, json: string, at: number): Promise<boolean> {
    const [stored] = await this.setMetadataMany([{ sha256, json }], at);
    return stored === true;
  }

  async usage(): Promise<UsageTotals> {
    const byType: UsageTotals['byType'] = {
      image: { assets: 0, bytes: 0 },
      video: { assets: 0, bytes: 0 },
      other: { assets: 0, bytes: 0 },
    };
    let assets = 0;
    let bytes = 0;
    for (const r of await this.sql.all<{ kind: AssetKind; assets: number; bytes: number }>(
      USAGE_BY_KIND,
    )) {
      byType[r.kind] = { assets: r.assets, bytes: r.bytes };
      assets += r.assets;
      bytes += r.bytes;
    }
    // Dedup savings come from the locations clients registered; a vault whose clients
    // register none (older clients, plain tus) falls back to counting duplicate uploads.
    const fromLocations = await this.locations.dedupSaved();
    const counted = await this.sql.get<{ value: number }>(
      "SELECT value FROM counters WHERE name = 'dedup_saved_bytes'",
    );
    const dedupSavedBytes = fromLocations.places > 0 ? fromLocations.bytes : (counted?.value ?? 0);
    const { storedBytes, compressionSavedBytes } = await this.encodings.totals();
    return { assets, bytes, dedupSavedBytes, storedBytes, compressionSavedBytes, byType };
  }

  /** Bytes reserved against the quota: uploads still receiving, and batches in flight. */
  reservedBytes(): Promise<number> {
    return reservedBy(this.sql);
  }

  /** Bytes held by assets plus the declared sizes of uploads still receiving. */
  async committedAndReservedBytes(): Promise<number> {
    return committedAndReserved(this.sql);
  }

  /**
   * Records a new upload, reserving its declared size against the quota, in one transaction:
   * with several vault nodes, two reservations that together pass the quota cannot both be
   * made (See [Note: Transactions are the only atomicity] in sql.ts). Returns the room there
   * was when the reservation did not fit (nothing recorded), else null.
   * `owner`: the devices row whose token created it; null or absent = the admin token.
   */
  recordUploadCreated(
    u: { id: string; sha256: string; size: number; at: number; owner?: string | null },
    quota?: { quotaBytes: number },
  ): Promise<{ roomBytes: number } | null> {
    return this.sql.transaction(async (tx) => {
      if (quota !== undefined) {
        const used = await committedAndReserved(tx);
        if (used + u.size > quota.quotaBytes) {
          return { roomBytes: Math.max(0, quota.quotaBytes - used) };
        }
      }
      await tx.run(
        `INSERT INTO uploads (id, sha256, size, state, created_at, owner)
         VALUES (@id, @sha256, @size, 'receiving', @at, @owner)`,
        { id: u.id, sha256: u.sha256, size: u.size, at: u.at, owner: u.owner ?? null },
      );
      return null;
    });
  }

  /**
   * Adds `bytes` to a batch's reservation against the quota, in one transaction with the
   * check (as recordUploadCreated), so batches and uploads on every node share one quota.
   * Returns the room there was when it did not fit (nothing reserved), else null.
   */
  reserveForBatch(
    batchId: string,
    bytes: number,
    quotaBytes: number,
    at: number,
  ): Promise<{ roomBytes: number } | null> {
    return this.sql.transaction(async (tx) => {
      const used = await committedAndReserved(tx);
      if (used + bytes > quotaBytes) return { roomBytes: Math.max(0, quotaBytes - used) };
      await tx.run(
        `INSERT INTO quota_reservations (id, bytes, created_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET bytes = quota_reservations.bytes + excluded.bytes`,
        [batchId, bytes, at],
      );
      return null;
    });
  }

  /** Gives back part of a batch's reservation (a file refused after its bytes were reserved). */
  async releaseFromBatch(batchId: string, bytes: number): Promise<void> {
    await this.sql.run('UPDATE quota_reservations SET bytes = bytes - ? WHERE id = ?', [
      bytes,
      batchId,
    ]);
  }

  /** Ends a batch's reservation: its files are committed (and count as held) or refused. */
  async endBatchReservation(batchId: string): Promise<void> {
    await this.sql.run('DELETE FROM quota_reservations WHERE id = ?', [batchId]);
  }

  /** Removes reservations made before `at` (left by a crash); how many. */
  async forgetBatchReservationsBefore(at: number): Promise<number> {
    return (await this.sql.run('DELETE FROM quota_reservations WHERE created_at < ?', [at]))
      .changes;
  }

  /** Records the sha256 a deferred-hash upload's final PATCH declared (its row had ''). */
  async declareUploadSha256(id: string, sha256: string): Promise<void> {
    await this.sql.run("UPDATE uploads SET sha256 = ? WHERE id = ? AND sha256 = ''", [sha256, id]);
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = await this.sql.get<UploadRow>('SELECT * FROM uploads WHERE id = ?', [id]);
    return row ? toUpload(row) : undefined;
  }

  async listUploads(): Promise<UploadRecord[]> {
    return (await this.sql.all<UploadRow>('SELECT * FROM uploads')).map(toUpload);
  }

  async forgetUpload(id: string): Promise<void> {
    await this.sql.run('DELETE FROM uploads WHERE id = ?', [id]);
  }

  async forgetFinishedUploadsBefore(at: number): Promise<number> {
    return (
      await this.sql.run("DELETE FROM uploads WHERE state = 'finished' AND finished_at < ?", [at])
    ).changes;
  }

  /**
   * Commits a verified upload whose blob is already durable: inserts the asset, or, when the
   * content was already held, adds its size to dedupSavedBytes. One transaction. An upload
   * already finished (by another node) changes nothing. Returns true when the content was new.
   */
  async commitVerifiedUpload(uploadId: string, asset: NewAsset): Promise<boolean> {
    const isNew = await this.sql.transaction(
      async (tx) => {
        const finishing = await tx.run(
          "UPDATE uploads SET state = 'finished', finished_at = ? WHERE id = ? AND state = 'receiving'",
          [asset.at, uploadId],
        );
        if (finishing.changes === 0) {
          // Another vault node finished this very upload first (a client that lost one node's
          // answer asks another): it is one upload, so its bytes count once, not as a duplicate.
          const row = await tx.get<{ state: string }>('SELECT state FROM uploads WHERE id = ?', [
            uploadId,
          ]);
          if (row?.state === 'finished') return false;
        }
        return insertAsset(tx, asset);
      },
      { durable: true },
    );
    if (isNew) this.onNewAssets?.([asset]);
    return isNew;
  }

  /**
   * Commits the verified files of one batch, whose blobs are already durable, in ONE
   * transaction (See [Note: Small files in batches] in ../batch-api.ts): each is inserted, or,
   * when the content was already held, its size is added to dedupSavedBytes. Returns, per
   * asset, true when the content was new.
   */
  async commitBatch(assets: readonly NewAsset[]): Promise<boolean[]> {
    if (assets.length === 0) return [];
    const isNew = await this.sql.transaction(
      async (tx) => {
        const inserted: boolean[] = [];
        for (const asset of assets) inserted.push(await insertAsset(tx, asset));
        return inserted;
      },
      { durable: true },
    );
    const added = assets.filter((_, i) => isNew[i]);
    if (added.length > 0) this.onNewAssets?.(added);
    return isNew;
  }

  /** Every asset's sha256 and size, a page after the cursor (for consistency checks). */
  async assetsAfter(
    afterId: number,
    limit: number,
  ): Promise<{ id: number; sha256: string; size: number }[]> {
    return this.sql.all('SELECT id, sha256, size FROM assets WHERE id > ? ORDER BY id LIMIT ?', [
      afterId,
      limit,
    ]);
  }

  /** Every asset's sha256 and size (for consistency checks after a crash), a page at a time. */
  async *allAssets(): AsyncIterableIterator<{ sha256: string; size: number }> {
    let cursor = 0;
    for (;;) {
      const page = await this.assetsAfter(cursor, 1000);
      if (page.length === 0) return;
      for (const a of page) yield { sha256: a.sha256, size: a.size };
      cursor = page.at(-1)!.id;
    }
  }

  async close(): Promise<void> {
    await this.sql.close();
  }
}

const SET_METADATA = 'UPDATE assets SET metadata = ?, metadata_updated_at = ? WHERE sha256 = ?';
const USAGE_BY_KIND =
  'SELECT kind, COUNT(*) AS assets, COALESCE(SUM(size), 0) AS bytes FROM assets GROUP BY kind';

async function committedAndReserved(sql: Sql): Promise<number> {
  const held = await sql.get<{ bytes: number }>(
    'SELECT COALESCE(SUM(size), 0) AS bytes FROM assets',
  );
  return (held?.bytes ?? 0) + (await reservedBy(sql));
}

/** Bytes reserved by uploads still receiving and by batches in flight. */
async function reservedBy(sql: Sql): Promise<number> {
  const uploads = await sql.get<{ bytes: number }>(
    "SELECT COALESCE(SUM(size), 0) AS bytes FROM uploads WHERE state = 'receiving'",
  );
  const batches = await sql.get<{ bytes: number }>(
    'SELECT COALESCE(SUM(bytes), 0) AS bytes FROM quota_reservations',
  );
  return (uploads?.bytes ?? 0) + (batches?.bytes ?? 0);
}

/** Inserts an asset; when its content was already held, counts the duplicate's bytes instead. */
async function insertAsset(tx: Sql, a: NewAsset): Promise<boolean> {
  const inserted =
    (
      await tx.run(
        `INSERT INTO assets
           (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at, uploaded_by)
         VALUES (@sha256, @size, @mime, @kind, @filename, @relpath, @mtimeMs, @at, @uploadedBy)
         ON CONFLICT (sha256) DO NOTHING`,
        {
          sha256: a.sha256,
          size: a.size,
          mime: a.mime,
          kind: a.kind,
          filename: a.filename,
          relpath: a.relpath,
          mtimeMs: a.mtimeMs,
          at: a.at,
          uploadedBy: a.uploadedBy ?? null,
        },
      )
    ).changes === 1;
  if (!inserted) {
    await tx.run("UPDATE counters SET value = value + ? WHERE name = 'dedup_saved_bytes'", [
      a.size,
    ]);
  }
  return inserted;
}
