//! The in-process server the handler tests drive, shared by `api.rs`, `library.rs`,
//! `rufh.rs` and `security.rs` (each adds its own helpers in an `impl Server` of its own).
//!
//! The backend comes from the environment, so the same tests run on both:
//! - nothing set: SQLite and blobs in a temporary data directory;
//! - `FERRY_TEST_DATABASE=postgres://user@host:port/db`: each server gets a fresh database
//!   on that PostgreSQL server (created through `db`, which must exist).
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use ferry_server::{app, AppState, Config};
use sqlx::Connection;
use tempfile::TempDir;
use tower::ServiceExt;

pub struct Server {
    pub dir: TempDir,
    pub state: Arc<AppState>,
    pub router: Router,
}

impl Server {
    /// A server with `config` (its backend replaced by the environment's) serving `www`.
    pub async fn start(config: Config, www: &[(&str, &[u8])]) -> Self {
        let dir = TempDir::new().unwrap();
        let www_dir = dir.path().join("www");
        std::fs::create_dir_all(&www_dir).unwrap();
        for (name, bytes) in www {
            std::fs::write(www_dir.join(name), bytes).unwrap();
        }
        let config = with_test_backend(config).await;
        let state = AppState::open_with(&dir.path().join("data"), www_dir, config)
            .await
            .unwrap();
        let state = Arc::new(state);
        let router = app(Arc::clone(&state));
        Self { dir, state, router }
    }

    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }
}

/// `config` on the backend the environment names (see the module docs).
pub async fn with_test_backend(mut config: Config) -> Config {
    let id = uuid_like();
    if let Ok(url) = std::env::var("FERRY_TEST_DATABASE") {
        config.database = Some(fresh_database(&url, &format!("ferry_test_{id}")).await);
    }
    config
}

/// Creates the database `name` on the server of `url` and returns its URL.
pub async fn fresh_database(url: &str, name: &str) -> String {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (server, _db) = base.rsplit_once('/').unwrap();
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
