-- Timestamps are RFC 3339 UTC strings with millisecond precision
-- ("2024-05-01T12:00:00.000Z"), so text order is time order.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    -- SHA-256 (hex) of the API key; the key itself is never stored.
    api_key_sha256 TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    quota_size_in_bytes INTEGER,
    created_at TEXT NOT NULL
);

CREATE TABLE assets (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 (lowercase hex) computed by the server over the stored bytes.
    checksum TEXT NOT NULL,
    original_file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    file_created_at TEXT NOT NULL,
    file_modified_at TEXT NOT NULL,
    device_asset_id TEXT,
    device_id TEXT,
    created_at TEXT NOT NULL,
    -- Dedup is per user: one asset per (user, content).
    UNIQUE (user_id, checksum)
);

CREATE INDEX assets_timeline ON assets (user_id, file_created_at DESC, id DESC);
CREATE INDEX assets_device ON assets (user_id, device_id, device_asset_id);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    upload_length INTEGER NOT NULL,
    -- Last acknowledged offset; the partial file is truncated back to it before each write.
    upload_offset INTEGER NOT NULL DEFAULT 0,
    filename TEXT,
    filetype TEXT,
    -- Whole-file SHA-256 declared by the client in Upload-Metadata, if any.
    declared_checksum TEXT,
    file_created_at TEXT,
    file_modified_at TEXT,
    device_asset_id TEXT,
    device_id TEXT,
    -- SHA-256 computed by the server once all bytes arrived (lets completion be retried).
    content_sha256 TEXT,
    -- Set when the upload completed into an asset.
    asset_id TEXT REFERENCES assets (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
