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
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("Upload-Offset {client} does not match the server offset {server}")]
    OffsetMismatch { client: u64, server: u64 },
    #[error("Content-Type must be application/offset+octet-stream")]
    UnsupportedMediaType,
    #[error("Tus-Resumable: 1.0.0 is required")]
    TusVersion,
    #[error("another request is writing to this upload")]
    Locked,
    #[error("{0}")]
    TooLarge(String),
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("the chunk does not match its Upload-Checksum; it was discarded")]
    ChunkChecksumMismatch,
    #[error("{0}")]
    ChecksumMismatch(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        let checksum = StatusCode::from_u16(CHECKSUM_MISMATCH).expect("valid status code");
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            Self::OffsetMismatch { .. } => (StatusCode::CONFLICT, "offset-mismatch"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
            }
            Self::TusVersion => (StatusCode::PRECONDITION_FAILED, "tus-version"),
            Self::Locked => (StatusCode::LOCKED, "upload-locked"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            Self::QuotaExceeded(_) => (StatusCode::PAYLOAD_TOO_LARGE, "quota-exceeded"),
            Self::ChunkChecksumMismatch => (checksum, "chunk-checksum-mismatch"),
            Self::ChecksumMismatch(_) => (checksum, "checksum-mismatch"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Database(_) | Self::Migrate(_) | Self::Io(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "internal server error".to_owned()
        } else {
            self.to_string()
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}
