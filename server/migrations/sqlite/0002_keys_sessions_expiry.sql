-- API keys become their own rows (a user may have several, each with an id and a name, and
-- each revocable); password sign-in gets session tokens; tus uploads get an expiry.

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- SHA-256 (hex) of the key; the key itself is never stored.
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE INDEX api_keys_user ON api_keys (user_id);

-- The key each existing user was created with.
INSERT INTO api_keys (id, user_id, name, key_sha256, created_at)
SELECT lower(hex(randomblob(16))), id, 'default', api_key_sha256, created_at FROM users;

-- users.api_key_sha256 is no longer read (SQLite cannot drop a UNIQUE column in place).
-- It now holds a unique placeholder, so a revoked key's hash lingers nowhere.
UPDATE users SET api_key_sha256 = 'unused:' || id;

CREATE TABLE sessions (
    -- SHA-256 (hex) of the token (32 random bytes); the token itself is never stored.
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    -- Unix seconds.
    expires_at INTEGER NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);

-- tus expiration: unix seconds after which an unfinished upload is gone. Moved forward on
-- every write.
ALTER TABLE uploads ADD COLUMN expires_at INTEGER;
UPDATE uploads SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) + 86400;
CREATE INDEX uploads_expiry ON uploads (expires_at);
CREATE INDEX uploads_user ON uploads (user_id);
CREATE INDEX assets_checksum ON assets (checksum);
