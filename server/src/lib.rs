//! ferry's reference server: tus uploads into a content-addressed blob store, an SQLite
//! catalog of each user's assets, and the PWA served as static files.
//!
//! Data layout under the data directory: `ferry.sqlite` (WAL), `uploads/<upload-id>`
//! (partial uploads), `blobs/<first 2 hex>/<sha256 hex>` (completed content), `thumbs/`;
//! or PostgreSQL (`db.rs`) and an S3 bucket (`s3.rs`) shared by several instances.

pub mod albums;
pub mod assets;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod db;
mod error;
mod form;
/// The request parsers, opened for `fuzz/` and the property tests; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod media;
pub mod rufh;
pub mod s3;
pub mod security;
pub mod sha256_state;
pub mod thumbs;
pub mod timestamps;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trash;
pub mod tus;
pub mod users;
mod www;

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    ORIGIN, VARY,
};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_http::trace::TraceLayer;

pub use error::{is_storage_full, AppError};

/// Requests whose header names and values add up to more than this get 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Settings from the command line; `Default` is what `serve` uses without flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Origins (`https://photos.example.org`) whose pages may call the API cross-origin.
    /// Empty: same-origin only (no CORS headers at all).
    pub cors_origins: Vec<String>,
    /// An unfinished upload expires this long after its last write.
    pub upload_expiry: Duration,
    /// The largest `Upload-Length` accepted (advertised as `Tus-Max-Size`).
    pub max_upload_bytes: u64,
    /// Assets stay in the trash this long, then the sweep purges them.
    pub trash_retention: Duration,
    /// Unfinished, unexpired uploads one user may have at once; one more answers 429.
    pub max_open_uploads: u64,
    /// Failed sign-ins allowed per user name and per client address within
    /// `login_window`; then 429 with `Retry-After` until the window ends.
    pub max_login_failures: u32,
    pub login_window: Duration,
    /// Every failed sign-in answers no sooner than this (on top of the argon2 work).
    pub failed_login_delay: Duration,
    /// `postgres://...` to keep the catalog in PostgreSQL (shared by several instances);
    /// `None`: SQLite in the data directory.
    pub database: Option<String>,
    /// `s3://bucket?endpoint=...` to keep blobs, thumbnails and unfinished uploads in an
    /// S3-compatible bucket (shared by several instances; see `s3.rs`); `None`: the data
    /// directory.
    pub blobs: Option<String>,
    /// Behind a proxy: the request header holding the client's address (the last entry
    /// counts), e.g. `x-forwarded-for` or `x-real-ip`. `None`: the TCP peer.
    pub client_ip_header: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            upload_expiry: Duration::from_secs(24 * 60 * 60),
            max_upload_bytes: 64 << 30,
            trash_retention: Duration::from_secs(30 * 24 * 60 * 60),
            max_open_uploads: 100,
            max_login_failures: 10,
            login_window: Duration::from_secs(15 * 60),
            failed_login_delay: Duration::from_millis(250),
            client_ip_header: None,
            database: None,
            blobs: None,
        }
    }
}

/// Everything a request handler may need.
pub struct AppState {
    pub pool: db::Db,
    pub blobs: Arc<dyn blobs::Storage>,
    pub upload_locks: tus::UploadLocks,
    /// The PWA, served at `/`.
    pub www: PathBuf,
    pub config: Config,
    /// Held while deciding that a blob is unreferenced and deleting it, and while an upload
    /// records its content and moves it into place: the two never interleave for one blob.
    pub blob_gc: BlobLocks,
    /// Thumbnails decoded at once (decoding a photo takes a core and tens of MB).
    pub thumb_slots: tokio::sync::Semaphore,
    /// Blobs no thumbnail can be made of, so they do not take that slot again.
    pub undecodable: thumbs::Undecodable,
    /// Set to `true` when shutdown's grace period is over: uploads still streaming stop
    /// reading, fsync and record what they have, and answer 503.
    pub cut_uploads: tokio::sync::watch::Sender<bool>,
    /// Failed sign-ins per user name and address (`Config::max_login_failures`).
    pub login_limiter: security::LoginLimiter,
}

