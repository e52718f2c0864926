//! The SQLite catalog: connection, migrations and every query the server runs.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::timestamps;

/// Opens (creating if needed) `ferry.sqlite` in WAL mode and runs the migrations.
pub async fn open(path: &Path) -> Result<SqlitePool, crate::AppError> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: an acknowledged Upload-Offset must survive power loss, not just a crash.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub name: String,
    pub quota_size_in_bytes: Option<i64>,
}

pub async fn count_users(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub api_key_sha256: &'a str,
    pub password_hash: Option<&'a str>,
    pub quota_size_in_bytes: Option<i64>,
}

/// Returns `Ok(false)` when the name is taken.
pub async fn insert_user(pool: &SqlitePool, user: &NewUser<'_>) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO users (id, name, api_key_sha256, password_hash, quota_size_in_bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
    )
    .bind(user.id)
    .bind(user.name)
    .bind(user.api_key_sha256)
    .bind(user.password_hash)
    .bind(user.quota_size_in_bytes)
    .bind(timestamps::now())
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn user_by_key_hash(
    pool: &SqlitePool,
    api_key_sha256: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, quota_size_in_bytes FROM users WHERE api_key_sha256 = ?")
        .bind(api_key_sha256)
        .fetch_optional(pool)
        .await
}

/// Bytes in the user's library. Identical content shared with other users still counts
/// in full for each of them: sharing a blob must not be observable.
pub async fn quota_usage(pool: &SqlitePool, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(SUM(file_size), 0) FROM assets WHERE user_id = ?")
        .bind(user_id)
        .fetch_one(pool)
        .await
}

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
}

pub async fn insert_upload(pool: &SqlitePool, upload: &Upload) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO uploads (id, user_id, upload_length, upload_offset, filename, filetype,
             declared_checksum, file_created_at, file_modified_at, device_asset_id, device_id,
             created_at)
         VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(pool)
    .await?;
    Ok(())
}

/// An upload is visible only to the user who created it.
pub async fn upload_for_user(
    pool: &SqlitePool,
    id: &str,
    user_id: &str,
) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, upload_length, upload_offset, filename, filetype, declared_checksum,
             file_created_at, file_modified_at, device_asset_id, device_id, content_sha256,
             asset_id
         FROM uploads WHERE id = ? AND user_id = ?",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

pub async fn set_upload_offset(
    pool: &SqlitePool,
    id: &str,
    offset: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET upload_offset = ? WHERE id = ?")
        .bind(offset)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn set_upload_content_sha256(
    pool: &SqlitePool,
    id: &str,
    sha256: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE uploads SET content_sha256 = ? WHERE id = ?")
        .bind(sha256)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn delete_upload(pool: &SqlitePool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM uploads WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a finished upload as an asset of its user, in one transaction. If the user
/// already has an asset with this content, that asset is reused. Returns the asset id.
/// Call only after the blob is durable on disk.
pub async fn complete_upload(
    pool: &SqlitePool,
    upload: &Upload,
    sha256: &str,
    mime_type: &str,
) -> Result<String, sqlx::Error> {
    let now = timestamps::now();
    let modified = upload
        .file_modified_at
        .clone()
        .unwrap_or_else(|| now.clone());
    let created = upload
        .file_created_at
        .clone()
        .unwrap_or_else(|| modified.clone());
    let name = upload
        .filename
        .clone()
        .unwrap_or_else(|| format!("{}.bin", upload.id));

    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO assets (id, user_id, checksum, original_file_name, mime_type, file_size,
             file_created_at, file_modified_at, device_asset_id, device_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
    .execute(&mut *tx)
    .await?;
    let asset_id: String =
        sqlx::query_scalar("SELECT id FROM assets WHERE user_id = ? AND checksum = ?")
            .bind(&upload.user_id)
            .bind(sha256)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "UPDATE uploads SET upload_offset = upload_length, content_sha256 = ?, asset_id = ?
         WHERE id = ?",
    )
    .bind(sha256)
    .bind(&asset_id)
    .bind(&upload.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(asset_id)
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
}

const ASSET_COLUMNS: &str = "id, checksum, original_file_name, mime_type, file_size,
    file_created_at, file_modified_at, device_asset_id, device_id";

pub async fn asset_for_user(
    pool: &SqlitePool,
    id: &str,
    user_id: &str,
) -> Result<Option<Asset>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ASSET_COLUMNS} FROM assets WHERE id = ? AND user_id = ?"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// `(checksum, asset id)` for those of `checksums` already in the user's library.
pub async fn assets_by_checksum(
    pool: &SqlitePool,
    user_id: &str,
    checksums: &[String],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    // json_each keeps the statement fixed whatever the batch size.
    sqlx::query_as(
        "SELECT checksum, id FROM assets
         WHERE user_id = ? AND checksum IN (SELECT value FROM json_each(?))",
    )
    .bind(user_id)
    .bind(serde_json::to_string(checksums).expect("strings serialize"))
    .fetch_all(pool)
    .await
}

pub async fn existing_device_asset_ids(
    pool: &SqlitePool,
    user_id: &str,
    device_id: &str,
    device_asset_ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT device_asset_id FROM assets
         WHERE user_id = ? AND device_id = ?
           AND device_asset_id IN (SELECT value FROM json_each(?))",
    )
    .bind(user_id)
    .bind(device_id)
    .bind(serde_json::to_string(device_asset_ids).expect("strings serialize"))
    .fetch_all(pool)
    .await
}

/// Newest first; `after` is the `(file_created_at, id)` of the last item of the previous page.
pub async fn list_assets(
    pool: &SqlitePool,
    user_id: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Asset>, sqlx::Error> {
    match after {
        None => {
            sqlx::query_as(&format!(
                "SELECT {ASSET_COLUMNS} FROM assets WHERE user_id = ?
                 ORDER BY file_created_at DESC, id DESC LIMIT ?"
            ))
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        Some((created, id)) => {
            sqlx::query_as(&format!(
                "SELECT {ASSET_COLUMNS} FROM assets
                 WHERE user_id = ? AND (file_created_at < ? OR (file_created_at = ? AND id < ?))
                 ORDER BY file_created_at DESC, id DESC LIMIT ?"
            ))
            .bind(user_id)
            .bind(created)
            .bind(created)
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
    }
}
