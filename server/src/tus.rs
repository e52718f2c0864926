//! tus 1.0 at `/api/uploads`: core protocol plus creation, creation-with-upload,
//! termination and checksum. A completed upload becomes an asset (see `complete`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::options;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::BodyExt;
use rand::RngCore;
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use crate::auth::AuthUser;
use crate::{db, timestamps, AppError, AppState};

const TUS_VERSION: &str = "1.0.0";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
/// Set when an upload has completed into an asset: the asset's id.
pub static FERRY_ASSET_ID: HeaderName = HeaderName::from_static("ferry-asset-id");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/uploads", options(capabilities).post(create))
        .route(
            "/uploads/{id}",
            options(capabilities)
                .head(status)
                .patch(append)
                .delete(terminate),
        )
        .layer(middleware::from_fn(tus_version))
        // Chunks are streamed to disk, never buffered, so no body limit applies here.
        .layer(DefaultBodyLimit::disable())
}

/// Every tus response says `Tus-Resumable`; every request but OPTIONS must say it too.
async fn tus_version(request: Request, next: Next) -> Response {
    let supported = request.method() == Method::OPTIONS
        || request
            .headers()
            .get(&TUS_RESUMABLE)
            .map(HeaderValue::as_bytes)
            == Some(TUS_VERSION.as_bytes());
    let mut response = if supported {
        next.run(request).await
    } else {
        let mut response = AppError::TusVersion.into_response();
        response
            .headers_mut()
            .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
        response
    };
    response
        .headers_mut()
        .insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
    response
}

async fn capabilities() -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [
            ("tus-version", TUS_VERSION),
            (
                "tus-extension",
                "creation,creation-with-upload,termination,checksum",
            ),
            ("tus-checksum-algorithm", "sha1,sha256"),
        ],
    )
}

/// `POST /api/uploads`
async fn create(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    if headers.contains_key("upload-defer-length") {
        return Err(AppError::bad_request(
            "Upload-Defer-Length is not supported",
        ));
    }
    let length = number_header(&headers, &UPLOAD_LENGTH)?
        .ok_or_else(|| AppError::bad_request("Upload-Length is required"))?;
    let mut upload = metadata_to_upload(headers.get(&UPLOAD_METADATA))?;
    upload.id = new_upload_id();
    upload.user_id = user.id.clone();
    upload.upload_length = to_db(length)?;

    if let Some(quota) = user.quota_size_in_bytes {
        let usage = db::quota_usage(&state.pool, &user.id).await?;
        if usage.saturating_add(upload.upload_length) > quota {
            return Err(AppError::QuotaExceeded(format!(
                "{length} bytes do not fit: {usage} of {quota} bytes used"
            )));
        }
    }

    state.blobs.create_partial(&upload.id).await?;
    db::insert_upload(&state.pool, &upload).await?;
    let _lock = state
        .upload_locks
        .try_lock(&upload.id)
        .expect("a new upload is not locked");

    if is_offset_octet_stream(&headers) {
        upload.upload_offset = write_chunk(&state, &upload, &headers, body).await?;
    }
    let asset_id = if upload.upload_offset == upload.upload_length {
        Some(complete(&state, &upload).await?)
    } else {
        None
    };

    let mut response = upload_headers(StatusCode::CREATED, &upload, asset_id.as_deref());
    response.headers_mut().insert(
        LOCATION,
        header_value(&format!("/api/uploads/{}", upload.id)),
    );
    Ok(response)
}

