//! The one error type of the HTTP boundary: a status and a JSON problem body
//! `{"error": "<code>", "message": "..."}`. Internal causes are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// tus checksum extension: "460 Checksum Mismatch" (not in the IANA registry).
pub const CHECKSUM_MISMATCH: u16 = 460;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("a valid API key is required (x-api-key or Authorization: Bearer)")]
    Unauthorized,
    /// Same answer for an unknown user and a wrong password.
    #[error("wrong user name or password")]
    LoginFailed,
    #[error("not found")]
    NotFound,
    /// The asset has no thumbnail: none was uploaded and its type cannot be decoded here.
    #[error("this asset has no thumbnail (only JPEG, PNG and WebP are made server-side; PUT one)")]
    NoThumbnail,
    /// A 404 with a message, for the CLI ("there is no user named ...").
    #[error("{0}")]
    NotFoundNamed(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("Upload-Offset {client} does not match the server offset {server}")]
    OffsetMismatch { client: u64, server: u64 },
    #[error("Content-Type must be application/offset+octet-stream")]
    UnsupportedMediaType,
    #[error("{0}")]
    UnsupportedMediaTypeNamed(String),
    #[error("Tus-Resumable: 1.0.0 is required")]
    TusVersion,
    #[error("another request is writing to this upload")]
    Locked,
    #[error("{0}")]
    TooLarge(String),
    /// 413 when an upload is created, 507 when a chunk is appended.
    #[error("quota exceeded: {message}")]
    QuotaExceeded {
        message: String,
        quota_size_in_bytes: i64,
        quota_usage_in_bytes: i64,
        on_append: bool,
    },
    #[error("the upload has expired; start a new one")]
    Gone,
    #[error("the server's storage is full; nothing was kept from this request")]
    StorageFull,
    #[error("request headers are too large")]
    HeadersTooLarge,
    #[error("the chunk does not match its Upload-Checksum; it was discarded")]
    ChunkChecksumMismatch,
    #[error("{0}")]
    ChecksumMismatch(String),
    #[error("{0}")]
    Conflict(String),
    /// The server is shutting down: this request was cut short. Bytes it delivered were
    /// kept and acknowledged (ask the upload's offset); retry against the restarted server.
    #[error("the server is shutting down; what arrived was kept, resume from the upload's offset")]
    ShuttingDown,
    /// Too many failed sign-ins for this user name or from this address (429 with
    /// `Retry-After`).
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    TooManyLoginAttempts { retry_after_secs: u64 },
    /// The user has `limit` unfinished uploads already (429): finish or cancel some first.
    #[error("you have {limit} unfinished uploads, the most this server allows (--max-open-uploads); finish or cancel some first")]
    TooManyOpenUploads { limit: u64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for AppError {
    /// ENOSPC and EDQUOT become `StorageFull` (507); every other i/o error is internal.
    fn from(e: std::io::Error) -> Self {
        if is_storage_full(&e) {
            Self::StorageFull
        } else {
            Self::Io(e)
        }
    }
}

/// A full disk or an exhausted disk quota.
pub fn is_storage_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    #[cfg(target_os = "linux")]
    const EDQUOT: i32 = 122;
    #[cfg(not(target_os = "linux"))]
    const EDQUOT: i32 = 69;
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// SQLite's own "database or disk is full".
fn is_sqlite_full(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("13"))
        || matches!(e, sqlx::Error::Io(io) if is_storage_full(io))
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        let checksum = StatusCode::from_u16(CHECKSUM_MISMATCH).expect("valid status code");
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::LoginFailed => (StatusCode::UNAUTHORIZED, "login-failed"),
            Self::NotFound | Self::NotFoundNamed(_) => (StatusCode::NOT_FOUND, "not-found"),
            Self::NoThumbnail => (StatusCode::NOT_FOUND, "no-thumbnail"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            Self::OffsetMismatch { .. } => (StatusCode::CONFLICT, "offset-mismatch"),
            Self::UnsupportedMediaType | Self::UnsupportedMediaTypeNamed(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
            }
            Self::TusVersion => (StatusCode::PRECONDITION_FAILED, "tus-version"),
            Self::Locked => (StatusCode::LOCKED, "upload-locked"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            Self::QuotaExceeded {
                on_append: false, ..
            } => (StatusCode::PAYLOAD_TOO_LARGE, "quota-exceeded"),
            Self::QuotaExceeded {
                on_append: true, ..
            } => (StatusCode::INSUFFICIENT_STORAGE, "quota-exceeded"),
            Self::Gone => (StatusCode::GONE, "upload-expired"),
            Self::StorageFull => (StatusCode::INSUFFICIENT_STORAGE, "storage-full"),
            Self::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
            ),
            Self::ChunkChecksumMismatch => (checksum, "chunk-checksum-mismatch"),
            Self::ChecksumMismatch(_) => (checksum, "checksum-mismatch"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting-down"),
            Self::TooManyLoginAttempts { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too-many-login-attempts")
            }
            Self::TooManyOpenUploads { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too-many-open-uploads")
            }
            Self::Database(e) if is_sqlite_full(e) => {
                (StatusCode::INSUFFICIENT_STORAGE, "storage-full")
            }
            Self::Database(_) | Self::Migrate(_) | Self::Io(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if code == "internal" {
            tracing::error!(error = %self, "request failed");
            "internal server error".to_owned()
        } else if code == "storage-full" {
            tracing::error!(error = %self, "storage is full");
            Self::StorageFull.to_string()
        } else if code == "bad-request" {
            // Which 400 it was, for a client that failed a file on one (RUST_LOG=debug).
            tracing::debug!(error = %self, "bad request");
            self.to_string()
        } else {
            self.to_string()
        };
        let mut body = json!({ "error": code, "message": message });
        if let Self::QuotaExceeded {
            quota_size_in_bytes,
            quota_usage_in_bytes,
            ..
        } = self
        {
            body["quotaSizeInBytes"] = quota_size_in_bytes.into();
            body["quotaUsageInBytes"] = quota_usage_in_bytes.into();
        }
        match self {
            Self::TooManyLoginAttempts { retry_after_secs } => {
                body["retryAfterSecs"] = retry_after_secs.into();
                let retry_after = [(axum::http::header::RETRY_AFTER, retry_after_secs)];
                (status, retry_after, Json(body)).into_response()
            }
            Self::TooManyOpenUploads { limit } => {
                body["maxOpenUploads"] = limit.into();
                (status, Json(body)).into_response()
            }
            _ => (status, Json(body)).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_code(e: AppError) -> (u16, &'static str) {
        let (status, code) = e.status_and_code();
        (status.as_u16(), code)
    }

    #[test]
    fn a_full_disk_is_507_storage_full() {
        for e in [
            std::io::Error::from_raw_os_error(28), // ENOSPC
            std::io::Error::from(std::io::ErrorKind::StorageFull),
            std::io::Error::from(std::io::ErrorKind::QuotaExceeded),
        ] {
            assert_eq!(status_code(AppError::from(e)), (507, "storage-full"));
        }
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(status_code(AppError::from(other)), (500, "internal"));
        let sqlite = sqlx::Error::Io(std::io::Error::from_raw_os_error(28));
        assert_eq!(status_code(AppError::from(sqlite)), (507, "storage-full"));
    }

    #[test]
    fn quota_is_413_on_create_and_507_on_append() {
        let quota = |on_append| AppError::QuotaExceeded {
            message: "x".into(),
            quota_size_in_bytes: 10,
            quota_usage_in_bytes: 5,
            on_append,
        };
        assert_eq!(status_code(quota(false)), (413, "quota-exceeded"));
        assert_eq!(status_code(quota(true)), (507, "quota-exceeded"));
    }
}
