//! The catalog: connection, migrations and every query the server runs, on SQLite (the
//! default, one file beside the blobs) or PostgreSQL (shared by several instances).
//!
//! One set of runtime queries serves both through sqlx's `Any` driver: `$N` placeholders
//! (SQLite reads `$1` as parameter 1 too), `IN (...)` lists of placeholders instead of
//! SQLite's `json_each`, `ON CONFLICT DO NOTHING`, and integers for flags (the PostgreSQL
//! schema keeps them BIGINT 0/1 like SQLite's, so a row decodes the same from both).
//! Each backend has its own migrations (`migrations/sqlite`, `migrations/postgres`).

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::timestamps;

/// Which engine the catalog is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The catalog's connection pools: `pool` for reads, `writer()` for every statement that
/// writes.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    /// SQLite: one connection of its own, through which every write goes. SQLite lets one
    /// writer in at a time; with writes spread over the read pool's connections, a writer
    /// that found the lock taken slept in SQLite's busy handler (1, 2, 5, 10 ... 100 ms,
    /// rechecking in between), long after the lock was free again. 16 tus clients making
    /// small uploads slept 9 times per upload (`strace -c -f`: 9,060 `clock_nanosleep` in
    /// 1,000 uploads). Queued for this one connection, the next writer starts the moment
    /// the previous one commits. PostgreSQL: the same pool as `pool`.
    writer: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// The pool that every write (and every transaction that writes) goes through.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }
}

/// What each SQLite connection is set to; `cache_kib`: its page cache's cap.
async fn configure_sqlite(
    conn: &mut sqlx::AnyConnection,
    cache_kib: u32,
) -> Result<(), sqlx::Error> {
    // FULL: an acknowledged Upload-Offset must survive power loss, not just a crash.
    conn.execute(
        format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;
             PRAGMA cache_size = -{cache_kib};"
        )
        .as_str(),
    )
    .await?;
    Ok(())
}

/// The page cache of each reading connection. A reader's cache is dropped whenever another
/// connection has written (WAL mode), which under uploads is all the time, so a large one
/// only holds memory: SQLite's default of 2 MiB each filled as the library grew (issue 8).
const READER_CACHE_KIB: u32 = 512;
/// The writing connection's page cache (SQLite's default size): it alone stays warm.
const WRITER_CACHE_KIB: u32 = 2000;

/// Opens (creating if needed) `ferry.sqlite` at `path` in WAL mode and runs the migrations.
pub async fn open(path: &Path) -> Result<Db, crate::AppError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| Box::pin(configure_sqlite(conn, READER_CACHE_KIB)))
        .connect(&sqlite_url(path))
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    let writer = AnyPoolOptions::new()
        .max_connections(1)
        // Writers queue here while one commits (an fsync each), so allow for a long queue.
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _| Box::pin(configure_sqlite(conn, WRITER_CACHE_KIB)))
        .connect(&sqlite_url(path))
        .await?;
    Ok(Db {
        pool,
        writer,
        backend: Backend::Sqlite,
    })
}

/// Connects to PostgreSQL at `url` (`postgres://user:password@host/db`) and runs its
/// migrations; several instances may do so at once (sqlx takes an advisory lock).
pub async fn open_postgres(url: &str) -> Result<Db, crate::AppError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        // Each PATCH in progress holds one connection for its upload lock.
        .max_connections(32)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(Db {
        writer: pool.clone(),
        pool,
        backend: Backend::Postgres,
    })
}

/// A `sqlite://` URL for `path`, with the characters a URL would misread escaped.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' | ' ' => url.push_str(&format!("%{:02X}", c as u32)),
            c => url.push(c),
        }
    }
    url.push_str("?mode=rwc");
    url
}

/// `$first, $first + 1, ...` for `n` values: an `IN (...)` list both engines accept. An
/// empty list is `NULL`, which matches nothing (PostgreSQL refuses `IN ()`).
///
/// A query with such a list is a new SQL text for each length, so each is run with
/// `.persistent(false)`: sqlx otherwise keeps every statement it prepared, up to 100 per
/// connection, and a `GET /api/assets` page (its album names) of each length up to 1,000
/// was one more. That was the server's resident set growing with the library in issue 8's
/// soak (29 to 54 MiB in 30 minutes, still rising): `server/tests/memory.rs` with a page
/// listed every 20 uploads grew 26.9 to 52.6 MiB over 900 uploads with them kept.
fn placeholders(first: usize, n: usize) -> String {
    if n == 0 {
        return "NULL".into();
    }
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A 0/1 column read as a `bool` (`#[sqlx(try_from = "Flag")]`): both schemas store flags as
/// integers, and sqlx's `Any` decodes a `bool` only from a boolean column.
#[derive(Debug, Clone, Copy)]
pub struct Flag(i64);

impl sqlx::Type<sqlx::Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<sqlx::Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<sqlx::Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <i64 as sqlx::Decode<sqlx::Any>>::decode(value).map(Flag)
    }
}

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0 != 0
    }
}

/// The seed of the blob collector's advisory lock keys (any constant other than the 0 that
/// uploads' locks use would do; collisions only serialize more).
const BLOB_GC_LOCK: i64 = 0x6665_7272_795f_6763;

/// Held while one request writes to an upload. On PostgreSQL it is a transaction holding
/// `pg_try_advisory_xact_lock` on the upload's id: another instance's PATCH of the same
/// upload gets 423 instead of interleaving bytes, and if this instance dies its connection
/// closes and the lock goes with it. On SQLite (one instance) the in-process lock is enough.
pub struct DbLock {
    _tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
}

