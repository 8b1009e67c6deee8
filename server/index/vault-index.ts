// The vault's SQLite index (better-sqlite3, WAL): which content the vault holds, what the
// first uploader said about it, the metadata clients attached, and the tus uploads in
// flight. The one gateway to the database: no SQL outside server/index/ (this file and the
// stores it composes, such as location-store.ts).
// Invariant: an assets row is inserted only after its blob is durable on disk (see
// [Note: Commit order] in ../blob-store.ts), so every row has its blob.
import Database from 'better-sqlite3';
import type { GroupRole } from '../../common/vault-protocol.js';
import { AlbumStore } from './album-store.js';
import { DeviceStore } from './device-store.js';
import { GroupStore } from './group-store.js';
import { HealthStore } from './health-store.js';
import { LibraryStore } from './library-store.js';
import { LocationStore } from './location-store.js';
import { migrations } from './migrations.js';
import { PreviewStore } from './preview-store.js';
import { SimilarityStore } from './similarity-store.js';
import { EncodingStore } from './encoding-store.js';
import { TrashStore } from './trash-store.js';

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

export class IndexTooNewError extends Error {
  override name = 'IndexTooNewError';
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

/** An asset's insert parameters: who uploaded it is null unless a device token did. */
function assetParams(a: NewAsset): NewAsset & { uploadedBy: string | null } {
  return { ...a, uploadedBy: a.uploadedBy ?? null };
}

/** Applies pending migrations in one transaction; refuses a database from a newer vault. */
export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new IndexTooNewError(
      `the vault index is schema version ${current}, newer than this vault understands (${latest}); run a newer keepsake`,
    );
  }
  const pending = migrations.filter((m) => m.version > current);
  if (pending.length === 0) return;
  db.transaction(() => {
    for (const m of pending) {
      db.exec(m.sqlite);
      db.pragma(`user_version = ${m.version}`);
    }
  })();
}