/// `HEAD /api/uploads/{id}`
async fn status(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let upload = find_upload(&state, &id, &user).await?;
    let mut response = upload_headers(StatusCode::OK, &upload, upload.asset_id.as_deref());
    response
        .headers_mut()
        .insert(UPLOAD_LENGTH.clone(), upload.upload_length.into());
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `PATCH /api/uploads/{id}`
async fn append(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    find_upload(&state, &id, &user).await?;
    if !is_offset_octet_stream(&headers) {
        return Err(AppError::UnsupportedMediaType);
    }
    let _lock = state.upload_locks.try_lock(&id).ok_or(AppError::Locked)?;
    // Read again under the lock: the offset may have moved while we waited for it.
    let mut upload = find_upload(&state, &id, &user).await?;
    let client_offset = number_header(&headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| AppError::bad_request("Upload-Offset is required"))?;
    if client_offset != upload.upload_offset as u64 {
        return Err(AppError::OffsetMismatch {
            client: client_offset,
            server: upload.upload_offset as u64,
        });
    }

    if let Some(asset_id) = upload.asset_id.clone() {
        if number_header(&headers, &CONTENT_LENGTH)?.unwrap_or(0) > 0 {
            return Err(AppError::TooLarge("the upload is already complete".into()));
        }
        return Ok(upload_headers(
            StatusCode::NO_CONTENT,
            &upload,
            Some(&asset_id),
        ));
    }

    if upload.upload_offset < upload.upload_length {
        upload.upload_offset = write_chunk(&state, &upload, &headers, body).await?;
    } else if number_header(&headers, &CONTENT_LENGTH)?.unwrap_or(0) > 0 {
        return Err(too_large(0));
    }
    // All bytes are here (possibly since before a crash): complete, which is idempotent.
    let asset_id = if upload.upload_offset == upload.upload_length {
        Some(complete(&state, &upload).await?)
    } else {
        None
    };
    Ok(upload_headers(
        StatusCode::NO_CONTENT,
        &upload,
        asset_id.as_deref(),
    ))
}

/// `DELETE /api/uploads/{id}` (termination). The asset of a completed upload stays.
async fn terminate(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    find_upload(&state, &id, &user).await?;
    let _lock = state.upload_locks.try_lock(&id).ok_or(AppError::Locked)?;
    state.blobs.discard_partial(&id).await?;
    db::delete_upload(&state.pool, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn find_upload(state: &AppState, id: &str, user: &db::User) -> Result<db::Upload, AppError> {
    // Ids are server-made hex; anything else is unknown (and never reaches a file path).
    if !is_upload_id(id) {
        return Err(AppError::NotFound);
    }
    db::upload_for_user(&state.pool, id, &user.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Streams the request body to the partial file at the upload's current offset, verifies
/// `Upload-Checksum` if present, fsyncs, records the new offset, and returns it.
async fn write_chunk(
    state: &AppState,
    upload: &db::Upload,
    headers: &HeaderMap,
    body: Body,
) -> Result<i64, AppError> {
    let mut checksum = chunk_checksum(headers)?;
    let start = upload.upload_offset as u64;
    let room = (upload.upload_length - upload.upload_offset) as u64;
    if number_header(headers, &CONTENT_LENGTH)?.is_some_and(|n| n > room) {
        return Err(too_large(room));
    }

    let mut file = state.blobs.open_partial_at(&upload.id, start).await?;
    let mut written: u64 = 0;
    let mut body = body;
    let outcome: Result<(), AppError> = loop {
        match body.frame().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(AppError::bad_request(format!("request body: {e}"))),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if written + data.len() as u64 > room {
                    break Err(too_large(room));
                }
                if let Some((hasher, _)) = checksum.as_mut() {
                    hasher.update(&data);
                }
                file.write_all(&data).await?;
                written += data.len() as u64;
            }
        }
    };

    // Keep what arrived before a dropped connection (the client resumes from it), unless
    // the chunk had to be verified, or overshot the declared length.
    let keep = match (&outcome, checksum) {
        (Err(AppError::TooLarge(_)), _) => false,
        (Err(_), Some(_)) => false,
        (Err(_), None) => true,
        (Ok(()), Some((hasher, expected))) => hasher.matches(&expected),
        (Ok(()), None) => true,
    };
    file.flush().await?;
    if !keep {
        file.set_len(start).await?;
        written = 0;
    }
    file.sync_all().await?;
    drop(file);

    let offset = upload.upload_offset + written as i64;
    if written > 0 {
        db::set_upload_offset(&state.pool, &upload.id, offset).await?;
    }
    match outcome {
        Err(e) => Err(e),
        Ok(()) if !keep => Err(AppError::ChunkChecksumMismatch),
        Ok(()) => Ok(offset),
    }
}

/// Turns a fully received upload into an asset of its user: hash what was stored, check it
/// against the checksum the client declared, move it into the blob store, then (only
/// then) record the asset. Returns the asset id. Safe to retry after a crash midway.
async fn complete(state: &AppState, upload: &db::Upload) -> Result<String, AppError> {
    let sha256 = if state.blobs.partial_exists(&upload.id).await? {
        state.blobs.hash_partial(&upload.id).await?
    } else if let Some(sha256) = upload.content_sha256.clone() {
        sha256 // crashed after the blob was moved into place
    } else {
        return Err(std::io::Error::other(format!(
            "partial file of upload {} is missing",
            upload.id
        ))
        .into());
    };

    if let Some(declared) = upload.declared_checksum.as_deref() {
        if declared != sha256 {
            state.blobs.discard_partial(&upload.id).await?;
            db::delete_upload(&state.pool, &upload.id).await?;
            return Err(AppError::ChecksumMismatch(format!(
                "the file's SHA-256 is {sha256}, not the declared {declared}; nothing was stored"
            )));
        }
    }

    db::set_upload_content_sha256(&state.pool, &upload.id, &sha256).await?;
    state.blobs.promote(&upload.id, &sha256).await?;
    let mime_type = upload.filetype.clone().unwrap_or_else(|| {
        mime_guess::from_path(upload.filename.as_deref().unwrap_or_default())
            .first_or_octet_stream()
            .to_string()
    });
    Ok(db::complete_upload(&state.pool, upload, &sha256, &mime_type).await?)
}

fn upload_headers(status: StatusCode, upload: &db::Upload, asset_id: Option<&str>) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(UPLOAD_OFFSET.clone(), upload.upload_offset.into());
    if let Some(asset_id) = asset_id {
        headers.insert(FERRY_ASSET_ID.clone(), header_value(asset_id));
    }
    response
}

fn too_large(room: u64) -> AppError {
    AppError::TooLarge(format!(
        "the chunk goes past Upload-Length: only {room} more bytes are expected"
    ))
}

/// Parses `Upload-Metadata` (`key base64value,key2,...`) into the fields ferry knows.
/// Unknown keys are ignored, as tus allows.
fn metadata_to_upload(header: Option<&HeaderValue>) -> Result<db::Upload, AppError> {
    let mut upload = db::Upload::default();
    let Some(header) = header else {
        return Ok(upload);
    };
    let header = header
        .to_str()
        .map_err(|_| AppError::bad_request("Upload-Metadata must be ASCII"))?;
    let mut pairs = HashMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = STANDARD
            .decode(value.trim())
            .map_err(|_| AppError::bad_request(format!("Upload-Metadata {key}: bad base64")))?;
        pairs.insert(key.to_owned(), value);
    }
    let text = |key: &str| -> Result<Option<String>, AppError> {
        pairs
            .get(key)
            .map(|v| {
                String::from_utf8(v.clone())
                    .map_err(|_| AppError::bad_request(format!("Upload-Metadata {key}: not UTF-8")))
            })
            .transpose()
            .map(|v| v.filter(|s| !s.is_empty()))
    };
    let timestamp = |key: &str| -> Result<Option<String>, AppError> {
        text(key)?
            .map(|v| {
                timestamps::parse_client(&v).ok_or_else(|| {
                    AppError::bad_request(format!(
                        "Upload-Metadata {key}: expected RFC 3339 or unix milliseconds"
                    ))
                })
            })
            .transpose()
    };

    upload.filename = text("filename")?;
    upload.filetype = text("filetype")?;
    upload.declared_checksum = text("checksum")?
        .map(|c| {
            parse_sha256_hex(&c).ok_or_else(|| {
                AppError::bad_request("Upload-Metadata checksum: expected SHA-256 hex")
            })
        })
        .transpose()?;
    upload.file_modified_at = timestamp("fileModifiedAt")?;
    upload.file_created_at = timestamp("fileCreatedAt")?;
    upload.device_asset_id = text("deviceAssetId")?;
    upload.device_id = text("deviceId")?;
    Ok(upload)
}

/// Lowercase SHA-256 hex, or `None` if `s` is not 64 hex digits.
pub fn parse_sha256_hex(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

enum ChunkHasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChunkHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    fn matches(self, expected: &[u8]) -> bool {
        match self {
            Self::Sha1(h) => h.finalize().as_slice() == expected,
            Self::Sha256(h) => h.finalize().as_slice() == expected,
        }
    }
}

/// `Upload-Checksum: <algorithm> <base64 digest>`
fn chunk_checksum(headers: &HeaderMap) -> Result<Option<(ChunkHasher, Vec<u8>)>, AppError> {
    let Some(value) = headers.get(&UPLOAD_CHECKSUM) else {
        return Ok(None);
    };
    let bad = || AppError::bad_request("Upload-Checksum must be `<sha1|sha256> <base64 digest>`");
    let (algorithm, digest) = value
        .to_str()
        .map_err(|_| bad())?
        .trim()
        .split_once(' ')
        .ok_or_else(bad)?;
    let digest = STANDARD.decode(digest.trim()).map_err(|_| bad())?;
    let hasher = match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => ChunkHasher::Sha1(sha1::Sha1::new()),
        "sha256" => ChunkHasher::Sha256(sha2::Sha256::new()),
        other => {
            return Err(AppError::bad_request(format!(
                "unsupported checksum algorithm {other:?}; use sha1 or sha256"
            )))
        }
    };
    Ok(Some((hasher, digest)))
}

fn is_offset_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

fn number_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, AppError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    AppError::bad_request(format!("{name} must be a non-negative integer"))
                })
        })
        .transpose()
}

fn to_db(n: u64) -> Result<i64, AppError> {
    i64::try_from(n).map_err(|_| AppError::TooLarge("Upload-Length is too large".into()))
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("server-made ids are valid header values")
}

/// 128 random bits, hex.
fn new_upload_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Uploads being written to. A second writer does not wait: it gets 423 and retries,
/// so two PATCHes never interleave their bytes.
#[derive(Debug, Default)]
pub struct UploadLocks(Arc<Mutex<HashSet<String>>>);

impl UploadLocks {
    pub fn try_lock(&self, upload_id: &str) -> Option<UploadLock> {
        let mut held = self.0.lock().expect("upload lock set poisoned");
        held.insert(upload_id.to_owned()).then(|| UploadLock {
            held: Arc::clone(&self.0),
            upload_id: upload_id.to_owned(),
        })
    }
}

/// Released on drop, including when the client disconnects mid-request.
pub struct UploadLock {
    held: Arc<Mutex<HashSet<String>>>,
    upload_id: String,
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&self.upload_id);
        }
    }
}