impl Db {
    /// `None`: another instance is writing to this upload.
    pub async fn try_lock_upload(&self, id: &str) -> Result<Option<DbLock>, sqlx::Error> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(DbLock { _tx: None }));
        }
        let mut tx = self.pool.begin().await?;
        // The previous request's lock goes when its transaction rolls back, which sqlx does
        // as the connection returns to the pool, a moment after that request's answer left.
        // A client sending its next chunk at once may get here first: wait a little before
        // answering 423, so only a real concurrent writer sees it.
        for attempt in 0..10 {
            let row: AnyRow = sqlx::query(
                "SELECT CASE WHEN pg_try_advisory_xact_lock(hashtextextended($1, 0))
                     THEN 1 ELSE 0 END",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if row.try_get::<i64, _>(0)? == 1 {
                return Ok(Some(DbLock { _tx: Some(tx) }));
            }
            if attempt < 9 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(None)
    }

    /// Waits for the blob collector's lock of blob `sha256`: deciding that a blob is
    /// unreferenced and deleting it never interleaves with an upload recording that
    /// content, on any instance. One lock per blob (the key mixes `sha256` into
    /// `BLOB_GC_LOCK`), so uploads of different content never wait for each other here.
    pub async fn lock_blob_gc(&self, sha256: &str) -> Result<DbLock, sqlx::Error> {
        if self.backend == Backend::Sqlite {
            return Ok(DbLock { _tx: None });
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "SELECT CAST(1 AS BIGINT)
             FROM (SELECT pg_advisory_xact_lock(hashtextextended($2, $1))) AS gc",
        )
        .bind(BLOB_GC_LOCK)
        .bind(sha256)
        .fetch_one(&mut *tx)
        .await?;
        Ok(DbLock { _tx: Some(tx) })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub name: String,
    pub quota_size_in_bytes: Option<i64>,
}

pub async fn count_users(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&db.pool)
        .await
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub api_key_sha256: &'a str,
    pub password_hash: Option<&'a str>,
    pub quota_size_in_bytes: Option<i64>,
}

/// Inserts the user and their first API key (named "default"), in one transaction.
/// Returns `Ok(false)` when the name is taken.
pub async fn insert_user(db: &Db, user: &NewUser<'_>) -> Result<bool, sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    let now = timestamps::now();
    let result = sqlx::query(
        "INSERT INTO users (id, name, api_key_sha256, password_hash, quota_size_in_bytes, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
    )
    .bind(user.id)
    .bind(user.name)
    // Legacy column, no longer read (see migration 0002).
    .bind(format!("unused:{}", user.id))
    .bind(user.password_hash)
    .bind(user.quota_size_in_bytes)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, key_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(user.id)
    .bind("default")
    .bind(user.api_key_sha256)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// 128 random bits, hex: ids of API keys.
fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The user an API key or an unexpired session token (`$1`, its SHA-256 hex) belongs to,
/// at `$2` (unix seconds).
const USER_BY_CREDENTIAL: &str = "
    SELECT u.id, u.name, u.quota_size_in_bytes FROM api_keys k JOIN users u ON u.id = k.user_id
    WHERE k.key_sha256 = $1
    UNION ALL
    SELECT u.id, u.name, u.quota_size_in_bytes FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_sha256 = $1 AND s.expires_at > $2
    LIMIT 1";

/// The user an API key or an unexpired session token (given as its SHA-256 hex) belongs to.
pub async fn user_by_credential_hash(
    db: &Db,
    sha256: &str,
    now_unix: i64,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(USER_BY_CREDENTIAL)
        .bind(sha256)
        .bind(now_unix)
        .fetch_optional(&db.pool)
        .await
}

pub async fn user_by_name(db: &Db, name: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, quota_size_in_bytes FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await
}

/// `(user, argon2 PHC hash)` for password sign-in; the hash is `None` for users without one.
pub async fn user_with_password(
    db: &Db,
    name: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    let row: Option<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT id, name, quota_size_in_bytes, password_hash FROM users WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id, name, quota_size_in_bytes, hash)| {
        (
            User {
                id,
                name,
                quota_size_in_bytes,
            },
            hash,
        )
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserSummary {
    pub id: String,
    pub name: String,
    pub quota_size_in_bytes: Option<i64>,
    pub quota_usage_in_bytes: i64,
    pub assets: i64,
    pub api_keys: i64,
    pub created_at: String,
}

pub async fn list_users(db: &Db) -> Result<Vec<UserSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.quota_size_in_bytes,
             (SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) FROM assets a
              WHERE a.user_id = u.id)
                 AS quota_usage_in_bytes,
             (SELECT COUNT(*) FROM assets a WHERE a.user_id = u.id) AS assets,
             (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id) AS api_keys,
             u.created_at
         FROM users u ORDER BY u.name",
    )
    .fetch_all(&db.pool)
    .await
}

/// What deleting a user left for the caller to clean up on disk.
#[derive(Debug, Default)]
pub struct RemovedUser {
    /// Unfinished uploads whose bytes are to be deleted.
    pub uploads: Vec<Upload>,
    /// Blobs the user referenced; delete those no longer referenced by anyone.
    pub checksums: Vec<String>,
    /// The user's assets, whose client-made thumbnails are to be deleted.
    pub asset_ids: Vec<String>,
}

