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
];
