//! ferry's reference server: tus uploads into a content-addressed blob store, an SQLite
//! catalog of each user's assets, and the PWA served as static files.
//!
//! Data layout under the data directory: `ferry.sqlite` (WAL), `uploads/<upload-id>`
//! (partial uploads), `blobs/<first 2 hex>/<sha256 hex>` (completed content).

pub mod assets;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod db;
mod error;
pub mod timestamps;
pub mod tus;
pub mod users;
mod www;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use sqlx::SqlitePool;
use tower_http::trace::TraceLayer;

pub use error::AppError;

/// Everything a request handler may need.
pub struct AppState {
    pub pool: SqlitePool,
    pub blobs: blobs::BlobStore,
    pub upload_locks: tus::UploadLocks,
    /// The PWA, served at `/`.
    pub www: PathBuf,
}

impl AppState {
    /// Opens (creating if needed) the data directory and its database.
    pub async fn open(data_dir: &Path, www: impl Into<PathBuf>) -> Result<Self, AppError> {
        tokio::fs::create_dir_all(data_dir).await?;
        Ok(Self {
            pool: db::open(&data_dir.join("ferry.sqlite")).await?,
            blobs: blobs::BlobStore::open(data_dir).await?,
            upload_locks: tus::UploadLocks::default(),
            www: www.into(),
        })
    }
}

/// The whole HTTP surface: `/api/...`, `/healthz`, and the PWA for everything else.
pub fn app(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .merge(tus::routes())
        .merge(assets::routes())
        .route("/users/me", get(users::me))
        .fallback(|| async { AppError::NotFound });
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(www::service(&state.www))
        .layer(axum::middleware::from_fn(www::javascript_content_type))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