/// Deletes the user with their API keys, sessions, assets and uploads (one transaction).
/// `None` if there is no such user.
pub async fn delete_user(db: &Db, name: &str) -> Result<Option<RemovedUser>, sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    let Some(user_id): Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let uploads = sqlx::query_as(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE user_id = $1"
    ))
    .bind(&user_id)
    .fetch_all(&mut *tx)
    .await?;
    let checksums = sqlx::query_scalar(
        "SELECT checksum FROM assets WHERE user_id = $1
         UNION SELECT content_sha256 FROM uploads WHERE user_id = $1 AND content_sha256 IS NOT NULL",
    )
    .bind(&user_id)
    .fetch_all(&mut *tx)
    .await?;
    let asset_ids = sqlx::query_scalar("SELECT id FROM assets WHERE user_id = $1")
        .bind(&user_id)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM album_assets WHERE album_id IN (SELECT id FROM albums WHERE user_id = $1)",
    )
    .bind(&user_id)
    .execute(&mut *tx)
    .await?;
    // Explicit deletes rather than relying on ON DELETE CASCADE alone.
    for table in [
        "sessions",
        "api_keys",
        "uploads",
        "albums",
        "asset_tombstones",
        "assets",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(RemovedUser {
        uploads,
        checksums,
        asset_ids,
    }))
}

/// Whether any asset, or any upload between hashing and completion, uses this content.
pub async fn blob_is_referenced(db: &Db, sha256: &str) -> Result<bool, sqlx::Error> {
    let referenced: i64 = sqlx::query_scalar(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM assets WHERE checksum = $1)
             OR EXISTS (SELECT 1 FROM uploads WHERE content_sha256 = $1) THEN 1 ELSE 0 END",
    )
    .bind(sha256)
    .fetch_one(&db.pool)
    .await?;
    Ok(referenced != 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

pub async fn insert_api_key(
    db: &Db,
    user_id: &str,
    name: &str,
    key_sha256: &str,
) -> Result<ApiKey, sqlx::Error> {
    let key = ApiKey {
        id: new_id(),
        name: name.to_owned(),
        created_at: timestamps::now(),
    };
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, key_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.id)
    .bind(user_id)
    .bind(&key.name)
    .bind(key_sha256)
    .bind(&key.created_at)
    .execute(db.writer())
    .await?;
    Ok(key)
}

/// Returns `Ok(false)` if there is no key with this id.
pub async fn delete_api_key(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn list_api_keys(db: &Db, user_id: &str) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, created_at FROM api_keys WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await
}

/// Records a session of `user_id` if their password hash is still `password_hash` (the
/// one the sign-in checked); `false` if it has changed since.
pub async fn insert_session(
    db: &Db,
    token_sha256: &str,
    user_id: &str,
    password_hash: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO sessions (token_sha256, user_id, created_at, expires_at)
         SELECT $1, $2, $3, $4
         WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash = $5)",
    )
    .bind(token_sha256)
    .bind(user_id)
    .bind(timestamps::now())
    .bind(expires_at)
    .bind(password_hash)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Returns whether a session was deleted.
pub async fn delete_session(
    db: &Db,
    token_sha256: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1 AND user_id = $2")
        .bind(token_sha256)
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends every session of the user `user_id` (their sign-ins; API keys stay). Returns how
/// many there were.
pub async fn delete_sessions_of(db: &Db, user_id: &str) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(result.rows_affected())
}

/// Sets the user's password hash and ends their sessions, at once: a sign-in made with the
/// old password must not outlive it. Returns how many sessions were ended.
pub async fn set_password_hash(
    db: &Db,
    user_id: &str,
    password_hash: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(ended)
}

pub async fn delete_expired_sessions(db: &Db, now_unix: i64) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_unix)
        .execute(db.writer())
        .await?;
    Ok(result.rows_affected())
}

/// Bytes in the user's library. Identical content shared with other users still counts
/// in full for each of them: sharing a blob must not be observable.
pub async fn quota_usage(db: &Db, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(QUOTA_USAGE)
        .bind(user_id)
        .fetch_one(&db.pool)
        .await
}

/// The bytes in the library of user `$1`. SUM of BIGINT is NUMERIC in PostgreSQL; the
/// cast makes it an i64 on both.
const QUOTA_USAGE: &str =
    "SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) FROM assets WHERE user_id = $1";

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Upload {
    pub id: String,
    pub user_id: String,
    pub upload_length: i64,
    pub upload_offset: i64,
    pub filename: Option<String>,
    pub filetype: Option<String>,
    pub declared_checksum: Option<String>,
    pub file_created_at: Option<String>,
    pub file_modified_at: Option<String>,
    pub device_asset_id: Option<String>,
    pub device_id: Option<String>,
    pub content_sha256: Option<String>,
    pub asset_id: Option<String>,
    /// Unix seconds; `None` only for rows older than the expiration extension.
    pub expires_at: Option<i64>,
    /// `Upload-Metadata` `album`: the completed asset joins this album (created if missing).
    pub album: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub is_favorite: bool,
    pub duration_ms: Option<i64>,
    /// RUFH: the client has not said how long the upload is yet (`upload_length` is 0).
    #[sqlx(try_from = "Flag")]
    pub length_deferred: bool,
    /// `Sha256State::save` of the bytes below `upload_offset`, if known.
    pub sha256_state: Option<String>,
    /// What the blob store keeps of the unfinished upload (`Storage::create_partial`).
    pub store_state: Option<String>,
    /// `Upload-Metadata` `livePhotoVideoId`: the user's asset that is this photo's motion
    /// part. Linked on completion only if the user owns it.
    pub live_photo_video_id: Option<String>,
}

