// The database schema as numbered migrations. Migration N brings a database from
// user_version N-1 to N; they are applied in order, all pending ones in ONE transaction, and
// PRAGMA user_version records the result (see database.ts). Invariant: a published migration
// is never edited, only followed by a new one (tests/unit/engine/store/migrations.test.ts
// upgrades a database made at every earlier version).
//
// Every table is STRICT and every column says its meaning and unit.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const m0001_init = `
CREATE TABLE folders (
  id            INTEGER PRIMARY KEY,      -- stable folder id shown to the UI
  path          TEXT NOT NULL UNIQUE,     -- absolute path of the watched root, as resolved
  include_globs TEXT NOT NULL DEFAULT '[]', -- JSON array of include globs (relative to root)
  exclude_globs TEXT NOT NULL DEFAULT '[]', -- JSON array of exclude globs (relative to root)
  added_at      INTEGER NOT NULL,         -- unix ms when the person added the folder
  last_scan_at  INTEGER                   -- unix ms of the last completed reconcile scan; NULL = never
) STRICT;

CREATE TABLE files (
  id                INTEGER PRIMARY KEY,  -- stable file id shown to the UI
  folder_id         INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE, -- owning folder
  path              TEXT NOT NULL UNIQUE, -- absolute path on disk (bytes as the OS gave them, no normalisation)
  rel_path          TEXT NOT NULL,        -- path relative to the folder root, forward slashes
  size              INTEGER NOT NULL,     -- bytes, as last seen on disk
  mtime_ms          INTEGER NOT NULL,     -- modification time, unix ms (integer), as last seen
  ino               INTEGER NOT NULL,     -- inode number as last seen
  dev               INTEGER NOT NULL,     -- device number as last seen
  seen_at           INTEGER NOT NULL,     -- unix ms when (size, mtime, ino, dev) took their current values (settle clock)
  sha256            TEXT,                 -- 64 lowercase hex of the content for the identity above; NULL = not hashed yet
  state             TEXT NOT NULL CHECK (state IN ('discovered','hashing','queued','uploading','backed_up','duplicate','excluded','failed','missing')),
  dedup_checked     INTEGER NOT NULL DEFAULT 0, -- 1 when the vault's dedup check said it lacks sha256 (state queued)
  error_code        TEXT,                 -- KeepsakeError code of the last failure (state failed, or a retry pending)
  error_message     TEXT,                 -- the failure in words a person understands
  error_retryable   INTEGER,              -- 1 if retrying may help, 0 if not
  excluded_by       TEXT,                 -- the rule that excluded it (state excluded)
  attempts          INTEGER NOT NULL DEFAULT 0, -- failed upload attempts since the last success or manual retry
  verify_failures   INTEGER NOT NULL DEFAULT 0, -- times the vault refused the content's sha256 (460)
  next_attempt_at   INTEGER,              -- unix ms before which the queue does not retry it; NULL = now
  upload_url        TEXT,                 -- tus upload URL of the upload in progress; NULL = none
  upload_offset     INTEGER,              -- bytes the server confirmed for upload_url
  priority          INTEGER NOT NULL DEFAULT 0, -- 1 = added by hand (uploads first), 0 = found by scan
  media_kind        TEXT NOT NULL DEFAULT 'media' CHECK (media_kind IN ('media','sidecar')), -- classification
  mime              TEXT,                 -- MIME type from the extension (or metadata)
  capture_time      TEXT,                 -- ISO 8601 with offset, from metadata; NULL = unknown/not read
  metadata          TEXT,                 -- JSON {metadata, raw} from exiftool (bounded)
  metadata_problems TEXT NOT NULL DEFAULT '[]', -- JSON array of problem messages in plain words
  metadata_state    TEXT NOT NULL DEFAULT 'pending' CHECK (metadata_state IN ('pending','read','sent')), -- pending = not read; read = read, not sent to the vault; sent = on the vault
  created_at        INTEGER NOT NULL,     -- unix ms when the row was first made
  updated_at        INTEGER NOT NULL      -- unix ms of the last change of state or identity
) STRICT;

-- The hot query: next files to upload (state queued, manual first, newest first).
CREATE INDEX files_upload_order ON files(state, priority DESC, mtime_ms DESC);
-- Reconcile loads a folder's rows; rename detection looks content up by identity.
CREATE INDEX files_folder ON files(folder_id, state);
CREATE INDEX files_identity ON files(ino, dev, size, mtime_ms);
CREATE INDEX files_sha256 ON files(sha256);