// [Note: Which commits are synced]
// A client is told an upload is safe (final PATCH 204) or its metadata stored (PUT 200) right
// after the commit, so those commits run with synchronous = FULL and survive power loss.
// Upload bookkeeping (reservations, forgetting an upload) runs with NORMAL: in WAL mode it
// survives a process crash, and what a power loss may undo is repaired by the start-up sweep
// (a partial without its row is removed, a row without its partial forgotten).
export class VaultIndex {
  private readonly db: Database.Database;
  private readonly stmts;
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
  /**
   * Told, after the commit, of content that just became a verified asset (every path that
   * commits an upload goes through commitVerifiedUpload or commitBatch). Must return at once.
   */
  onNewAssets: ((assets: readonly NewAsset[]) => void) | undefined;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // See [Note: Which commits are synced] below.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    const db = this.db;
    this.locations = new LocationStore(db);
    this.health = new HealthStore(db);
    this.albums = new AlbumStore(db);
    this.previews = new PreviewStore(db);
    this.library = new LibraryStore(db);
    this.groups = new GroupStore(db);
    this.devices = new DeviceStore(db);
    this.similarity = new SimilarityStore(db);
    this.encodings = new EncodingStore(db, (commit) => this.durably(commit));
    this.trash = new TrashStore(db);
    this.stmts = {
      getAsset: db.prepare<[string], AssetRow>(`${SELECT_ASSET} WHERE a.sha256 = ?`),
      // No index on size: asked once per large upload created without its hash.
      assetOfSize: db.prepare<[number], { one: number }>(
        'SELECT 1 AS one FROM assets WHERE size = ? LIMIT 1',
      ),
      insertAsset: db.prepare(
        `INSERT INTO assets
           (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at, uploaded_by)
         VALUES (@sha256, @size, @mime, @kind, @filename, @relpath, @mtimeMs, @at, @uploadedBy)
         ON CONFLICT (sha256) DO NOTHING`,
      ),
      addDedup: db.prepare(
        "UPDATE counters SET value = value + ? WHERE name = 'dedup_saved_bytes'",
      ),
      dedupSaved: db.prepare<[], { value: number }>(
        "SELECT value FROM counters WHERE name = 'dedup_saved_bytes'",
      ),
      listAssets: db.prepare<[number, number], AssetRow>(
        `${SELECT_ASSET} WHERE a.id > ? ORDER BY a.id LIMIT ?`,
      ),
      setMetadata: db.prepare<[string, number, string]>(
        'UPDATE assets SET metadata = ?, metadata_updated_at = ? WHERE sha256 = ?',
      ),
      usageByKind: db.prepare<[], { kind: AssetKind; assets: number; bytes: number }>(
        'SELECT kind, COUNT(*) AS assets, COALESCE(SUM(size), 0) AS bytes FROM assets GROUP BY kind',
      ),
      reservedBytes: db.prepare<[], { bytes: number }>(
        "SELECT COALESCE(SUM(size), 0) AS bytes FROM uploads WHERE state = 'receiving'",
      ),
      insertUpload: db.prepare(
        `INSERT INTO uploads (id, sha256, size, state, created_at, owner)
         VALUES (@id, @sha256, @size, 'receiving', @at, @owner)`,
      ),
      getUpload: db.prepare<[string], UploadRow>('SELECT * FROM uploads WHERE id = ?'),
      finishUpload: db.prepare<[number, string]>(
        "UPDATE uploads SET state = 'finished', finished_at = ? WHERE id = ?",
      ),
      deleteUpload: db.prepare<[string]>('DELETE FROM uploads WHERE id = ?'),
      listUploads: db.prepare<[], UploadRow>('SELECT * FROM uploads'),
      deleteFinishedBefore: db.prepare<[number]>(
        "DELETE FROM uploads WHERE state = 'finished' AND finished_at < ?",
      ),
    };
  }

  getAsset(sha256: string): AssetRecord | undefined {
    const row = this.stmts.getAsset.get(sha256);
    return row ? toAsset(row) : undefined;
  }

  /** Whether the vault holds any content of exactly `size` bytes. */
  holdsSize(size: number): boolean {
    return this.stmts.assetOfSize.get(size) !== undefined;
  }

  /** Which of the given hashes the vault holds (one statement per chunk of 500). */
  present(hashes: readonly string[]): string[] {
    const found: string[] = [];
    for (let i = 0; i < hashes.length; i += 500) {
      const chunk = hashes.slice(i, i + 500);
      const rows = this.db
        .prepare<string[], { sha256: string }>(
          `SELECT sha256 FROM assets WHERE sha256 IN (${chunk.map(() => '?').join(',')})`,
        )
        .all(...chunk);
      for (const r of rows) found.push(r.sha256);
    }
    return found;
  }

  /** Assets after the cursor (an id; 0 = from the start), in upload order, with their ids. */
  listAssets(afterId: number, limit: number): { assets: { id: number; record: AssetRecord }[] } {
    const rows = this.stmts.listAssets.all(afterId, limit);
    return { assets: rows.map((r) => ({ id: r.id, record: toAsset(r) })) };
  }

  /**
   * Stores many assets' metadata JSON in one synced transaction; per item, false when the
   * asset is unknown.
   */
  setMetadataMany(items: readonly { sha256: string; json: string }[], at: number): boolean[] {
    return this.durably(() =>
      this.db.transaction(() =>
        items.map((i) => this.stmts.setMetadata.run(i.json, at, i.sha256).changes === 1),
      )(),
    );
  }

  /** Stores metadata JSON; false when the asset is unknown. */
  setMetadata(sha256: string, json: string, at: number): boolean {
    return this.durably(() => this.stmts.setMetadata.run(json, at, sha256).changes === 1);
  }

  usage(): UsageTotals {
    const byType: UsageTotals['byType'] = {
      image: { assets: 0, bytes: 0 },
      video: { assets: 0, bytes: 0 },
      other: { assets: 0, bytes: 0 },
    };
    let assets = 0;
    let bytes = 0;
    for (const r of this.stmts.usageByKind.all()) {
      byType[r.kind] = { assets: r.assets, bytes: r.bytes };
      assets += r.assets;
      bytes += r.bytes;
    }
    // Dedup savings come from the locations clients registered; a vault whose clients
    // register none (older clients, plain tus) falls back to counting duplicate uploads.
    const fromLocations = this.locations.dedupSaved();
    const dedupSavedBytes =
      fromLocations.places > 0 ? fromLocations.bytes : (this.stmts.dedupSaved.get()?.value ?? 0);
    const { storedBytes, compressionSavedBytes } = this.encodings.totals();
    return { assets, bytes, dedupSavedBytes, storedBytes, compressionSavedBytes, byType };
  }

  /** The declared sizes of uploads still receiving (their quota reservations). */
  reservedBytes(): number {
    return this.stmts.reservedBytes.get()?.bytes ?? 0;
  }

  /** Bytes held by assets plus the declared sizes of uploads still receiving. */
  committedAndReservedBytes(): number {
    const held = this.stmts.usageByKind.all().reduce((sum, r) => sum + r.bytes, 0);
    return held + (this.stmts.reservedBytes.get()?.bytes ?? 0);
  }

  /** `owner`: the devices row whose token created it; null or absent = the admin token. */
  recordUploadCreated(u: {
    id: string;
    sha256: string;
    size: number;
    at: number;
    owner?: string | null;
  }): void {
    this.stmts.insertUpload.run({ ...u, owner: u.owner ?? null });
  }

  /** Records the sha256 a deferred-hash upload's final PATCH declared (its row had ''). */
  declareUploadSha256(id: string, sha256: string): void {
    this.db
      .prepare<[string, string]>("UPDATE uploads SET sha256 = ? WHERE id = ? AND sha256 = ''")
      .run(sha256, id);
  }

  getUpload(id: string): UploadRecord | undefined {
    const row = this.stmts.getUpload.get(id);
    return row ? toUpload(row) : undefined;
  }

  listUploads(): UploadRecord[] {
    return this.stmts.listUploads.all().map(toUpload);
  }

  forgetUpload(id: string): void {
    this.stmts.deleteUpload.run(id);
  }

  forgetFinishedUploadsBefore(at: number): number {
    return this.stmts.deleteFinishedBefore.run(at).changes;
  }

  /**
   * Commits a verified upload whose blob is already durable: inserts the asset, or, when the
   * content was already held, adds its size to dedupSavedBytes. One transaction.
   * Returns true when the content was new.
   */
  commitVerifiedUpload(uploadId: string, asset: NewAsset): boolean {
    const isNew = this.durably(() =>
      this.db.transaction(() => {
        const inserted = this.stmts.insertAsset.run(assetParams(asset)).changes === 1;
        if (!inserted) this.stmts.addDedup.run(asset.size);
        this.stmts.finishUpload.run(asset.at, uploadId);
        return inserted;
      })(),
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
  commitBatch(assets: readonly NewAsset[]): boolean[] {
    if (assets.length === 0) return [];
    const isNew = this.durably(() =>
      this.db.transaction(() =>
        assets.map((asset) => {
          const inserted = this.stmts.insertAsset.run(assetParams(asset)).changes === 1;
          if (!inserted) this.stmts.addDedup.run(asset.size);
          return inserted;
        }),
      )(),
    );
    const added = assets.filter((_, i) => isNew[i]);
    if (added.length > 0) this.onNewAssets?.(added);
    return isNew;
  }

  /** Runs one commit with synchronous = FULL. See [Note: Which commits are synced]. */
  private durably<T>(commit: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return commit();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  /** Every asset's sha256 and size (for consistency checks after a crash). */
  *allAssets(): IterableIterator<{ sha256: string; size: number }> {
    yield* this.db
      .prepare<[], { sha256: string; size: number }>('SELECT sha256, size FROM assets')
      .iterate();
  }

  close(): void {
    this.db.close();
  }
}