impl AppState {
    /// Opens (creating if needed) the data directory and its database, with default config.
    pub async fn open(data_dir: &Path, www: impl Into<PathBuf>) -> Result<Self, AppError> {
        Self::open_with(data_dir, www, Config::default()).await
    }

    /// Opens the data directory with `config`.
    pub async fn open_with(
        data_dir: &Path,
        www: impl Into<PathBuf>,
        config: Config,
    ) -> Result<Self, AppError> {
        tokio::fs::create_dir_all(data_dir).await?;
        Ok(Self {
            login_limiter: security::LoginLimiter::new(
                config.max_login_failures,
                config.login_window,
            ),
            pool: match config.database.as_deref() {
                Some(url) => db::open_postgres(url).await?,
                None => db::open(&data_dir.join("ferry.sqlite")).await?,
            },
            blobs: match config.blobs.as_deref() {
                Some(url) => {
                    let store = s3::S3Store::open(url)?;
                    store.check().await?;
                    Arc::new(store)
                }
                None => Arc::new(blobs::DiskStore::open(data_dir).await?),
            },
            upload_locks: tus::UploadLocks::default(),
            www: www.into(),
            config,
            blob_gc: BlobLocks::default(),
            thumb_slots: tokio::sync::Semaphore::new(1),
            undecodable: thumbs::Undecodable::default(),
            cut_uploads: tokio::sync::watch::Sender::new(false),
        })
    }
}

/// Deletes the blob `sha256` if no asset and no upload references it any more.
pub async fn release_blob(state: &AppState, sha256: &str) -> Result<bool, AppError> {
    let _gc = state.blob_gc.lock(sha256).await;
    let _gc_db = state.pool.lock_blob_gc(sha256).await?;
    if db::blob_is_referenced(&state.pool, sha256).await? {
        return Ok(false);
    }
    state.blobs.remove_blob(sha256).await?;
    Ok(true)
}

/// Sets glibc's allocator up for a long-running server whose resident set must level off
/// (issue 8's soak: 29 to 54 MiB over 30 minutes, still rising 0.4 MiB a minute). Call
/// it first thing in `main`, before the runtime's threads start. Elsewhere it does nothing.
///
/// - `M_ARENA_MAX` 2: glibc gives each thread that meets a locked arena one of its own, up
///   to 8 per core, and an arena keeps the high-water mark of what was allocated in it.
///   Every blocking-pool thread (each file operation, each fsync) and each SQLite
///   connection's thread may end up with its own, each holding a few MiB in the end.
/// - `M_MMAP_THRESHOLD` 256 KiB: a fixed threshold turns off glibc's sliding one, which
///   rises to the largest block freed so far (up to 32 MiB). Then a `GET /api/assets` page
///   of 1,000 items (rows, JSON) is mapped and unmapped, not left in an arena for good.
/// - `M_TRIM_THRESHOLD` 1 MiB: free memory at the top of an arena goes back to the system
///   once it is over 1 MiB (fixed, for the same reason).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; these are valid ones.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
    }
}

/// The blob collector's locks, one per group of blobs (by the first byte of the SHA-256):
/// what must not interleave is the collector and an upload of the *same* content, so
/// uploads of different content need not wait for each other's promote.
#[derive(Debug)]
pub struct BlobLocks([tokio::sync::Mutex<()>; 64]);

