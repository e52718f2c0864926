//! The in-process server the handler tests drive, shared by `api.rs`, `completion.rs`,
//! `library.rs`, `memory.rs`, `rufh.rs` and `security.rs` (each adds its own helpers in an
//! `impl Server` of its own), and the request and answer helpers they have in common
//! (`tus`, `get`, `header_str`, `json_body`, `sha256_hex`, `sample`).
//!
//! The backend comes from the environment, so the same tests run on both:
//! - nothing set: SQLite and blobs in a temporary data directory;
//! - `FERRY_TEST_DATABASE=postgres://user@host:port/db`: each server gets a fresh database
//!   on that PostgreSQL server (created through `db`, which must exist);
//! - `FERRY_TEST_BLOBS=s3`: blobs and unfinished uploads in S3. The first server starts an
//!   `s3s-fs` (from crates.io, `cargo xtask test` installs it) on a free loopback port with
//!   a temporary directory and test credentials, shared by the test process; each server
//!   gets a fresh bucket in it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

    /// The directory that holds `blobs/`, `uploads/` and `thumbs/`: the data directory,
    /// or on S3 the bucket's directory in `s3s-fs`.
    pub fn store_dir(&self) -> PathBuf {
        match self.state.config.blobs.as_deref() {
            Some(url) => bucket_dir(url),
            None => self.dir.path().join("data"),
        }
    }

    /// Every file the store holds for unfinished uploads (on S3, the tail objects and
    /// completed multipart uploads; its parts are inside `s3s-fs`, apart from the bucket).
    pub fn upload_files(&self) -> Vec<PathBuf> {
        files_under(&self.store_dir().join("uploads"))
    }

    /// Whether the store holds any bytes of the upload `id`.
    pub fn upload_stored(&self, id: &str) -> bool {
        let path = self.store_dir().join("uploads").join(id);
        if path.is_dir() {
            !files_under(&path).is_empty()
        } else {
            path.exists()
        }
    }

    /// Appends `bytes` to the upload `id` through its store, as a PATCH would, and records
    /// the new offset only if `acknowledge` (else: a crash after the write, before the
    /// offset moved). Records no SHA-256 state, as rows from before it was kept.
    pub async fn store_bytes(&self, id: &str, bytes: &[u8], acknowledge: bool) {
        let pool = &self.state.pool;
        let upload = ferry_server::db::upload_by_id(pool, id)
            .await
            .unwrap()
            .unwrap();
        let mut writer = self.state.blobs.open_writer(&upload).await.unwrap();
        writer
            .write(axum::body::Bytes::copy_from_slice(bytes))
            .await
            .unwrap();
        let progress = writer.commit().await.unwrap();
        if acknowledge {
            let offset = upload.upload_offset + bytes.len() as i64;
            ferry_server::db::set_upload_progress(pool, id, offset, None, &progress, None, None)
                .await
                .unwrap();
        }
    }

    /// Every blob file, `blobs/<2 hex>/<sha256>`.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.store_dir().join("blobs"))
    }
}

/// Every file below `dir` (none if it is missing).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Whether the tests run with blobs in S3 (`FERRY_TEST_BLOBS=s3`).
pub fn on_s3() -> bool {
    std::env::var("FERRY_TEST_BLOBS").is_ok_and(|v| v == "s3")
}

/// The test S3 server: `s3s-fs` on loopback, stopped when the test process ends.
pub struct TestS3 {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// Its root: each bucket is a directory in it.
    pub root: PathBuf,
    _dir: tempfile::TempDir,
    _child: Mutex<Child>,
}

/// The test credentials, also set in this process's environment for `object_store`.
pub const S3_ACCESS_KEY: &str = "ferry-test";
pub const S3_SECRET_KEY: &str = "ferry-test-secret";

/// The process's `s3s-fs`, started on first use.
pub fn test_s3() -> &'static TestS3 {
    static S3: OnceLock<TestS3> = OnceLock::new();
    S3.get_or_init(|| {
        // Before any thread of ours reads the environment for S3.
        std::env::set_var("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY);
        std::env::set_var("AWS_REGION", "us-east-1");
        let dir = tempfile::Builder::new()
            .prefix("ferry-s3-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The shell stops s3s-fs when its stdin closes, that is when this process ends,
        // however it ends (a static is never dropped).
        let child = Command::new("sh")
            .args([
                "-c",
                r#"s3s-fs "$@" & pid=$!; read _ignored; kill $pid; wait $pid"#,
                "sh",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                S3_ACCESS_KEY,
                "--secret-key",
                S3_SECRET_KEY,
            ])
            .arg(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary --locked)");
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "s3s-fs did not listen on {addr}; is it installed?"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TestS3 {
            endpoint: format!("http://{addr}"),
            root,
            _dir: dir,
            _child: Mutex::new(child),
        }
    })
}

/// A new, empty bucket on the test S3 server, as a `--blobs` URL.
pub fn fresh_bucket(name: &str) -> String {
    let s3 = test_s3();
    let bucket = name.replace('_', "-").to_ascii_lowercase();
    std::fs::create_dir_all(s3.root.join(&bucket)).unwrap();
    format!("s3://{bucket}?endpoint={}", s3.endpoint)
}

/// The directory of the bucket a `--blobs` URL names.
pub fn bucket_dir(url: &str) -> PathBuf {
    let bucket = url
        .strip_prefix("s3://")
        .and_then(|r| r.split('?').next())
        .unwrap();
    test_s3().root.join(bucket)
}

/// `config` on the backend the environment names (see the module docs).
pub async fn with_test_backend(mut config: Config) -> Config {
    let id = uuid_like();
    if let Ok(url) = std::env::var("FERRY_TEST_DATABASE") {
        config.database = Some(fresh_database(&url, &format!("ferry_test_{id}")).await);
    }
    if on_s3() {
        config.blobs = Some(fresh_bucket(&format!("ferry-test-{id}")));
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

// --- Requests and answers, for the tests that share this module -------------------------

/// A tus 1.0 request of `method` to `uri` with API key `key`.
pub fn tus(method: &str, uri: &str, key: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", key)
        .header("tus-resumable", "1.0.0")
}

/// `GET uri` with API key `key`.
pub fn get(uri: &str, key: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-api-key", key)
        .body(Body::empty())
        .unwrap()
}

/// The header `name` of `response`, which must have it.
pub fn header_str(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The JSON body of `response`, which must be JSON.
pub async fn json_body(response: Response<Body>) -> serde_json::Value {
    use http_body_util::BodyExt;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)))
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// `len` bytes of a pattern that `seed` shifts: distinct content per seed.
pub fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