/// The columns of an `Upload`.
const UPLOAD_COLUMNS: &str = "id, user_id, upload_length, upload_offset, filename, filetype,
    declared_checksum, file_created_at, file_modified_at, device_asset_id, device_id,
    content_sha256, asset_id, expires_at, album, is_favorite, duration_ms, length_deferred,
    sha256_state, store_state, live_photo_video_id";

pub async fn insert_upload(db: &Db, upload: &Upload) -> Result<(), sqlx::Error> {
    // No limit on open uploads: a multipart upload finishes within its one request.
    insert_upload_within(db, upload, u64::MAX, 0)
        .await
        .map(|_| ())
}

/// Like `insert_upload`, but only while the user has fewer than `max_open` unfinished
/// uploads that have not expired at `now_unix`. The count and the insert are one statement,
/// so parallel creations cannot all slip under the limit. `false`: the limit is reached.
pub async fn insert_upload_within(
    db: &Db,
    upload: &Upload,
    max_open: u64,
    now_unix: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO uploads (id, user_id, upload_length, upload_offset, filename, filetype,
             declared_checksum, file_created_at, file_modified_at, device_asset_id, device_id,
             created_at, expires_at, album, is_favorite, duration_ms, length_deferred,
             store_state, live_photo_video_id)
         SELECT $1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $20,
             $21
         WHERE (SELECT COUNT(*) FROM uploads
                WHERE user_id = $17 AND asset_id IS NULL
                  AND (expires_at IS NULL OR expires_at > $18)) < $19",
    )
    .bind(&upload.id)
    .bind(&upload.user_id)
    .bind(upload.upload_length)
    .bind(&upload.filename)
    .bind(&upload.filetype)
    .bind(&upload.declared_checksum)
    .bind(&upload.file_created_at)
    .bind(&upload.file_modified_at)
    .bind(&upload.device_asset_id)
    .bind(&upload.device_id)
    .bind(timestamps::now())
    .bind(upload.expires_at)
    .bind(&upload.album)
    .bind(i64::from(upload.is_favorite))
    .bind(upload.duration_ms)
    .bind(i64::from(upload.length_deferred))
    .bind(&upload.user_id)
    .bind(now_unix)
    .bind(i64::try_from(max_open).unwrap_or(i64::MAX))
    .bind(&upload.store_state)
    .bind(&upload.live_photo_video_id)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// An upload is visible only to the user who created it.
pub async fn upload_for_user(
    db: &Db,
    id: &str,
    user_id: &str,
) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await
}

/// The upload `id`, whoever it belongs to (background work and completion).
pub async fn upload_by_id(db: &Db, id: &str) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// The ETags of an upload's finished store parts, in order (`upload_parts`).
pub async fn upload_parts(db: &Db, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT etag FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
        .bind(id)
        .fetch_all(&db.pool)
        .await
}

pub async fn set_upload_offset(db: &Db, id: &str, offset: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET upload_offset = $1 WHERE id = $2")
        .bind(offset)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Acknowledges bytes: the new offset, the SHA-256 state of everything below it (`None`:
/// not known, completion re-reads) and what the store needs to go on from there (its parts
/// and state), in one transaction, so they always agree. `expires_at` (when `Some`) is the
/// upload's new expiry, and `content_sha256` (when `Some`, for the chunk that brought the
/// last byte) the SHA-256 of the whole upload, as `set_upload_content_sha256` records it:
/// one commit, one fsync of the WAL, where they were three.
pub async fn set_upload_progress(
    db: &Db,
    id: &str,
    offset: i64,
    sha256_state: Option<&str>,
    store: &crate::blobs::Progress,
    expires_at: Option<i64>,
    content_sha256: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    for (number, etag) in &store.parts {
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, part_number, etag) VALUES ($1, $2, $3)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET etag = excluded.etag",
        )
        .bind(id)
        .bind(number)
        .bind(etag)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE uploads SET upload_offset = $1, sha256_state = $2,
             store_state = COALESCE($3, store_state), expires_at = COALESCE($5, expires_at),
             content_sha256 = COALESCE($6, content_sha256)
         WHERE id = $4",
    )
    .bind(offset)
    .bind(sha256_state)
    .bind(&store.state)
    .bind(id)
    .bind(expires_at)
    .bind(content_sha256)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The saved SHA-256 state of an upload (see `set_upload_progress`).
pub async fn upload_sha256_state(db: &Db, id: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT sha256_state FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?
            .flatten(),
    )
}

