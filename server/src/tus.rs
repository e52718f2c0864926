//! tus 1.0 at `/api/uploads`: core protocol plus creation, creation-with-upload,
//! termination, checksum (md5, sha1, sha256) and expiration. A completed upload becomes an
//! asset (see `complete`); an unfinished one expires after a period without writes and is
//! then deleted by `sweep_expired`.
//!
//! RUFH (`rufh.rs`) shares these routes: a request that says `Upload-Draft-Interop-Version`
//! and not `Tus-Resumable` is handed to it by each handler below.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::{unix_now, AuthUser, Credential};
use crate::sha256_state::Sha256State;
use crate::{blobs, db, media, rufh, timestamps, AppError, AppState};
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

const TUS_VERSION: &str = "1.0.0";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

pub(crate) static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub(crate) static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub(crate) static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub(crate) static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
static UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
static TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
/// What `OPTIONS` advertises in `Tus-Extension`.
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
/// What `OPTIONS` advertises in `Tus-Checksum-Algorithm`.
pub const CHECKSUM_ALGORITHMS: &str = "md5,sha1,sha256";
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

/// Every tus response says `Tus-Resumable`; every request but OPTIONS must say it too,
/// unless it is an RUFH request (`Upload-Draft-Interop-Version` and no `Tus-Resumable`).
async fn tus_version(request: Request, next: Next) -> Response {
    if rufh::is_rufh(request.headers()) && request.method() != Method::OPTIONS {
        return next.run(request).await;
    }
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

/// `OPTIONS`: tus discovery, plus what RUFH clients look for (`Accept-Patch` with
/// `application/partial-upload`, `Upload-Limit`).
async fn capabilities(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let max = state.config.max_upload_bytes;
    let mut response = (
        StatusCode::NO_CONTENT,
        [
            ("tus-version", TUS_VERSION.to_owned()),
            ("tus-extension", EXTENSIONS.to_owned()),
            ("tus-checksum-algorithm", CHECKSUM_ALGORITHMS.to_owned()),
            ("tus-max-size", max.to_string()),
            ("accept-patch", rufh::PARTIAL_UPLOAD.to_owned()),
            ("upload-limit", format!("max-size={max}")),
        ],
    )
        .into_response();
    if let Ok(Some(version)) = rufh::version(&headers) {
        rufh::echo_version(&mut response, version);
    }
    response
}

/// `POST /api/uploads`
async fn create(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    credential: Credential,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    if let Some(version) = rufh::request_version(&headers)? {
        return Ok(rufh::create(&state, &user, &credential, version, &headers, body).await);
    }
    if headers.contains_key("upload-defer-length") {
        return Err(AppError::bad_request(
            "Upload-Defer-Length is not supported",
        ));
    }
    let length = number_header(&headers, &UPLOAD_LENGTH)?
        .ok_or_else(|| AppError::bad_request("Upload-Length is required"))?;
    let max = state.config.max_upload_bytes;
    if length > max {
        return Err(AppError::TooLarge(format!(
            "Upload-Length {length} is over this server's maximum of {max} bytes (Tus-Max-Size)"
        )));
    }
    let mut upload = metadata_to_upload(headers.get(&UPLOAD_METADATA))?;
    upload.id = new_upload_id();
    upload.user_id = user.id.clone();
    upload.upload_length = to_db(length)?;
    upload.expires_at = Some(next_expiry(&state));

    let declared = upload.declared_checksum.as_deref();
    let remaining = check_quota(&state, &user, upload.upload_length, declared, false).await?;

    insert_new_upload(&state, &mut upload).await?;
    let _lock = state
        .upload_locks
        .try_lock(&upload.id)
        .expect("a new upload is not locked");

    if is_offset_octet_stream(&headers) {
        let written = write_chunk(&state, &upload, &headers, body).await?;
        upload.upload_offset = written.offset;
        upload.expires_at = Some(written.expires_at);
    }
    let asset_id = if upload.upload_offset == upload.upload_length {
        let by = Finisher {
            credential: &credential,
            on_append: false,
        };
        Some(complete(&state, &upload, by).await?)
    } else {
        None
    };

    let mut response = upload_headers(StatusCode::CREATED, &upload, asset_id.as_deref());
    response.headers_mut().insert(
        LOCATION,
        header_value(&format!("/api/uploads/{}", upload.id)),
    );
    let max_size = remaining.map_or(max, |r| r.min(max));
    response
        .headers_mut()
        .insert(TUS_MAX_SIZE.clone(), max_size.into());
    Ok(response)
}

/// `HEAD /api/uploads/{id}`
async fn status(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(version) = rufh::request_version(&headers)? {
        return Ok(rufh::status(&state, &user, version, &id).await);
    }
    let upload = find_upload(&state, &id, &user).await?;
    let mut response = upload_headers(StatusCode::OK, &upload, upload.asset_id.as_deref());
    if upload.length_deferred {
        response.headers_mut().insert(
            HeaderName::from_static("upload-defer-length"),
            HeaderValue::from_static("1"),
        );
    } else {
        response
            .headers_mut()
            .insert(UPLOAD_LENGTH.clone(), upload.upload_length.into());
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `PATCH /api/uploads/{id}`
async fn append(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    credential: Credential,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    if let Some(version) = rufh::request_version(&headers)? {
        return Ok(rufh::append(&state, &user, &credential, version, &id, &headers, body).await);
    }
    if find_upload(&state, &id, &user).await?.length_deferred {
        return Err(AppError::Conflict(
            "this upload was started with RUFH and its length is not known yet; \
             continue it with RUFH (Upload-Draft-Interop-Version)"
                .into(),
        ));
    }
    if !is_offset_octet_stream(&headers) {
        return Err(AppError::UnsupportedMediaType);
    }
    let client_offset = number_header(&headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| AppError::bad_request("Upload-Offset is required"))?;
    let _lock = lock_upload(&state, &id).await?.ok_or(AppError::Locked)?;
    // Read again under the lock: the offset may have moved while we waited for it.
    let mut upload = find_upload(&state, &id, &user).await?;
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
        // Another upload may have completed since this one was created.
        let declared = upload.declared_checksum.as_deref();
        check_quota(&state, &user, upload.upload_length, declared, true).await?;
        let expires_at = next_expiry(&state);
        db::set_upload_expiry(&state.pool, &upload.id, expires_at).await?;
        upload.expires_at = Some(expires_at);
        let written = write_chunk(&state, &upload, &headers, body).await?;
        upload.upload_offset = written.offset;
        upload.expires_at = Some(written.expires_at);
    } else if number_header(&headers, &CONTENT_LENGTH)?.unwrap_or(0) > 0 {
        return Err(too_large(0));
    }
    // All bytes are here (possibly since before a crash, or a sign-in): complete, which is
    // idempotent.
    let asset_id = if upload.upload_offset == upload.upload_length {
        let by = Finisher {
            credential: &credential,
            on_append: true,
        };
        Some(complete(&state, &upload, by).await?)
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
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let version = rufh::request_version(&headers)?;
    let result = cancel(&state, &user, &id).await;
    Ok(match version {
        Some(version) => rufh::reply(&state, version, result.map_err(Into::into)),
        None => result?,
    })
}

/// Deletes an upload's partial file and row (tus termination, RUFH cancellation).
pub(crate) async fn cancel(
    state: &AppState,
    user: &db::User,
    id: &str,
) -> Result<Response, AppError> {
    find_upload(state, id, user).await?;
    let _lock = lock_upload(state, id).await?.ok_or(AppError::Locked)?;
    // Read again under the lock, for the store's latest state.
    let upload = find_upload(state, id, user).await?;
    state.blobs.discard_partial(&upload).await?;
    db::delete_upload(&state.pool, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The user's upload `id`; 404 if it is not theirs, 410 if it expired unfinished.
pub(crate) async fn find_upload(
    state: &AppState,
    id: &str,
    user: &db::User,
) -> Result<db::Upload, AppError> {
    // Ids are server-made hex; anything else is unknown (and never reaches a file path).
    if !is_upload_id(id) {
        return Err(AppError::NotFound);
    }
    let upload = db::upload_for_user(&state.pool, id, &user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    if upload.asset_id.is_none() && upload.expires_at.is_some_and(|t| t <= unix_now()) {
        return Err(AppError::Gone);
    }
    Ok(upload)
}

pub(crate) fn next_expiry(state: &AppState) -> i64 {
    let secs = i64::try_from(state.config.upload_expiry.as_secs()).unwrap_or(i64::MAX);
    unix_now().saturating_add(secs)
}

/// Makes the partial file and the row of a new resumable upload, unless its user already
/// has `Config::max_open_uploads` unfinished uploads: then 429 `too-many-open-uploads`, and
/// nothing is kept.
pub(crate) async fn insert_new_upload(
    state: &AppState,
    upload: &mut db::Upload,
) -> Result<(), AppError> {
    let limit = state.config.max_open_uploads;
    if !db::insert_upload_within(&state.pool, upload, limit, unix_now()).await? {
        return Err(AppError::TooManyOpenUploads { limit });
    }
    let max_length = max_length(state, upload);
    create_partial_of_row(state, upload, max_length).await
}

/// Makes room in the store for the upload whose row was just inserted, and records the
/// store's state in that row; if the store fails, the row is deleted again.
///
/// The row comes first: a crash (SIGKILL) between the two leaves a row without bytes,
/// which the expiry sweep deletes with whatever the store holds for it. The other order
/// left a partial file that no row names, which nothing ever deleted.
pub(crate) async fn create_partial_of_row(
    state: &AppState,
    upload: &mut db::Upload,
    max_length: u64,
) -> Result<(), AppError> {
    let created = match state.blobs.create_partial(&upload.id, max_length).await {
        Ok(created) => created,
        Err(e) => {
            // Whatever it made before failing goes with the row.
            let _ = state.blobs.discard_partial(upload).await;
            db::delete_upload(&state.pool, &upload.id).await?;
            return Err(e.into());
        }
    };
    if let Some(store_state) = created {
        upload.store_state = Some(store_state);
        let progress = blobs::Progress {
            state: upload.store_state.clone(),
            ..Default::default()
        };
        db::set_upload_progress(
            &state.pool,
            &upload.id,
            upload.upload_offset,
            None,
            &progress,
            None,
            None,
        )
        .await?;
    }
    Ok(())
}

/// The most bytes `upload` can hold: its length, or while that is deferred the largest
/// upload allowed.
fn max_length(state: &AppState, upload: &db::Upload) -> u64 {
    if upload.length_deferred {
        state.config.max_upload_bytes
    } else {
        upload.upload_length as u64
    }
}

/// Checks that an upload of `length` bytes fits the user's quota next to their library,
/// before its bytes arrive: a refusal that saves the client sending them. (What holds the
/// quota is the check as the asset is recorded, `db::complete_upload`: uploads in parallel
/// all pass this one.) Content the client declared (`declared`, SHA-256 hex) that the user
/// already has costs nothing, but only up to that content's size: a declaration is a
/// claim, checked only when the bytes are in, and a false one must not let an upload past
/// the quota stream the server's whole maximum. Returns the bytes the upload may take
/// (`None`: no limit). Over quota: 413 at creation, 507 on append.
pub(crate) async fn check_quota(
    state: &AppState,
    user: &db::User,
    length: i64,
    declared: Option<&str>,
    on_append: bool,
) -> Result<Option<u64>, AppError> {
    let Some(quota) = user.quota_size_in_bytes else {
        return Ok(None);
    };
    if let Some(declared) = declared {
        let own = db::own_content_size(&state.pool, &user.id, declared).await?;
        if let Some(size) = own.filter(|&size| length <= size) {
            return Ok(Some(size.max(0) as u64));
        }
    }
    let usage = db::quota_usage(&state.pool, &user.id).await?;
    if usage.saturating_add(length) > quota {
        return Err(quota_exceeded(length, quota, usage, on_append));
    }
    Ok(Some((quota - usage).max(0) as u64))
}

/// The one refusal for going over quota, before the bytes or as they complete.
fn quota_exceeded(length: i64, quota: i64, usage: i64, on_append: bool) -> AppError {
    AppError::QuotaExceeded {
        message: format!(
            "{length} bytes do not fit the quota of {quota} bytes ({usage} bytes used)"
        ),
        quota_size_in_bytes: quota,
        quota_usage_in_bytes: usage,
        on_append,
    }
}

/// Deletes expired uploads (their partial files, their rows, and blobs left behind by a
/// completion that never finished), and expired session tokens. Uploads being written to
/// are skipped. Returns how many uploads were deleted.
pub async fn sweep_expired(state: &AppState) -> Result<usize, AppError> {
    let now = unix_now();
    db::delete_expired_sessions(&state.pool, now).await?;
    let mut deleted = 0;
    for (id, content_sha256) in db::expired_uploads(&state.pool, now).await? {
        // The lock is also the claim between instances: one of them deletes each upload.
        let Some(_lock) = lock_upload(state, &id).await? else {
            continue;
        };
        // Re-check under the lock: a write may have just moved the expiry forward.
        let still_expired = db::expired_uploads(&state.pool, now)
            .await?
            .iter()
            .any(|(i, _)| *i == id);
        if !still_expired {
            continue;
        }
        if let Some(upload) = db::upload_by_id(&state.pool, &id).await? {
            state.blobs.discard_partial(&upload).await?;
        }
        db::delete_upload(&state.pool, &id).await?;
        if let Some(sha256) = content_sha256 {
            crate::release_blob(state, &sha256).await?;
        }
        deleted += 1;
    }
    Ok(deleted)
}

/// Runs `sweep_expired` and `trash::sweep_trash` now and then every `every`, forever.
pub async fn sweep_forever(state: Arc<AppState>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match sweep_expired(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "deleted expired uploads"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        match crate::trash::sweep_trash(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(assets = n, "purged assets from the trash"),
            Err(e) => tracing::warn!(error = %e, "trash sweep failed"),
        }
    }
}

/// What a write left: the upload's new offset, and its new expiry.
pub(crate) struct Written {
    pub offset: i64,
    pub expires_at: i64,
}

/// Streams the request body to the partial file at the upload's current offset, verifies
/// `Upload-Checksum` if present, fsyncs, records the new offset, and returns it with the
/// upload's expiry, which counts from the end of the write.
pub(crate) async fn write_chunk(
    state: &AppState,
    upload: &db::Upload,
    headers: &HeaderMap,
    body: Body,
) -> Result<Written, AppError> {
    let mut checksum = chunk_checksum(headers)?;
    let start = upload.upload_offset as u64;
    let room = (upload.upload_length - upload.upload_offset) as u64;
    if number_header(headers, &CONTENT_LENGTH)?.is_some_and(|n| n > room) {
        return Err(too_large(room));
    }

    // The SHA-256 of the bytes so far, continued chunk by chunk; unknown for rows written
    // without it (then completion reads the bytes instead).
    let mut sha256 = match upload.sha256_state.as_deref() {
        Some(saved) => Sha256State::load(saved).filter(|s| s.len() == start),
        None => (start == 0).then(Sha256State::new),
    };
    let mut writer = state.blobs.open_writer(upload).await?;
    let mut written: u64 = 0;
    let mut body = body;
    let mut cut = state.cut_uploads.subscribe();
    let mut outcome: Result<(), AppError> = loop {
        let frame = tokio::select! {
            biased;
            frame = body.frame() => frame,
            // Shutdown ran out of grace: keep what arrived, acknowledge it, answer 503.
            Ok(_) = cut.wait_for(|cut| *cut) => break Err(AppError::ShuttingDown),
        };
        match frame {
            None => break Ok(()),
            Some(Err(e)) => {
                // Almost always a client or proxy that went away mid-body, which never
                // reads this 400. Logged so that one a client did read can be traced.
                tracing::info!(upload = %upload.id, written, error = %e, "request body broke off");
                break Err(AppError::bad_request(format!("request body: {e}")));
            }
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
                let len = data.len() as u64;
                if let Some(sha256) = sha256.as_mut() {
                    sha256.update(&data);
                }
                if let Err(e) = writer.write(data).await {
                    break Err(e.into());
                }
                written += len;
            }
        }
    };

    // Keep what arrived before a dropped connection (the client resumes from it), unless
    // the chunk had to be verified, overshot the declared length, or could not be stored.
    let mut keep = match (&outcome, checksum) {
        (Err(AppError::TooLarge(_) | AppError::StorageFull | AppError::Io(_)), _) => false,
        (Err(_), Some(_)) => false,
        (Err(_), None) => true,
        (Ok(()), Some((hasher, expected))) => hasher.matches(&expected),
        (Ok(()), None) => true,
    };
    let mut progress = blobs::Progress::default();
    if keep && written > 0 {
        // Durable in the store before the offset moves. A full disk may only show here
        // (delayed allocation): then nothing is kept either.
        match writer.commit().await {
            Ok(p) => progress = p,
            Err(e) => {
                outcome = Err(e.into());
                keep = false;
            }
        }
    }
    if !keep {
        // Back to the acknowledged offset; the chunk leaves no trace.
        writer.rollback().await?;
        written = 0;
    }
    drop(writer);

    let offset = upload.upload_offset + written as i64;
    // An unfinished upload expires a period after its last write *ended*: counted from the
    // start, a PATCH slower than the period left its upload expiring the moment it ended.
    // Also after a failed write: the client is there, and comes back for the rest.
    let expires_at = next_expiry(state);
    let refreshed = if written > 0 {
        // The offset, the expiry and, with the last byte, the content's SHA-256 (which
        // `complete_with` would record next) in one commit: each commit is an fsync of the
        // WAL (synchronous = FULL), and a small upload made in one request paid three in a
        // row here. Recording the content before its blob is in place only references it
        // sooner; `release_blob` keeps a referenced blob, and the expiry sweep releases it
        // with the row if the upload never completes.
        let last = !upload.length_deferred && offset == upload.upload_length;
        let content = sha256
            .as_ref()
            .filter(|_| last)
            .map(Sha256State::finalize_hex);
        let saved = sha256.map(|s| s.save());
        db::set_upload_progress(
            &state.pool,
            &upload.id,
            offset,
            saved.as_deref(),
            &progress,
            Some(expires_at),
            content.as_deref(),
        )
        .await?;
        if let Err(e) = state.blobs.forget(progress.stale).await {
            // Only space: the catalog no longer names these objects.
            tracing::warn!(error = %e, "cannot delete an old upload tail");
        }
        Ok(())
    } else {
        db::set_upload_expiry(&state.pool, &upload.id, expires_at).await
    };
    match outcome {
        Err(e) => Err(e),
        Ok(()) if !keep => Err(AppError::ChunkChecksumMismatch),
        Ok(()) => {
            refreshed?;
            Ok(Written { offset, expires_at })
        }
    }
}

/// The request that finishes an upload, as its completion needs it: the credential it
/// came with, checked again as the asset is recorded, and whether it appends (a refusal
/// for quota is then 507, as on any append; at creation it is 413).
#[derive(Clone, Copy)]
pub(crate) struct Finisher<'a> {
    pub credential: &'a Credential,
    pub on_append: bool,
}

/// Turns a fully received upload into an asset of its user: hash what was stored, check it
/// against the checksum the client declared, move it into the blob store, then (only
/// then) record the asset. Returns the asset id. Safe to retry after a crash midway.
async fn complete(
    state: &AppState,
    upload: &db::Upload,
    by: Finisher<'_>,
) -> Result<String, AppError> {
    Ok(complete_with(state, upload, None, by).await?.0)
}

/// `complete`, for a caller that may already know the SHA-256 of the partial file.
/// Also returns whether the asset is new (`false`: the user already had these bytes).
///
/// If the request's key or session no longer signs the user in, nothing is recorded and
/// the answer is 401; the bytes stay, so the client signs in again and finishes with an
/// empty append at the end. If the asset does not fit the quota, the upload and its bytes
/// are deleted and the answer is the quota refusal.
pub(crate) async fn complete_with(
    state: &AppState,
    upload: &db::Upload,
    known_sha256: Option<String>,
    by: Finisher<'_>,
) -> Result<(String, bool), AppError> {
    // Read from the catalog, not `upload`: the caller's copy predates the last chunk.
    let stored = db::upload_by_id(&state.pool, &upload.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let parts = db::upload_parts(&state.pool, &upload.id).await?;
    let partial_exists = state.blobs.partial_exists(&stored).await?;
    let sha256 = if let (true, Some(sha256)) = (partial_exists, known_sha256) {
        sha256
    } else if partial_exists {
        match stored
            .sha256_state
            .as_deref()
            .and_then(Sha256State::load)
            .filter(|s| s.len() == upload.upload_length as u64)
        {
            Some(sha256) => sha256.finalize_hex(),
            None => state.blobs.hash_partial(&stored, &parts).await?,
        }
    } else if let Some(sha256) = stored.content_sha256.clone() {
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
            state.blobs.discard_partial(&stored).await?;
            db::delete_upload(&state.pool, &upload.id).await?;
            return Err(AppError::ChecksumMismatch(format!(
                "the file's SHA-256 is {sha256}, not the declared {declared}; nothing was stored"
            )));
        }
    }

    {
        // Only this content's collector is kept out: completions of other content promote
        // side by side (one lock for all made every upload wait for every other's promote,
        // a directory fsync each).
        let _gc = state.blob_gc.lock(&sha256).await;
        let _gc_db = state.pool.lock_blob_gc(&sha256).await?;
        // Usually recorded already, with the last chunk (`write_chunk`).
        if stored.content_sha256.as_deref() != Some(sha256.as_str()) {
            db::set_upload_content_sha256(&state.pool, &upload.id, &sha256).await?;
        }
        state.blobs.promote(&stored, &parts, &sha256).await?;
    }
    let blobs = Arc::clone(&state.blobs);
    let blob = sha256.clone();
    let upload_filetype = upload.filetype.clone();
    let upload_filename = upload.filename.clone();
    let wants_file_meta = upload.file_created_at.is_none() || upload.duration_ms.is_none();
    let (mime_type, meta) = tokio::task::spawn_blocking(move || {
        let sniffed = blobs
            .open_blob_blocking(&blob)
            .and_then(|mut r| media::read_head(&mut r))
            .ok()
            .and_then(|h| media::sniff_mime(&h));
        let mime_type = mime_type_of(upload_filetype, upload_filename, sniffed);
        let meta = match blobs.open_blob_blocking(&blob) {
            Ok(mut reader) if wants_file_meta => media::read_meta(&mut reader, &mime_type),
            _ => db::MediaMeta::default(),
        };
        (mime_type, meta)
    })
    .await
    .map_err(std::io::Error::other)?;
    let completion = db::complete_upload(
        &state.pool,
        upload,
        &sha256,
        &mime_type,
        &meta,
        by.credential.sha256(),
        unix_now(),
    )
    .await?;
    match completion {
        db::Completion::Recorded { asset_id, new } => Ok((asset_id, new)),
        db::Completion::SignedOut => {
            // Kept while the upload's row names the content, for the retry after a new
            // sign-in; deleted if the row went with a removed user.
            crate::release_blob(state, &sha256).await?;
            Err(AppError::Unauthorized)
        }
        db::Completion::OverQuota { quota, usage } => {
            db::delete_upload(&state.pool, &upload.id).await?;
            crate::release_blob(state, &sha256).await?;
            Err(quota_exceeded(
                upload.upload_length,
                quota,
                usage,
                by.on_append,
            ))
        }
    }
}

/// The client's `filetype` if it is a real media type, else what the bytes are, else a
/// guess from the file name.
fn mime_type_of(
    filetype: Option<String>,
    filename: Option<String>,
    sniffed: Option<&str>,
) -> String {
    let generic = |t: &str| t.is_empty() || t == "application/octet-stream";
    if let Some(t) = filetype.filter(|t| !generic(t) && t.parse::<mime_guess::Mime>().is_ok()) {
        return t;
    }
    if let Some(t) = sniffed {
        return t.to_owned();
    }
    mime_guess::from_path(filename.unwrap_or_default())
        .first_or_octet_stream()
        .to_string()
}

pub(crate) fn upload_headers(
    status: StatusCode,
    upload: &db::Upload,
    asset_id: Option<&str>,
) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(UPLOAD_OFFSET.clone(), upload.upload_offset.into());
    if let Some(asset_id) = asset_id {
        headers.insert(FERRY_ASSET_ID.clone(), header_value(asset_id));
    } else if let Some(expires) = upload.expires_at.and_then(http_date) {
        headers.insert(UPLOAD_EXPIRES.clone(), header_value(&expires));
    }
    response
}

/// RFC 7231 IMF-fixdate, e.g. `Wed, 25 Jun 2025 12:00:00 GMT`.
pub fn http_date(unix_seconds: i64) -> Option<String> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()?
        .format(&format)
        .ok()
}

fn too_large(room: u64) -> AppError {
    AppError::TooLarge(format!(
        "the chunk goes past Upload-Length: only {room} more bytes are expected"
    ))
}

/// Parses `Upload-Metadata` (`key base64value,key2,...`) into the fields ferry knows.
/// Unknown keys are ignored, as tus allows.
pub(crate) fn metadata_to_upload(header: Option<&HeaderValue>) -> Result<db::Upload, AppError> {
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
        let Some(v) = text(key)? else {
            return Ok(None);
        };
        match timestamps::parse_client(&v) {
            Some(time) => Ok(Some(time)),
            // Unix milliseconds outside the years 0 to 9999 (a clock or a file system gone
            // wrong; browsers pass `lastModified` on as it is) are dropped, as if absent:
            // the asset gets the file's own date, and the photo is still backed up.
            None if v.trim().parse::<i64>().is_ok() => Ok(None),
            None => Err(AppError::bad_request(format!(
                "Upload-Metadata {key}: expected RFC 3339 or unix milliseconds"
            ))),
        }
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
    upload.live_photo_video_id = text("livePhotoVideoId")?;
    upload.album = text("album")?
        .map(|a| crate::albums::validate_name(&a))
        .transpose()?;
    upload.is_favorite = text("isFavorite")?
        .map(|v| {
            parse_bool(&v).ok_or_else(|| {
                AppError::bad_request("Upload-Metadata isFavorite: expected true or false")
            })
        })
        .transpose()?
        .unwrap_or(false);
    upload.duration_ms = text("duration")?
        .map(|v| {
            media::parse_duration(&v).ok_or_else(|| {
                AppError::bad_request("Upload-Metadata duration: expected H:MM:SS.fff or seconds")
            })
        })
        .transpose()?;
    Ok(upload)
}

/// `true`/`false` (also `1`/`0`), as clients send booleans in metadata and forms.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Lowercase SHA-256 hex, or `None` if `s` is not 64 hex digits.
pub fn parse_sha256_hex(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

pub(crate) enum ChunkHasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChunkHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Md5(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    fn matches(self, expected: &[u8]) -> bool {
        match self {
            Self::Md5(h) => h.finalize().as_slice() == expected,
            Self::Sha1(h) => h.finalize().as_slice() == expected,
            Self::Sha256(h) => h.finalize().as_slice() == expected,
        }
    }
}

/// `Upload-Checksum: <algorithm> <base64 digest>`
pub(crate) fn chunk_checksum(
    headers: &HeaderMap,
) -> Result<Option<(ChunkHasher, Vec<u8>)>, AppError> {
    let Some(value) = headers.get(&UPLOAD_CHECKSUM) else {
        return Ok(None);
    };
    let bad =
        || AppError::bad_request("Upload-Checksum must be `<md5|sha1|sha256> <base64 digest>`");
    let (algorithm, digest) = value
        .to_str()
        .map_err(|_| bad())?
        .trim()
        .split_once(' ')
        .ok_or_else(bad)?;
    let digest = STANDARD.decode(digest.trim()).map_err(|_| bad())?;
    let hasher = match algorithm.to_ascii_lowercase().as_str() {
        "md5" => ChunkHasher::Md5(md5::Md5::new()),
        "sha1" => ChunkHasher::Sha1(sha1::Sha1::new()),
        "sha256" => ChunkHasher::Sha256(sha2::Sha256::new()),
        other => {
            return Err(AppError::bad_request(format!(
                "unsupported checksum algorithm {other:?}; use md5, sha1 or sha256"
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

/// A non-negative integer header: digits only (no sign), at most `i64::MAX`, else 400.
pub(crate) fn number_header(
    headers: &HeaderMap,
    name: &HeaderName,
) -> Result<Option<u64>, AppError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<i64>().ok())
                .map(|n| n as u64)
                .ok_or_else(|| {
                    AppError::bad_request(format!(
                        "{name} must be a non-negative integer of at most {}",
                        i64::MAX
                    ))
                })
        })
        .transpose()
}

fn to_db(n: u64) -> Result<i64, AppError> {
    i64::try_from(n).map_err(|_| AppError::bad_request("Upload-Length is too large"))
}

pub(crate) fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("server-made ids are valid header values")
}

/// 128 random bits, hex.
pub(crate) fn new_upload_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Held by the one request writing to an upload: this instance's lock, and on PostgreSQL
/// the upload's advisory lock, which keeps out the other instances.
pub(crate) struct WriteLock {
    _local: UploadLock,
    _row: db::DbLock,
}

/// `None`: someone (here or on another instance) is writing to the upload; answer 423.
pub(crate) async fn lock_upload(state: &AppState, id: &str) -> Result<Option<WriteLock>, AppError> {
    let Some(local) = state.upload_locks.try_lock(id) else {
        return Ok(None);
    };
    let Some(row) = state.pool.try_lock_upload(id).await? else {
        return Ok(None);
    };
    Ok(Some(WriteLock {
        _local: local,
        _row: row,
    }))
}

/// Uploads being written to. A second writer does not wait: it gets 423 and retries,
/// so two PATCHes never interleave their bytes.
#[derive(Debug, Default)]
pub struct UploadLocks(Arc<Mutex<HashSet<String>>>);

impl UploadLocks {
    /// How many uploads are being written to now: one entry per request in flight, each
    /// removed when its request ends, however it ends (a long run must not grow this).
    pub fn held(&self) -> usize {
        self.0.lock().map_or(0, |held| held.len())
    }

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
