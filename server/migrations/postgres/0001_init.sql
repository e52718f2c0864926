-- The PostgreSQL catalog: the same tables as SQLite's migrations 0001-0005 end with, so one
-- set of queries serves both. Timestamps are RFC 3339 UTC text with milliseconds
-- ("2024-05-01T12:00:00.000Z"), so text order is time order; flags are BIGINT 0/1 as in
-- SQLite (the queries compare and bind them as integers).

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    -- Legacy column (see SQLite's 0002): a unique placeholder, never read.
    api_key_sha256 TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    quota_size_in_bytes BIGINT,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- SHA-256 (hex) of the key; the key itself is never stored.
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    -- Unix seconds.
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE assets (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 (lowercase hex) computed by the server over the stored bytes.
    checksum TEXT NOT NULL,
    original_file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    file_created_at TEXT NOT NULL,
    file_modified_at TEXT NOT NULL,
    device_asset_id TEXT,
    device_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    deleted_at TEXT,
    is_favorite BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT,
    thumbnail_sha256 TEXT,
    -- Dedup is per user: one asset per (user, content).
    UNIQUE (user_id, checksum)
);
CREATE INDEX assets_timeline ON assets (user_id, file_created_at DESC, id DESC);
CREATE INDEX assets_device ON assets (user_id, device_id, device_asset_id);
CREATE INDEX assets_checksum ON assets (checksum);
CREATE INDEX assets_updated ON assets (user_id, updated_at, id);
CREATE INDEX assets_trash ON assets (user_id, deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE uploads (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    upload_length BIGINT NOT NULL,
    -- Last acknowledged offset: every byte below it is durable in the blob store.
    upload_offset BIGINT NOT NULL DEFAULT 0,
    filename TEXT,
    filetype TEXT,
    declared_checksum TEXT,
    file_created_at TEXT,
    file_modified_at TEXT,
    device_asset_id TEXT,
    device_id TEXT,
    content_sha256 TEXT,
    asset_id TEXT REFERENCES assets (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at BIGINT,
    album TEXT,
    is_favorite BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT,
    length_deferred BIGINT NOT NULL DEFAULT 0,
    -- The SHA-256 state of the bytes below `upload_offset` (`sha256_state.rs`).
    sha256_state TEXT
);
CREATE INDEX uploads_expiry ON uploads (expires_at);
CREATE INDEX uploads_user ON uploads (user_id);

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
    UNIQUE (user_id, name)
);

CREATE TABLE album_assets (
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (album_id, asset_id)
);
CREATE INDEX album_assets_asset ON album_assets (asset_id);