/// RUFH: the length of a deferred-length upload became known.
pub async fn set_upload_length(db: &Db, id: &str, length: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET upload_length = $1, length_deferred = 0 WHERE id = $2")
        .bind(length)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Records activity: the upload now expires at `expires_at` (unix seconds).
pub async fn set_upload_expiry(db: &Db, id: &str, expires_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET expires_at = $1 WHERE id = $2")
        .bind(expires_at)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// `(id, content_sha256)` of uploads whose expiry has passed, finished or not.
pub async fn expired_uploads(
    db: &Db,
    now_unix: i64,
) -> Result<Vec<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, content_sha256 FROM uploads WHERE expires_at <= $1")
        .bind(now_unix)
        .fetch_all(&db.pool)
        .await
}

pub async fn set_upload_content_sha256(db: &Db, id: &str, sha256: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET content_sha256 = $1 WHERE id = $2")
        .bind(sha256)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

pub async fn delete_upload(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// What the server read from the stored bytes themselves (EXIF, QuickTime `mvhd`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaMeta {
    pub created_at: Option<String>,
    pub duration_ms: Option<i64>,
}

/// What `complete_upload` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The asset: a new one, or the user's own with this content (`new` false).
    Recorded { asset_id: String, new: bool },
    /// Nothing: the key or session the request came with no longer signs the upload's
    /// user in (revoked, signed out, expired, or the user was removed).
    SignedOut,
    /// Nothing: the asset does not fit the user's quota of `quota` bytes, `usage` taken.
    OverQuota { quota: i64, usage: i64 },
}

/// Records a finished upload as an asset of its user, in one transaction, if the request
/// that finished it still signs its user in (`credential_sha256` at `now_unix`) and the
/// asset fits the user's quota. If the user already has an asset with this content, that
/// asset is reused (and stays where it is, even in the trash), which costs no quota.
/// `fileCreatedAt` is, in order: what the client sent, what the file says,
/// `fileModifiedAt`, now. Call only after the blob is durable on disk.
pub async fn complete_upload(
    db: &Db,
    upload: &Upload,
    sha256: &str,
    mime_type: &str,
    meta: &MediaMeta,
    credential_sha256: &str,
    now_unix: i64,
) -> Result<Completion, sqlx::Error> {
    let now = timestamps::now();
    let modified = upload
        .file_modified_at
        .clone()
        .unwrap_or_else(|| now.clone());
    let created = upload
        .file_created_at
        .clone()
        .or_else(|| meta.created_at.clone())
        .unwrap_or_else(|| modified.clone());
    let name = upload
        .filename
        .clone()
        .unwrap_or_else(|| format!("{}.bin", upload.id));

    let mut tx = db.writer().begin().await?;
    // Completions of one user take turns from here to the commit, so each one's quota
    // check counts the assets of those before it: a write to the user's row locks it on
    // PostgreSQL (where each statement after it sees what they committed), and on SQLite
    // takes the database's write lock. Checked at the start of each request only, ten
    // parallel uploads of 900 bytes all fitted a quota of 1,000.
    sqlx::query("UPDATE users SET quota_size_in_bytes = quota_size_in_bytes WHERE id = $1")
        .bind(&upload.user_id)
        .execute(&mut *tx)
        .await?;
    // A PATCH is authorized as it starts and may stream for hours: a key revoked since
    // then must not make an asset when it ends.
    let signed_in: Option<User> = sqlx::query_as(USER_BY_CREDENTIAL)
        .bind(credential_sha256)
        .bind(now_unix)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(user) = signed_in.filter(|u| u.id == upload.user_id) else {
        tx.rollback().await?;
        return Ok(Completion::SignedOut);
    };
    let duplicate: Option<String> =
        sqlx::query_scalar("SELECT id FROM assets WHERE user_id = $1 AND checksum = $2")
            .bind(&upload.user_id)
            .bind(sha256)
            .fetch_optional(&mut *tx)
            .await?;
    if let (None, Some(quota)) = (&duplicate, user.quota_size_in_bytes) {
        let usage: i64 = sqlx::query_scalar(QUOTA_USAGE)
            .bind(&upload.user_id)
            .fetch_one(&mut *tx)
            .await?;
        if usage.saturating_add(upload.upload_length) > quota {
            tx.rollback().await?;
            return Ok(Completion::OverQuota { quota, usage });
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO assets (id, user_id, checksum, original_file_name, mime_type, file_size,
             file_created_at, file_modified_at, device_asset_id, device_id, created_at,
             updated_at, is_favorite, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (user_id, checksum) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&upload.user_id)
    .bind(sha256)
    .bind(name)
    .bind(mime_type)
    .bind(upload.upload_length)
    .bind(created)
    .bind(modified)
    .bind(&upload.device_asset_id)
    .bind(&upload.device_id)
    .bind(&now)
    .bind(&now)
    .bind(i64::from(upload.is_favorite))
    .bind(upload.duration_ms.or(meta.duration_ms))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let asset_id: String =
        sqlx::query_scalar("SELECT id FROM assets WHERE user_id = $1 AND checksum = $2")
            .bind(&upload.user_id)
            .bind(sha256)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(video) = upload.live_photo_video_id.as_deref() {
        link_motion_part(&mut tx, &upload.user_id, &asset_id, video).await?;
    }
    if let Some(album) = upload.album.as_deref() {
        let album_id = ensure_album(&mut tx, &upload.user_id, album).await?;
        add_to_album(
            &mut tx,
            &album_id,
            &upload.user_id,
            std::slice::from_ref(&asset_id),
        )
        .await?;
    }
    sqlx::query(
        "UPDATE uploads SET upload_offset = upload_length, content_sha256 = $1, asset_id = $2
         WHERE id = $3",
    )
    .bind(sha256)
    .bind(&asset_id)
    .bind(&upload.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Completion::Recorded {
        asset_id,
        new: inserted,
    })
}

/// Makes `video` the motion part of `photo` (a Live Photo): hidden from the timeline, and
/// named by the photo. Only a video asset of the same user, and never the photo itself;
/// anything else is left unlinked. A photo already linked keeps its motion part.
async fn link_motion_part(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    photo: &str,
    video: &str,
) -> Result<(), sqlx::Error> {
    let hidden = sqlx::query(
        "UPDATE assets SET is_motion_part = 1, updated_at = $1
         WHERE id = $2 AND user_id = $3 AND id <> $4 AND mime_type LIKE 'video/%'",
    )
    .bind(timestamps::now())
    .bind(video)
    .bind(user_id)
    .bind(photo)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if hidden == 1 {
        sqlx::query(
            "UPDATE assets SET live_photo_video_id = $1
             WHERE id = $2 AND user_id = $3 AND live_photo_video_id IS NULL",
        )
        .bind(video)
        .bind(photo)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Fills in an upload row made before its length and metadata were known (the multipart
/// fallback): everything arrived, so the offset is the length.
pub async fn finish_form_upload(db: &Db, upload: &Upload) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE uploads SET upload_length = $1, upload_offset = $1, filename = $2, filetype = $3,
             file_created_at = $4, file_modified_at = $5, device_asset_id = $6, device_id = $7,
             album = $8, is_favorite = $9, duration_ms = $10
         WHERE id = $11",
    )
    .bind(upload.upload_length)
    .bind(&upload.filename)
    .bind(&upload.filetype)
    .bind(&upload.file_created_at)
    .bind(&upload.file_modified_at)
    .bind(&upload.device_asset_id)
    .bind(&upload.device_id)
    .bind(&upload.album)
    .bind(i64::from(upload.is_favorite))
    .bind(upload.duration_ms)
    .bind(&upload.id)
    .execute(db.writer())
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Asset {
    pub id: String,
    pub checksum: String,
    pub original_file_name: String,
    pub mime_type: String,
    pub file_size: i64,
    pub file_created_at: String,
    pub file_modified_at: String,
    pub device_asset_id: Option<String>,
    pub device_id: Option<String>,
    pub updated_at: String,
    /// Set while the asset is in the trash.
    pub deleted_at: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub is_favorite: bool,
    pub duration_ms: Option<i64>,
    /// SHA-256 of a thumbnail the client uploaded.
    pub thumbnail_sha256: Option<String>,
    /// A Live Photo's motion part (the video asset), if it has one.
    pub live_photo_video_id: Option<String>,
}

const ASSET_COLUMNS: &str = "id, checksum, original_file_name, mime_type, file_size,
    file_created_at, file_modified_at, device_asset_id, device_id,
    COALESCE(updated_at, created_at) AS updated_at, deleted_at, is_favorite, duration_ms,
    thumbnail_sha256, live_photo_video_id";

/// One of the user's assets, in the trash or not.
pub async fn asset_for_user(
    db: &Db,
    id: &str,
    user_id: &str,
) -> Result<Option<Asset>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ASSET_COLUMNS} FROM assets WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await
}

/// The user's assets among `ids`, in no particular order.
pub async fn assets_by_ids(
    db: &Db,
    user_id: &str,
    ids: &[String],
) -> Result<Vec<Asset>, sqlx::Error> {
    let sql = format!(
        "SELECT {ASSET_COLUMNS} FROM assets WHERE user_id = $1 AND id IN ({})",
        placeholders(2, ids.len())
    );
    let mut query = sqlx::query_as(&sql).persistent(false).bind(user_id);
    for id in ids {
        query = query.bind(id);
    }
    query.fetch_all(&db.pool).await
}

/// `(checksum, asset id)` for those of `checksums` already in the user's library. Assets
/// in the trash count: a client re-running its backup must not upload them again.
pub async fn assets_by_checksum(
    db: &Db,
    user_id: &str,
    checksums: &[String],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let sql = format!(
        "SELECT checksum, id FROM assets WHERE user_id = $1 AND checksum IN ({})",
        placeholders(2, checksums.len())
    );
    let mut query = sqlx::query_as(&sql).persistent(false).bind(user_id);
    for checksum in checksums {
        query = query.bind(checksum);
    }
    query.fetch_all(&db.pool).await
}

/// The size in bytes of the user's asset with content `checksum` (SHA-256 hex), trashed
/// ones included; `None` when the user has no such content.
pub async fn own_content_size(
    db: &Db,
    user_id: &str,
    checksum: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT file_size FROM assets WHERE user_id = $1 AND checksum = $2 LIMIT 1")
        .bind(user_id)
        .bind(checksum)
        .fetch_optional(&db.pool)
        .await
}

/// Which of `sizes` (bytes) some asset of `user_id` has, trashed ones included.
pub async fn known_sizes(db: &Db, user_id: &str, sizes: &[i64]) -> Result<Vec<i64>, sqlx::Error> {
    if sizes.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT file_size FROM assets WHERE user_id = $1 AND file_size IN ({})",
        placeholders(2, sizes.len())
    );
    let mut query = sqlx::query_scalar(&sql).persistent(false).bind(user_id);
    for size in sizes {
        query = query.bind(*size);
    }
    query.fetch_all(&db.pool).await
}

pub async fn existing_device_asset_ids(
    db: &Db,
    user_id: &str,
    device_id: &str,
    device_asset_ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let sql = format!(
        "SELECT DISTINCT device_asset_id FROM assets
         WHERE user_id = $1 AND device_id = $2 AND device_asset_id IN ({})",
        placeholders(3, device_asset_ids.len())
    );
    let mut query = sqlx::query_scalar(&sql)
        .persistent(false)
        .bind(user_id)
        .bind(device_id);
    for id in device_asset_ids {
        query = query.bind(id);
    }
    query.fetch_all(&db.pool).await
}

/// The timeline: assets not in the trash, newest `fileCreatedAt` first, optionally only
/// those of one album. `after` is the `(file_created_at, id)` of the last item of the
/// previous page.
pub async fn list_assets(
    db: &Db,
    user_id: &str,
    album_id: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Asset>, sqlx::Error> {
    // A Live Photo's motion part is shown with its photo, not on its own.
    let mut sql = format!(
        "SELECT {ASSET_COLUMNS} FROM assets
         WHERE user_id = $1 AND deleted_at IS NULL AND is_motion_part = 0"
    );
    if album_id.is_some() {
        sql.push_str(" AND id IN (SELECT asset_id FROM album_assets WHERE album_id = $3)");
    }
    if after.is_some() {
        sql.push_str(" AND (file_created_at < $4 OR (file_created_at = $4 AND id < $5))");
    }
    sql.push_str(" ORDER BY file_created_at DESC, id DESC LIMIT $2");
    // Numbered placeholders: the optional ones keep fixed numbers ($3 only with an album,
    // $4/$5 only with `after`), so an album-less page binds `None` for $3.
    let mut query = sqlx::query_as(&sql).bind(user_id).bind(limit);
    if album_id.is_some() || after.is_some() {
        query = query.bind(album_id);
    }
    if let Some((created, id)) = after {
        query = query.bind(created).bind(id);
    }
    query.fetch_all(&db.pool).await
}

/// The trash: most recently deleted first; `after` is the `(deleted_at, id)` of the last
/// item of the previous page.
pub async fn list_trash(
    db: &Db,
    user_id: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Asset>, sqlx::Error> {
    let mut sql = format!(
        "SELECT {ASSET_COLUMNS} FROM assets
         WHERE user_id = $1 AND deleted_at IS NOT NULL AND is_motion_part = 0"
    );
    if after.is_some() {
        sql.push_str(" AND (deleted_at < $3 OR (deleted_at = $3 AND id < $4))");
    }
    sql.push_str(" ORDER BY deleted_at DESC, id DESC LIMIT $2");
    let mut query = sqlx::query_as(&sql).bind(user_id).bind(limit);
    if let Some((deleted, id)) = after {
        query = query.bind(deleted).bind(id);
    }
    query.fetch_all(&db.pool).await
}

/// One entry of the sync feed: an asset (maybe in the trash) or the tombstone of a purged one.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Change {
    pub id: String,
    pub updated_at: String,
    #[sqlx(try_from = "Flag")]
    pub purged: bool,
}

/// Everything of the user's that changed after `updated_after`: assets (in the trash or
/// not) and tombstones of purged assets, oldest change first. `after` is the
/// `(updated_at, id)` of the last item of the previous page.
pub async fn changes_since(
    db: &Db,
    user_id: &str,
    updated_after: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Change>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, updated_at, purged FROM (
             SELECT id, updated_at, CAST(0 AS BIGINT) AS purged FROM assets
             WHERE user_id = $1 AND updated_at > $2
             UNION ALL
             SELECT asset_id, deleted_at, CAST(1 AS BIGINT) FROM asset_tombstones
             WHERE user_id = $1 AND deleted_at > $2
         ) AS changes",
    );
    if after.is_some() {
        sql.push_str(" WHERE updated_at > $4 OR (updated_at = $4 AND id > $5)");
    }
    sql.push_str(" ORDER BY updated_at, id LIMIT $3");
    let mut query = sqlx::query_as(&sql)
        .bind(user_id)
        .bind(updated_after)
        .bind(limit);
    if let Some((updated, id)) = after {
        query = query.bind(updated).bind(id);
    }
    query.fetch_all(&db.pool).await
}

/// Moves the user's asset to the trash (already there: unchanged). `false` if the user has
/// no such asset.
pub async fn trash_asset(db: &Db, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE assets SET updated_at = CASE WHEN deleted_at IS NULL THEN $1 ELSE updated_at END,
             deleted_at = COALESCE(deleted_at, $1)
         WHERE user_id = $3 AND (id = $2 OR id = (
             SELECT live_photo_video_id FROM assets WHERE id = $2 AND user_id = $3))",
    )
    .bind(timestamps::now())
    .bind(id)
    .bind(user_id)
    .execute(db.writer())
    .await?;
    // A Live Photo's motion part goes to the trash with it.
    Ok(result.rows_affected() >= 1)
}

/// Takes the user's asset out of the trash. `false` if it is not in the user's trash.
pub async fn restore_asset(db: &Db, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE assets SET deleted_at = NULL, updated_at = $1
         WHERE user_id = $3 AND deleted_at IS NOT NULL AND (id = $2 OR id = (
             SELECT live_photo_video_id FROM assets WHERE id = $2 AND user_id = $3))",
    )
    .bind(timestamps::now())
    .bind(id)
    .bind(user_id)
    .execute(db.writer())
    .await?;
    // With its motion part, if it has one.
    Ok(result.rows_affected() >= 1)
}

