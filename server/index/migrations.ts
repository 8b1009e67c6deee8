// The vault index's schema history. Each entry is applied once, in order, inside one
// transaction with the `PRAGMA user_version` bump, so a crash mid-migration leaves the
// previous version intact. Append new migrations; never edit an applied one.
// Every column says what it means and its unit.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: '0001_init',
    sql: `
CREATE TABLE assets (
  id INTEGER PRIMARY KEY,            -- upload order; the listing cursor
  sha256 TEXT NOT NULL UNIQUE,       -- 64 lowercase hex: the content's identity and blob name
  size INTEGER NOT NULL,             -- bytes
  mime TEXT,                         -- as declared by the first uploader, e.g. image/jpeg
  kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'other')), -- from mime or file extension
  filename TEXT NOT NULL,            -- base name declared by the first uploader
  relpath TEXT,                      -- relative path declared by the first uploader
  mtime_ms INTEGER,                  -- the file's mtime on the client, unix ms
  first_uploaded_at INTEGER NOT NULL, -- when the first verified copy arrived, unix ms
  metadata TEXT,                     -- client-extracted MediaMetadata, JSON (<= 64 KiB)
  metadata_updated_at INTEGER        -- unix ms of the last metadata PUT
) STRICT;
CREATE INDEX assets_kind ON assets (kind);

-- tus uploads the vault knows about. 'receiving' rows reserve their declared size against the
-- quota; 'finished' rows let a client that lost the final response learn that its upload
-- completed (HEAD answers Upload-Offset = size) until they expire.
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,               -- tus upload id (32 lowercase hex)
  sha256 TEXT NOT NULL,              -- declared by the client in Upload-Metadata
  size INTEGER NOT NULL,             -- declared Upload-Length, bytes
  state TEXT NOT NULL CHECK (state IN ('receiving', 'finished')),
  created_at INTEGER NOT NULL,       -- unix ms
  finished_at INTEGER                -- unix ms, when state became 'finished'
) STRICT;
CREATE INDEX uploads_state ON uploads (state);

-- Single-row counters that are not derivable from the tables above.
CREATE TABLE counters (
  name TEXT PRIMARY KEY,             -- e.g. 'dedup_saved_bytes'
  value INTEGER NOT NULL             -- unit depends on the name (bytes for *_bytes)
) STRICT;
INSERT INTO counters (name, value) VALUES ('dedup_saved_bytes', 0);
`,
  },
  {
    version: 2,
    name: '0002_locations',
    sql: `
-- Every place a client holds a content (issue 10): one row per stretch of time a device's
-- file at (folder, path) held this content. Re-registering the same file only moves
-- last_seen; a path that now holds other content, or that comes back after it was gone,
-- starts a new row. Rows are never deleted: "what did this folder look like at T" is
-- first_seen <= T AND (gone_at IS NULL OR gone_at > T).
CREATE TABLE locations (
  id INTEGER PRIMARY KEY,            -- registration order; the listing cursor
  sha256 TEXT NOT NULL,              -- the content at this path (an assets row when registered)
  device_id TEXT NOT NULL,           -- client-chosen id of the device holding the file
  device_name TEXT NOT NULL,         -- the device's display name at the latest registration
  folder TEXT NOT NULL,              -- label of the watched folder (its name on the device)
  path BLOB NOT NULL,                -- path inside the folder, raw bytes, '/'-separated
  size INTEGER NOT NULL,             -- bytes
  mtime_ms INTEGER,                  -- the file's mtime on the device, unix ms
  first_seen INTEGER NOT NULL,       -- unix ms (vault clock), first registration of this row
  last_seen INTEGER NOT NULL,        -- unix ms (vault clock), latest registration
  gone_at INTEGER                    -- unix ms (vault clock) the device reported it gone; NULL = still there
) STRICT;
-- At most one live row per place; the lookup for registering and marking gone.
CREATE UNIQUE INDEX locations_live ON locations (device_id, folder, path) WHERE gone_at IS NULL;
CREATE INDEX locations_sha256 ON locations (sha256);
`,
  },
  {
    version: 3,
    name: '0003_asset_checks',
    sql: `
-- What the vault last found when it re-read an asset's stored bytes (a verified read, a
-- verify request, the scrubber, or a dedup check that found the blob file gone). No row =
-- not re-read since the upload that verified it. A 'damaged' or 'missing' asset counts as
-- not held, so clients upload it again; a verified upload of it makes it 'ok'.
CREATE TABLE asset_checks (
  sha256 TEXT PRIMARY KEY,           -- an assets row
  state TEXT NOT NULL CHECK (state IN ('ok', 'damaged', 'missing')), -- what the last check found
  checked_at INTEGER NOT NULL,       -- unix ms of the last check
  problem_since INTEGER              -- unix ms it was first found damaged or missing; NULL when ok
) STRICT;
CREATE INDEX asset_checks_problems ON asset_checks (state) WHERE state <> 'ok';
-- The background scrubber's place, so a pass continues across restarts.
INSERT INTO counters (name, value) VALUES
  ('scrub_cursor', 0),               -- assets.id the current pass has reached
  ('scrub_pass_started_at', 0),      -- unix ms the current pass began (0 = none yet)
  ('scrub_last_full_pass_at', 0);    -- unix ms the last complete pass ended (0 = never)
`,
  },
  {
    version: 4,
    name: '0004_locations_by_folder',
    sql: `
-- Paging one device's folder in registration order (a restore's listing) without sorting
-- the whole folder for every page: the rowid is the index's last column.
CREATE INDEX locations_folder ON locations (device_id, folder);
`,
  },
  {
    version: 5,
    name: '0005_albums',
    sql: `
-- Albums an import rebuilt (issue 12: Takeout, iCloud, folders). Posting an album again with
-- the same (source, key) finds this row: a re-run import makes no second album.
CREATE TABLE albums (
  id INTEGER PRIMARY KEY,            -- the album's id in the API
  name TEXT NOT NULL,                -- its title as the source showed it (emoji and all)
  description TEXT NOT NULL,         -- '' when none
  source TEXT NOT NULL CHECK (source IN ('takeout', 'icloud', 'folder')),
  key TEXT NOT NULL,                 -- the client's identity of it within the source
  created_at INTEGER NOT NULL        -- unix ms (vault clock) of the first POST
) STRICT;
CREATE UNIQUE INDEX albums_source_key ON albums (source, key);
-- Each content at most once per album; position orders the album.
CREATE TABLE album_members (
  album_id INTEGER NOT NULL,         -- an albums row
  sha256 TEXT NOT NULL,              -- an assets row's content
  position INTEGER NOT NULL,         -- 0-based place in the album
  PRIMARY KEY (album_id, sha256)
) STRICT;
CREATE INDEX album_members_order ON album_members (album_id, position);
`,
  },
  {
    version: 6,
    name: '0006_previews',
    sql: `
-- What the vault made of each asset's previews (issue 11): derived data, rebuilt at will.
-- An asset without a row here is pending (See [Note: Preview work is the index] in
-- ../previews.ts), so this table starts empty and every asset held before it is made on
-- the next start. Files: previews/ab/<sha256>-thumb.jpg and -preview.jpg.
CREATE TABLE previews (
  sha256 TEXT PRIMARY KEY,           -- an assets row
  state TEXT NOT NULL CHECK (state IN ('made', 'none')), -- 'none' = no preview can be made
  source TEXT,                       -- 'decoded', 'embedded' (a RAW's own JPEG) or 'poster' (a video frame); NULL when none
  reason TEXT,                       -- why none, for a person to read; NULL when made
  made_at INTEGER NOT NULL           -- unix ms of the attempt
) STRICT;
`,
  },
  {
    version: 7,
    name: '0007_library_timeline',
    sql: `
-- The library's timeline (issue 11 section 3): newest first by capture time. taken_at is
-- derived, never written: the metadata's captureTime as unix ms (SQLite reads its offset),
-- else the file's mtime, else the upload time. VIRTUAL, so adding it rewrites no row; the
-- index holds the computed value, so paging reads it without parsing JSON.
ALTER TABLE assets ADD COLUMN taken_at INTEGER GENERATED ALWAYS AS (
  COALESCE(
    CAST(ROUND(unixepoch(json_extract(metadata, '$.captureTime'), 'subsec') * 1000) AS INTEGER),
    mtime_ms,
    first_uploaded_at
  )
) VIRTUAL;                           -- unix ms
-- Keyset paging: (taken_at, id) < (cursor) walks this index backwards from the cursor.
CREATE INDEX assets_timeline ON assets (taken_at DESC, id DESC);
`,
  },
  {
    version: 8,
    name: '0008_groups',
    sql: `
-- Contents that are one asset to a person (issue 11): a Live Photo's still and video, a RAW
-- and its JPEG, an original and its edit, a photo and its sidecars. Clients declare them;
-- the vault records. A content is in at most one group; a group has one primary and at
-- least two members (See [Note: A declaration replaces] in common/vault-protocol.ts).
CREATE TABLE groups (
  id INTEGER PRIMARY KEY,            -- the group's id in the API
  declared_at INTEGER NOT NULL       -- unix ms (vault clock) of the declaration that last changed it
) STRICT;
CREATE TABLE group_members (
  sha256 TEXT PRIMARY KEY,           -- an assets row's content; in one group at most
  group_id INTEGER NOT NULL,         -- a groups row
  role TEXT NOT NULL CHECK (role IN ('primary', 'live-video', 'raw', 'rendition', 'edit', 'sidecar')),
  position INTEGER NOT NULL          -- 0-based place in the declaration
) STRICT;
CREATE INDEX group_members_group ON group_members (group_id, position);
`,
  },
  {
    version: 9,
    name: '0009_devices',
    sql: `
-- Devices the vault knows by their own token (issue 13 section 1). The vault's admin token
-- stays for administration and for setups made before devices; a device token is good for
-- backing up and restoring. Revoking keeps the row (its uploads and places keep naming it)
-- and makes its token answer 401 device_revoked at once. See [Note: Device tokens] in
-- ../devices.ts.
CREATE TABLE devices (
  id TEXT PRIMARY KEY,               -- 'dev_' + 16 lowercase hex; stable across renames
  name TEXT NOT NULL,                -- what the administrator calls it; unique among live devices
  token_sha256 BLOB NOT NULL UNIQUE, -- SHA-256 of the device token (the token is never stored)
  created_at INTEGER NOT NULL,       -- unix ms (vault clock)
  revoked_at INTEGER,                -- unix ms the token stopped working; NULL = live
  last_seen_at INTEGER,              -- unix ms of its latest accepted request (updated at most once a minute)
  last_backup_at INTEGER,            -- unix ms of its latest heartbeat after a completed backup pass
  heartbeat_at INTEGER,              -- unix ms (vault clock) its latest heartbeat arrived
  heartbeat TEXT                     -- that heartbeat as sent, JSON (common/vault-protocol.ts heartbeatSchema)
) STRICT;
CREATE UNIQUE INDEX devices_live_name ON devices (name) WHERE revoked_at IS NULL;
-- One-time enrolment codes: a client exchanges one for its own device token.
CREATE TABLE enrolments (
  code_sha256 BLOB PRIMARY KEY,      -- SHA-256 of the code as printed (the code is never stored)
  created_at INTEGER NOT NULL,       -- unix ms
  expires_at INTEGER NOT NULL,       -- unix ms after which the code is refused
  used_at INTEGER,                   -- unix ms it was exchanged; NULL = unused
  device_id TEXT                     -- the devices row it made
) STRICT;
-- Who created each tus upload: a device may touch only its own partials (404 for others').
ALTER TABLE uploads ADD COLUMN owner TEXT;         -- devices.id; NULL = the admin token
-- Which device's token registered each place (its own, whatever deviceId the body names).
ALTER TABLE locations ADD COLUMN vault_device TEXT; -- devices.id; NULL = the admin token
CREATE INDEX locations_vault_device ON locations (vault_device) WHERE gone_at IS NULL;
`,
  },
  {
    version: 10,
    name: '0010_asset_uploader',
    sql: `
-- Which device's token first brought each content (issue 13: everything a device uploads
-- carries its device). A later upload of the same content (dedup) does not change it.
ALTER TABLE assets ADD COLUMN uploaded_by TEXT; -- devices.id; NULL = the admin token, or before devices
`,
  },
  {
    version: 11,
    name: '0011_similarity',
    sql: `
-- What the vault measured of each photo's preview for the "Similar photos" review (issue 15
-- section 1): derived data like previews, made with them (See similarity-measure.ts). A photo
-- whose preview is made but has no row here is measured by the backfill (previews.ts).
CREATE TABLE similarity (
  sha256 TEXT PRIMARY KEY,           -- an assets row
  phash TEXT NOT NULL,               -- 16 lowercase hex: 64-bit DCT perceptual hash of the preview
  sharpness REAL NOT NULL,           -- variance of the Laplacian of the preview at 512 px (unitless, higher = sharper)
  width INTEGER,                     -- the decoded picture's width upright, px; NULL when unknown
  height INTEGER,                    -- its height upright, px; NULL when unknown
  measured_at INTEGER NOT NULL       -- unix ms
) STRICT;
`,
  },
  {
    version: 12,
    name: '0012_group_declarer',
    sql: `
-- Who declared each group (issue 11 section 1, several devices): a device changes only the
-- groups it declared itself, or no live device's (See [Note: A declaration replaces] in
-- common/vault-protocol.ts).
ALTER TABLE groups ADD COLUMN declared_by TEXT; -- devices.id of the token that declared it, 'admin' for the admin token; NULL = declared before this version (anybody's)
`,
  },
  {
    version: 13,
    name: '0013_stored_encoding',
    sql: `
-- How each content is stored on disk (issue 15 section 3: lossless compression on the vault).
-- See [Note: Compressing blobs in the background] in ../compressor.ts. The blob file itself
-- says its encoding (its name); these columns are for usage and the compressor's bookkeeping.
ALTER TABLE assets ADD COLUMN stored_encoding TEXT CHECK (stored_encoding IN ('plain', 'compressing', 'compressed')); -- NULL = not yet considered by the compressor; 'compressing' = a compressed copy may be in place beside the plain one (the start-up sweep settles it)
ALTER TABLE assets ADD COLUMN stored_bytes INTEGER; -- bytes the compressed file takes; NULL unless stored_encoding = 'compressed'
CREATE INDEX assets_encoding_unconsidered ON assets (id) WHERE stored_encoding IS NULL;
CREATE INDEX assets_encoding_compressing ON assets (id) WHERE stored_encoding = 'compressing';
CREATE INDEX assets_encoding_compressed ON assets (id) WHERE stored_encoding = 'compressed';
`,
  },
  {
    version: 14,
    name: '0014_trash',
    sql: `
-- The vault's trash (issue 15 section 1): contents a person moved out of the library. A row
-- here hides its content from the library, the similar-photos review and the dedup check (See
-- [Note: What the trash answers] in ../trash.ts); deleting the row restores it. Nothing
-- leaves the trash by itself: only an administrator's explicit empty removes a content, past
-- the retention and while no device holds a live place of it.
CREATE TABLE trash (
  sha256 TEXT PRIMARY KEY,           -- an assets row's content
  trashed_at INTEGER NOT NULL,       -- unix ms (vault clock) it was moved to the trash
  trashed_by TEXT                    -- devices.id whose token moved it; NULL = the admin token
) STRICT;
CREATE INDEX trash_by_age ON trash (trashed_at);
`,
  },
];