CREATE TABLE settings (
  key        TEXT PRIMARY KEY,  -- setting name (contract Settings key)
  value      TEXT NOT NULL,     -- JSON-encoded value set by the person
  updated_at INTEGER NOT NULL   -- unix ms
) STRICT;

CREATE TABLE activity (
  id      INTEGER PRIMARY KEY,  -- increasing event id
  at      INTEGER NOT NULL,     -- unix ms
  level   TEXT NOT NULL CHECK (level IN ('info','warning','error')), -- severity
  message TEXT NOT NULL,        -- plain words, e.g. "Backed up IMG_0001.JPG"
  path    TEXT,                 -- the file or folder it is about, if any
  code    TEXT                  -- KeepsakeError code, if any
) STRICT;
CREATE INDEX activity_level ON activity(level, id);
`;

// 0002: when the vault verified a file (lets `keepsake backup` count what one run uploaded).
const m0002_uploaded_at = `
ALTER TABLE files ADD COLUMN uploaded_at INTEGER; -- unix ms when the vault verified this content from our upload; NULL = never uploaded by us
`;

// 0003: indexes for the queue's and metadata pump's frequent queries (each was a full scan,
// run once per file: quadratic on a large first backup). The queue index leads with
// dedup_checked so "waiting for the dedup check" and "ready to upload" are both range reads.
const m0003_queue_indexes = `
DROP INDEX files_upload_order;
CREATE INDEX files_upload_order ON files(state, dedup_checked, priority DESC, mtime_ms DESC);
CREATE INDEX files_upload_size ON files(state, dedup_checked, size);
CREATE INDEX files_metadata ON files(metadata_state, state);
`;

// 0004: discovered and hashing rows never carry dedup_checked = 1 (the hash queue's index
// range relies on it; rows written before transition() enforced it are corrected here).
const m0004_discovered_unchecked = `
UPDATE files SET dedup_checked = 0 WHERE state IN ('discovered', 'hashing');
`;

// 0005: folders (a watched root or a sub-folder) the last scan could not list, with the
// reason: shown by status, files, backup and the UI; replaced by every completed scan, so a
// folder that became readable drops out on the next rescan.
const m0005_folder_problems = `
CREATE TABLE folder_problems (
  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE, -- the watched folder it is under
  rel_path  TEXT NOT NULL,    -- relative to the folder root, forward slashes; '' = the root itself
  path      TEXT NOT NULL,    -- absolute path of the folder that could not be listed
  code      TEXT NOT NULL,    -- 'permission_denied' or 'read_error'
  message   TEXT NOT NULL,    -- the reason in words a person can act on
  since     INTEGER NOT NULL, -- unix ms of the first scan that could not list it (this time)
  PRIMARY KEY (folder_id, rel_path)
) STRICT;
`;

// 0006: proof that the vault still holds what it verified (issue 10 "verify"): each
// `keepsake verify` / "Verify now" receipt, and the content found damaged or missing on the
// vault that this computer re-uploads (healing; see main/engine/verify/healer.ts).
const m0006_verify_receipts = `
CREATE TABLE verify_receipts (
  id           INTEGER PRIMARY KEY,  -- increasing receipt id
  started_at   INTEGER NOT NULL,     -- unix ms the verify started
  finished_at  INTEGER NOT NULL,     -- unix ms the verify finished (the receipt's time)
  vault_url    TEXT NOT NULL,        -- base URL of the vault that re-hashed the content
  embedded     INTEGER NOT NULL,     -- 1 = the vault embedded under this data directory
  scope        TEXT NOT NULL,        -- JSON {"sample": n|null, "folder": path|null}
  files        INTEGER NOT NULL,     -- files selected
  files_proven INTEGER NOT NULL,     -- files whose content the vault re-hashed as ok and whose original is unchanged
  bytes        INTEGER NOT NULL,     -- bytes of the files selected
  bytes_proven INTEGER NOT NULL,     -- bytes of the files proven
  local_reread INTEGER NOT NULL,     -- originals re-hashed because their identity moved
  local_gone   INTEGER NOT NULL,     -- originals no longer on disk (the vault's copy was still checked)
  problems     TEXT NOT NULL DEFAULT '[]', -- JSON array of {path, sha256, problem, message} (at most 1,000)
  problem_count INTEGER NOT NULL     -- problems found (the array may be cut short)
) STRICT;

CREATE TABLE vault_repairs (
  sha256   TEXT PRIMARY KEY,         -- content the vault reported damaged or missing
  problem  TEXT NOT NULL CHECK (problem IN ('damaged','missing')), -- what the vault said
  found_at INTEGER NOT NULL,         -- unix ms
  found_by TEXT NOT NULL CHECK (found_by IN ('verify','check')) -- a verify run, or the dedup check of safe files
) STRICT;

ALTER TABLE files ADD COLUMN proven_at INTEGER; -- unix ms of the last verify that proved this file (vault re-hash ok, original unchanged); NULL = never
`;

// 0007: a new file state, 'skipped' (looked at: not a photo or video; excluded_by says why).
// SQLite cannot change a CHECK constraint in place, so the files table is rebuilt (the
// documented "12-step" way: new table, copy, drop, rename, indexes). No table references
// files(id), so dropping it with foreign keys on cascades nowhere. Its state CHECK now also
// allows 'skipped'; everything else is as 0001-0006 left it.
const m0007_skipped_state = `
CREATE TABLE files_new (
  id                INTEGER PRIMARY KEY,  -- stable file id shown to the UI
  folder_id         INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE, -- owning folder
  path              TEXT NOT NULL UNIQUE, -- absolute path on disk (bytes as the OS gave them, no normalisation)
  rel_path          TEXT NOT NULL,        -- path relative to the folder root, forward slashes
  size              INTEGER NOT NULL,     -- bytes, as last seen on disk
  mtime_ms          INTEGER NOT NULL,     -- modification time, unix ms (integer), as last seen
  ino               INTEGER NOT NULL,     -- inode number as last seen
  dev               INTEGER NOT NULL,     -- device number as last seen
  seen_at           INTEGER NOT NULL,     -- unix ms when (size, mtime, ino, dev) took their current values (settle clock)
  sha256            TEXT,                 -- 64 lowercase hex of the content for the identity above; NULL = not hashed yet
  state             TEXT NOT NULL CHECK (state IN ('discovered','hashing','queued','uploading','backed_up','duplicate','excluded','failed','missing','skipped')),
  dedup_checked     INTEGER NOT NULL DEFAULT 0, -- 1 when the vault's dedup check said it lacks sha256 (state queued)
  error_code        TEXT,                 -- KeepsakeError code of the last failure (state failed, or a retry pending)
  error_message     TEXT,                 -- the failure in words a person understands
  error_retryable   INTEGER,              -- 1 if retrying may help, 0 if not
  excluded_by       TEXT,                 -- the rule that excluded it (state excluded), or why it was skipped (state skipped)
  attempts          INTEGER NOT NULL DEFAULT 0, -- failed upload attempts since the last success or manual retry
  verify_failures   INTEGER NOT NULL DEFAULT 0, -- times the vault refused the content's sha256 (460)
  next_attempt_at   INTEGER,              -- unix ms before which the queue does not retry it; NULL = now
  upload_url        TEXT,                 -- tus upload URL of the upload in progress; NULL = none
  upload_offset     INTEGER,              -- bytes the server confirmed for upload_url
  priority          INTEGER NOT NULL DEFAULT 0, -- 1 = added by hand (uploads first), 0 = found by scan
  media_kind        TEXT NOT NULL DEFAULT 'media' CHECK (media_kind IN ('media','sidecar')), -- classification
  mime              TEXT,                 -- MIME type from the extension, or from the first bytes (no/unknown extension)
  capture_time      TEXT,                 -- ISO 8601 with offset, from metadata; NULL = unknown/not read
  metadata          TEXT,                 -- JSON {metadata, raw} from exiftool (bounded)
  metadata_problems TEXT NOT NULL DEFAULT '[]', -- JSON array of problem messages in plain words
  metadata_state    TEXT NOT NULL DEFAULT 'pending' CHECK (metadata_state IN ('pending','read','sent')), -- pending = not read; read = read, not sent to the vault; sent = on the vault
  created_at        INTEGER NOT NULL,     -- unix ms when the row was first made
  updated_at        INTEGER NOT NULL,     -- unix ms of the last change of state or identity
  uploaded_at       INTEGER,              -- unix ms when the vault verified this content from our upload; NULL = never uploaded by us
  proven_at         INTEGER               -- unix ms of the last verify that proved this file (vault re-hash ok, original unchanged); NULL = never
) STRICT;
INSERT INTO files_new SELECT * FROM files;
DROP TABLE files;
ALTER TABLE files_new RENAME TO files;
CREATE INDEX files_upload_order ON files(state, dedup_checked, priority DESC, mtime_ms DESC);
CREATE INDEX files_upload_size ON files(state, dedup_checked, size);
CREATE INDEX files_metadata ON files(metadata_state, state);
CREATE INDEX files_folder ON files(folder_id, state);
CREATE INDEX files_identity ON files(ino, dev, size, mtime_ms);
CREATE INDEX files_sha256 ON files(sha256);
`;

// 0008: what this device last told the vault about each file's place (issue 10: the vault keeps
// every path). The location pump registers a safe file whose content or mtime differs from
// these, and marks a missing file's place gone while location_sha256 is set.
const m0008_locations = `
ALTER TABLE files ADD COLUMN location_sha256 TEXT;      -- content the vault records at this file's place from our last registration; NULL = none (never registered, or marked gone)
ALTER TABLE files ADD COLUMN location_mtime_ms INTEGER; -- the mtime (unix ms) sent with that registration
`;

// 0009: a file's inode change time belongs to its identity, so an in-place edit that puts the
// old mtime back (same size, `touch -r`) is still seen as a change. 0 = not known yet: a row
// from before is compared without it once, and its ctime recorded then (no mass re-hash).
const m0009_ctime = `
ALTER TABLE files ADD COLUMN ctime_ms INTEGER NOT NULL DEFAULT 0; -- inode change time as last seen, unix ms (integer); 0 = not known yet
`;

// 0010: the exact bytes of a path that is not valid UTF-8 (issue 9 item 2). The text columns
// path and rel_path keep the name as the engine's string (each escaped byte bound as its own
// three-byte sequence, so two names that show alike stay two unique paths), but SQLite hands
// such text back with U+FFFD in it: the row mappers take the name from these bytes instead.
// See [Note: Names that are not UTF-8] in raw-path.ts.
const m0010_raw_names = `
ALTER TABLE files ADD COLUMN rel_path_raw BLOB; -- rel_path as the exact bytes of the name on disk when they are not valid UTF-8; NULL = rel_path is exact
`;

// 0011: an empty photo is a problem shown beside its state (issue 9 item 6), and a photo that
// was backed up and is now 0 bytes is possible damage: emptied_from keeps the size it had, and
// the location pump never registers the empty content over the earlier version's place. The
// partial index serves "every empty safe file" (status, the Overview) without a table scan.
const m0011_emptied_from = `
ALTER TABLE files ADD COLUMN emptied_from INTEGER; -- bytes the file had when it was last backed up, when it is now 0 bytes (possible damage); NULL = not emptied
CREATE INDEX files_empty ON files(state) WHERE size = 0;
`;

// 0012: a watched folder the person removed leaves, for each file whose place the vault knows,
// a tombstone: the location pump marks those places gone on the vault, then drops them. The
// folder's files are forgotten at once, but the vault is never left believing they are there.
const m0012_location_tombstones = `
CREATE TABLE location_tombstones (
  id         INTEGER PRIMARY KEY,
  folder     TEXT NOT NULL,    -- the removed folder's label on the vault (see folderLabels)
  path       BLOB NOT NULL,    -- the file's path inside that folder: its exact bytes, '/'-separated
  sha256     TEXT NOT NULL,    -- the content the vault records there (marked gone only while it still does)
  created_at INTEGER NOT NULL  -- unix ms when the folder was removed
) STRICT;
`;

// 0013: a place the vault refused to record (issue 10 section 1: it answered not_held or
// size_mismatch for that one file) is a problem the person sees beside the file, not only a
// log line. Cleared when the vault records the place. The partial index serves "every file
// with a refused place" (status, the Overview) without a table scan.
const m0013_location_refused = `
ALTER TABLE files ADD COLUMN location_refused TEXT; -- the vault's words when it refused to record this file's place (device, folder, path); NULL = none
CREATE INDEX files_location_refused ON files(id) WHERE location_refused IS NOT NULL;
`;

// 0014: groups (issue 11 section 1): what grouping compares, kept per file so a pass over a
// folder reads two columns instead of each file's metadata JSON, and what this device last
// declared to the vault. HEIC, JPEG and MOV files read before this version are read again
// (metadata_state back to pending): the Live Photo identifier was not asked of exiftool then,
// and HEIC was read without Apple's maker notes. The metadata sent again is the same record.
const m0014_groups = `
ALTER TABLE files ADD COLUMN apple_content_id TEXT; -- Apple's content identifier from the file's metadata (a Live Photo's still and video share it), upper-case; NULL = none or not read
ALTER TABLE files ADD COLUMN captured_at_ms INTEGER; -- the capture instant the file itself states (EXIF, QuickTime, GPS), unix ms; NULL = unknown, or only guessed from its name or mtime
CREATE TABLE groups_sent (
  primary_sha256 TEXT PRIMARY KEY,  -- the content that leads the group on the vault
  folder_id      INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE, -- the watched folder it was decided in
  members        TEXT NOT NULL,     -- JSON [{sha256, role}] exactly as last declared, primary first
  vault_id       TEXT NOT NULL,     -- the vault's id of the group
  sent_at        INTEGER NOT NULL   -- unix ms the vault stored it
) STRICT;
UPDATE files SET metadata_state = 'pending'
  WHERE metadata_state <> 'pending' AND media_kind = 'media'
    AND (lower(rel_path) LIKE '%.heic' OR lower(rel_path) LIKE '%.jpg'
         OR lower(rel_path) LIKE '%.jpeg' OR lower(rel_path) LIKE '%.mov');
`;

// 0015: free up space (issue 15 section 2). A new file state, 'vault_only': a safe file the
// person asked Keepsake to free up, moved to the system's trash and kept on the vault (shown
// instead of missing; its place on the vault stays registered so restore puts it back). The
// files table is rebuilt for the state CHECK as 0007 was, with every column 0008-0014 added,
// in the same order. Folders opt in one by one (off by default).
const m0015_free_up = `
CREATE TABLE files_new (
  id                INTEGER PRIMARY KEY,  -- stable file id shown to the UI
  folder_id         INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE, -- owning folder
  path              TEXT NOT NULL UNIQUE, -- absolute path on disk (bytes as the OS gave them, no normalisation)
  rel_path          TEXT NOT NULL,        -- path relative to the folder root, forward slashes
  size              INTEGER NOT NULL,     -- bytes, as last seen on disk
  mtime_ms          INTEGER NOT NULL,     -- modification time, unix ms (integer), as last seen
  ino               INTEGER NOT NULL,     -- inode number as last seen
  dev               INTEGER NOT NULL,     -- device number as last seen
  seen_at           INTEGER NOT NULL,     -- unix ms when (size, mtime, ino, dev) took their current values (settle clock)
  sha256            TEXT,                 -- 64 lowercase hex of the content for the identity above; NULL = not hashed yet
  state             TEXT NOT NULL CHECK (state IN ('discovered','hashing','queued','uploading','backed_up','duplicate','excluded','failed','missing','skipped','vault_only')),
  dedup_checked     INTEGER NOT NULL DEFAULT 0, -- 1 when the vault's dedup check said it lacks sha256 (state queued)
  error_code        TEXT,                 -- KeepsakeError code of the last failure (state failed, or a retry pending)
  error_message     TEXT,                 -- the failure in words a person understands
  error_retryable   INTEGER,              -- 1 if retrying may help, 0 if not
  excluded_by       TEXT,                 -- the rule that excluded it (state excluded), or why it was skipped (state skipped)
  attempts          INTEGER NOT NULL DEFAULT 0, -- failed upload attempts since the last success or manual retry
  verify_failures   INTEGER NOT NULL DEFAULT 0, -- times the vault refused the content's sha256 (460)
  next_attempt_at   INTEGER,              -- unix ms before which the queue does not retry it; NULL = now
  upload_url        TEXT,                 -- tus upload URL of the upload in progress; NULL = none
  upload_offset     INTEGER,              -- bytes the server confirmed for upload_url
  priority          INTEGER NOT NULL DEFAULT 0, -- 1 = added by hand (uploads first), 0 = found by scan
  media_kind        TEXT NOT NULL DEFAULT 'media' CHECK (media_kind IN ('media','sidecar')), -- classification
  mime              TEXT,                 -- MIME type from the extension, or from the first bytes (no/unknown extension)
  capture_time      TEXT,                 -- ISO 8601 with offset, from metadata; NULL = unknown/not read
  metadata          TEXT,                 -- JSON {metadata, raw} from exiftool (bounded)
  metadata_problems TEXT NOT NULL DEFAULT '[]', -- JSON array of problem messages in plain words
  metadata_state    TEXT NOT NULL DEFAULT 'pending' CHECK (metadata_state IN ('pending','read','sent')), -- pending = not read; read = read, not sent to the vault; sent = on the vault
  created_at        INTEGER NOT NULL,     -- unix ms when the row was first made
  updated_at        INTEGER NOT NULL,     -- unix ms of the last change of state or identity
  uploaded_at       INTEGER,              -- unix ms when the vault verified this content from our upload; NULL = never uploaded by us
  proven_at         INTEGER,              -- unix ms of the last verify that proved this file (vault re-hash ok, original unchanged); NULL = never
  location_sha256   TEXT,                 -- content the vault records at this file's place from our last registration; NULL = none (never registered, or marked gone)
  location_mtime_ms INTEGER,              -- the mtime (unix ms) sent with that registration
  ctime_ms          INTEGER NOT NULL DEFAULT 0, -- inode change time as last seen, unix ms (integer); 0 = not known yet
  rel_path_raw      BLOB,                 -- rel_path as the exact bytes of the name on disk when they are not valid UTF-8; NULL = rel_path is exact
  emptied_from      INTEGER,              -- bytes the file had when it was last backed up, when it is now 0 bytes (possible damage); NULL = not emptied
  location_refused  TEXT,                 -- the vault's words when it refused to record this file's place (device, folder, path); NULL = none
  apple_content_id  TEXT,                 -- Apple's content identifier from the file's metadata (a Live Photo's still and video share it), upper-case; NULL = none or not read
  captured_at_ms    INTEGER               -- the capture instant the file itself states (EXIF, QuickTime, GPS), unix ms; NULL = unknown, or only guessed from its name or mtime
) STRICT;
INSERT INTO files_new SELECT * FROM files;
DROP TABLE files;
ALTER TABLE files_new RENAME TO files;
CREATE INDEX files_upload_order ON files(state, dedup_checked, priority DESC, mtime_ms DESC);
CREATE INDEX files_upload_size ON files(state, dedup_checked, size);
CREATE INDEX files_metadata ON files(metadata_state, state);
CREATE INDEX files_folder ON files(folder_id, state);
CREATE INDEX files_identity ON files(ino, dev, size, mtime_ms);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_empty ON files(state) WHERE size = 0;
CREATE INDEX files_location_refused ON files(id) WHERE location_refused IS NOT NULL;
ALTER TABLE folders ADD COLUMN free_up INTEGER NOT NULL DEFAULT 0; -- 1 = the person allowed freeing up space in this folder (moving backed-up files to the system's trash on request); 0 = never (the default)
`;

// 0016: exports linked to their originals (issue 11 section 1, [Note: Grouping rules]): the
// file names an image's XMP says it was made from. JPEG and TIFF files read before this version
// are read again once (the names were not asked of exiftool then); the metadata sent again is
// the same record.
const m0016_derived_from = `
ALTER TABLE files ADD COLUMN derived_from TEXT; -- JSON array of the lower-case base names an export's XMP says it was made from (crs:RawFileName, xmpMM:DerivedFrom, PreservedFileName); NULL = none or not read
UPDATE files SET metadata_state = 'pending'
  WHERE metadata_state <> 'pending' AND media_kind = 'media'
    AND (lower(rel_path) LIKE '%.jpg' OR lower(rel_path) LIKE '%.jpeg'
         OR lower(rel_path) LIKE '%.tif' OR lower(rel_path) LIKE '%.tiff');
`;

export const migrations: readonly Migration[] = [
  { version: 1, name: '0001_init', sql: m0001_init },
  { version: 2, name: '0002_uploaded_at', sql: m0002_uploaded_at },
  { version: 3, name: '0003_queue_indexes', sql: m0003_queue_indexes },
  { version: 4, name: '0004_discovered_unchecked', sql: m0004_discovered_unchecked },
  { version: 5, name: '0005_folder_problems', sql: m0005_folder_problems },
  { version: 6, name: '0006_verify_receipts', sql: m0006_verify_receipts },
  { version: 7, name: '0007_skipped_state', sql: m0007_skipped_state },
  { version: 8, name: '0008_locations', sql: m0008_locations },
  { version: 9, name: '0009_ctime', sql: m0009_ctime },
  { version: 10, name: '0010_raw_names', sql: m0010_raw_names },
  { version: 11, name: '0011_emptied_from', sql: m0011_emptied_from },
  { version: 12, name: '0012_location_tombstones', sql: m0012_location_tombstones },
  { version: 13, name: '0013_location_refused', sql: m0013_location_refused },
  { version: 14, name: '0014_groups', sql: m0014_groups },
  { version: 15, name: '0015_free_up', sql: m0015_free_up },
  { version: 16, name: '0016_derived_from', sql: m0016_derived_from },
];

export const latestVersion = migrations[migrations.length - 1]?.version ?? 0;