/// What purging an asset left for the caller to clean up on disk.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Purged {
    pub id: String,
    pub checksum: String,
    pub thumbnail_sha256: Option<String>,
}

/// Deletes an asset of the user's trash for good, leaving a tombstone; also forgets the
/// completed uploads that made it (so a retried final PATCH cannot bring it back).
/// `None` if it is not in the user's trash.
pub async fn purge_asset(db: &Db, user_id: &str, id: &str) -> Result<Option<Purged>, sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    let purged: Option<Purged> = sqlx::query_as(
        "SELECT id, checksum, thumbnail_sha256 FROM assets
         WHERE id = $1 AND user_id = $2 AND deleted_at IS NOT NULL",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(purged) = purged else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM uploads WHERE asset_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM album_assets WHERE asset_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // Another instance purging the same asset at once deletes nothing here: it alone
    // reports the purge (PostgreSQL's row lock makes this DELETE wait for its commit).
    let deleted = sqlx::query("DELETE FROM assets WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted != 1 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO asset_tombstones (asset_id, user_id, deleted_at) VALUES ($1, $2, $3)
         ON CONFLICT (asset_id) DO NOTHING",
    )
    .bind(id)
    .bind(user_id)
    .bind(timestamps::now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(purged))
}

/// `(user_id, asset id)` of assets that went into the trash before `cutoff`.
pub async fn trash_older_than(db: &Db, cutoff: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, id FROM assets WHERE deleted_at IS NOT NULL AND deleted_at < $1 LIMIT 1000",
    )
    .bind(cutoff)
    .fetch_all(&db.pool)
    .await
}

