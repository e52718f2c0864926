-- The library API: `updatedAt` for sync, trash (soft delete) with tombstones once purged,
-- albums, favorites, durations, and metadata carried from an upload to its asset.

-- Moves forward whenever anything a client sees of the asset changes (trash, restore,
-- albums, thumbnail). Same timestamp format as everywhere else, so text order is time order.
ALTER TABLE assets ADD COLUMN updated_at TEXT;
UPDATE assets SET updated_at = created_at;
-- Set while the asset is in the trash; NULL otherwise.
ALTER TABLE assets ADD COLUMN deleted_at TEXT;
ALTER TABLE assets ADD COLUMN is_favorite INTEGER NOT NULL DEFAULT 0;
-- Video length in milliseconds, from the client or read from the file.
ALTER TABLE assets ADD COLUMN duration_ms INTEGER;
-- SHA-256 of a thumbnail the client uploaded (DATA/thumbs/asset/<asset id>), if any.
ALTER TABLE assets ADD COLUMN thumbnail_sha256 TEXT;

CREATE INDEX assets_updated ON assets (user_id, updated_at, id);
CREATE INDEX assets_trash ON assets (user_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- What is left of a purged asset: enough for other devices to forget it.
CREATE TABLE asset_tombstones (
    asset_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    deleted_at TEXT NOT NULL
);

CREATE INDEX asset_tombstones_user ON asset_tombstones (user_id, deleted_at, asset_id);

CREATE TABLE albums (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- Album names are per user: two users may each have "Camera".
    UNIQUE (user_id, name)
);

CREATE TABLE album_assets (
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (album_id, asset_id)
);

CREATE INDEX album_assets_asset ON album_assets (asset_id);

-- Upload-Metadata keys carried to the asset on completion.
ALTER TABLE uploads ADD COLUMN album TEXT;
ALTER TABLE uploads ADD COLUMN is_favorite INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN duration_ms INTEGER;