impl Default for BlobLocks {
    fn default() -> Self {
        Self(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }
}

impl BlobLocks {
    /// Waits for the lock of blob `sha256` (hex).
    pub async fn lock(&self, sha256: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let group = u8::from_str_radix(sha256.get(..2).unwrap_or("0"), 16).unwrap_or(0);
        self.0[usize::from(group) % self.0.len()].lock().await
    }
}

/// The whole HTTP surface: `/api/...`, `/healthz`, and the PWA for everything else.
pub fn app(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .merge(tus::routes())
        .merge(assets::routes())
        .merge(auth::routes())
        .merge(trash::routes())
        .merge(albums::routes())
        .merge(thumbs::routes())
        .route("/users/me", get(users::me))
        .fallback(|| async { AppError::NotFound });
    let router = Router::new()
        .nest("/api", api)
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(www::service(&state.www))
        .layer(axum::middleware::from_fn(www::javascript_content_type))
        .layer(axum::middleware::from_fn(limit_header_size))
        .layer(axum::middleware::from_fn(security::headers))
        // Method and path only: never headers (credentials) nor the query string.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        }));
    // Outermost, so preflights are answered before auth and error answers carry CORS too.
    let router = match cors_layer(&state.config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

/// The headers tus and RUFH clients send.
pub const CORS_ALLOW_HEADERS: &[&str] = &[
    "x-api-key",
    "authorization",
    "content-type",
    "tus-resumable",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "upload-checksum",
    "upload-concat",
    "upload-defer-length",
    "upload-complete",
    "upload-draft-interop-version",
    "repr-digest",
    "content-disposition",
    "x-http-method-override",
    "x-requested-with",
    "if-none-match",
    "range",
];

/// The response headers tus and RUFH clients read, and the asset id ferry adds.
pub const CORS_EXPOSE_HEADERS: &[&str] = &[
    "location",
    "upload-offset",
    "upload-length",
    "upload-expires",
    "tus-resumable",
    "tus-version",
    "tus-extension",
    "tus-max-size",
    "tus-checksum-algorithm",
    "upload-complete",
    "upload-limit",
    "upload-draft-interop-version",
    "ferry-asset-id",
];

fn cors_layer(origins: &[String]) -> Option<TusCorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let names = |list: &[&'static str]| -> Vec<HeaderName> {
        list.iter().map(|h| HeaderName::from_static(h)).collect()
    };
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.clone()))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(names(CORS_ALLOW_HEADERS))
        .expose_headers(names(CORS_EXPOSE_HEADERS))
        .max_age(Duration::from_secs(600));
    Some(TusCorsLayer {
        cors,
        origins: Arc::new(origins),
    })
}

/// tower-http's `Cors` answers every `OPTIONS` itself, as a preflight. But tus discovery is a
/// plain `OPTIONS /api/uploads` (no `Access-Control-Request-Method`) that must reach the
/// router; this wrapper sends only real preflights and non-OPTIONS requests through `Cors`,
/// and gives a plain OPTIONS from an allowed origin its `Access-Control-Allow-Origin`.
#[derive(Clone)]
struct TusCorsLayer {
    cors: CorsLayer,
    origins: Arc<Vec<HeaderValue>>,
}

impl<S: Clone> Layer<S> for TusCorsLayer {
    type Service = TusCors<S>;

    fn layer(&self, inner: S) -> TusCors<S> {
        TusCors {
            cors: self.cors.layer(inner.clone()),
            inner,
            origins: Arc::clone(&self.origins),
        }
    }
}

#[derive(Clone)]
struct TusCors<S> {
    cors: Cors<S>,
    inner: S,
    origins: Arc<Vec<HeaderValue>>,
}

impl<S> Service<Request> for TusCors<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both inner services are made ready in `call`, by `oneshot`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let plain_options = request.method() == Method::OPTIONS
            && !request
                .headers()
                .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if !plain_options {
            let cors = self.cors.clone();
            return Box::pin(async move {
                let response = cors.oneshot(request).await?;
                Ok(response.map(axum::body::Body::new))
            });
        }
        let origin = request
            .headers()
            .get(ORIGIN)
            .filter(|o| self.origins.contains(o))
            .cloned();
        let inner = self.inner.clone();
        Box::pin(async move {
            let mut response = inner.oneshot(request).await?;
            let headers = response.headers_mut();
            headers.append(VARY, HeaderValue::from_static("origin"));
            if let Some(origin) = origin {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                headers.insert(
                    ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_str(&CORS_EXPOSE_HEADERS.join(","))
                        .expect("header names are valid values"),
                );
            }
            Ok(response)
        })
    }
}

/// 431 for requests with more than `MAX_HEADER_BYTES` of headers. (hyper itself refuses
/// headers that do not fit its read buffer, also with 431.)
async fn limit_header_size(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return AppError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}