/// Records a thumbnail the client uploaded for its asset.
pub async fn set_thumbnail(
    db: &Db,
    user_id: &str,
    id: &str,
    sha256: &str,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE assets SET thumbnail_sha256 = $1, updated_at = $2 WHERE id = $3 AND user_id = $4",
    )
    .bind(sha256)
    .bind(timestamps::now())
    .bind(id)
    .bind(user_id)
    .execute(db.writer())
    .await?;
    Ok(result.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------
// Albums

/// The id of the user's album `name`, creating it if missing.
pub async fn ensure_album(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    name: &str,
) -> Result<String, sqlx::Error> {
    let now = timestamps::now();
    sqlx::query(
        "INSERT INTO albums (id, user_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, name) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(user_id)
    .bind(name)
    .bind(&now)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar("SELECT id FROM albums WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
}

/// Adds those of `asset_ids` that are the user's assets and not yet in the album; other
/// ids are ignored. Bumps `updated_at` of the assets added. Returns how many were added.
pub async fn add_to_album(
    tx: &mut sqlx::AnyConnection,
    album_id: &str,
    user_id: &str,
    asset_ids: &[String],
) -> Result<u64, sqlx::Error> {
    let now = timestamps::now();
    let sql = format!(
        "SELECT id FROM assets WHERE user_id = $1 AND id IN ({})
           AND id NOT IN (SELECT asset_id FROM album_assets WHERE album_id = $2)",
        placeholders(3, asset_ids.len())
    );
    let mut query = sqlx::query_scalar(&sql)
        .persistent(false)
        .bind(user_id)
        .bind(album_id);
    for id in asset_ids {
        query = query.bind(id);
    }
    let new: Vec<String> = query.fetch_all(&mut *tx).await?;
    if new.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO album_assets (album_id, asset_id, added_at)
         SELECT $1, id, $2 FROM assets WHERE id IN ({})
         ON CONFLICT DO NOTHING",
        placeholders(3, new.len())
    );
    let mut query = sqlx::query(&sql)
        .persistent(false)
        .bind(album_id)
        .bind(&now);
    for id in &new {
        query = query.bind(id);
    }
    let added = query.execute(&mut *tx).await?.rows_affected();
    let sql = format!(
        "UPDATE assets SET updated_at = $1 WHERE user_id = $2 AND id IN ({})",
        placeholders(3, new.len())
    );
    let mut query = sqlx::query(&sql).persistent(false).bind(&now).bind(user_id);
    for id in &new {
        query = query.bind(id);
    }
    query.execute(&mut *tx).await?;
    sqlx::query("UPDATE albums SET updated_at = $1 WHERE id = $2")
        .bind(&now)
        .bind(album_id)
        .execute(&mut *tx)
        .await?;
    Ok(added)
}

/// `POST /api/albums/{name}/assets`: creates the album if missing and adds the user's
/// assets among `asset_ids`. Returns how many were added.
pub async fn add_assets_to_named_album(
    db: &Db,
    user_id: &str,
    name: &str,
    asset_ids: &[String],
) -> Result<u64, sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    let album_id = ensure_album(&mut tx, user_id, name).await?;
    let added = add_to_album(&mut tx, &album_id, user_id, asset_ids).await?;
    tx.commit().await?;
    Ok(added)
}

pub async fn album_id_by_name(
    db: &Db,
    user_id: &str,
    name: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM albums WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .fetch_optional(&db.pool)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlbumSummary {
    pub name: String,
    /// Assets in the album and not in the trash.
    pub asset_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

pub async fn list_albums(db: &Db, user_id: &str) -> Result<Vec<AlbumSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT al.name, COUNT(a.id) AS asset_count, al.created_at, al.updated_at
         FROM albums al
         LEFT JOIN album_assets aa ON aa.album_id = al.id
         LEFT JOIN assets a ON a.id = aa.asset_id AND a.deleted_at IS NULL
         WHERE al.user_id = $1
         GROUP BY al.id ORDER BY al.name",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await
}

/// `(asset id, album name)` for the user's albums holding any of `asset_ids`, by name.
pub async fn album_names(
    db: &Db,
    user_id: &str,
    asset_ids: &[String],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let sql = format!(
        "SELECT aa.asset_id, al.name FROM album_assets aa JOIN albums al ON al.id = aa.album_id
         WHERE al.user_id = $1 AND aa.asset_id IN ({})
         ORDER BY al.name",
        placeholders(2, asset_ids.len())
    );
    let mut query = sqlx::query_as(&sql).persistent(false).bind(user_id);
    for id in asset_ids {
        query = query.bind(id);
    }
    query.fetch_all(&db.pool).await
}
