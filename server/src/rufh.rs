//! RUFH, the IETF "Resumable Uploads for HTTP" draft (draft-ietf-httpbis-resumable-upload),
//! at the same `/api/uploads` as tus. A request is RUFH when it says
//! `Upload-Draft-Interop-Version` and not `Tus-Resumable`. Interop versions:
//!
//! - 6 (drafts -04 and -05): `Upload-Complete`, `Upload-Limit` with `expires`; a `PATCH`
//!   may carry any `Content-Type`.
//! - 7 (drafts -06 to -08) and 8 (draft -09 on): `PATCH` must be
//!   `application/partial-upload`; `Upload-Limit` says `max-age`.
//!
//! Browsers cannot see a `104` interim response, so uploads are created carefully: `POST`
//! answers `201` with `Location`, `Upload-Offset` and `Upload-Limit`. The bytes go through
//! the same streaming, fsync, locking, quota, expiry and completion as tus (`tus.rs`); a
//! completed upload becomes an asset exactly like a tus one, named by `Ferry-Asset-Id`.
//! `Upload-Metadata` is read as in tus, so `filename`, `checksum`, `album`... work too.

use axum::body::Body;
use axum::http::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::auth::{unix_now, Credential};
use crate::tus::{self, Finisher, FERRY_ASSET_ID, TUS_RESUMABLE};
use crate::tus::{UPLOAD_LENGTH, UPLOAD_METADATA, UPLOAD_OFFSET};
use crate::{db, AppError, AppState};

/// The `Upload-Draft-Interop-Version`s this server speaks.
pub const INTEROP_VERSIONS: [u8; 3] = [6, 7, 8];
/// The media type of an append (`PATCH`) from interop version 7 on.
pub const PARTIAL_UPLOAD: &str = "application/partial-upload";
const PROBLEM_TYPES: &str = "https://iana.org/assignments/http-problem-types#";

static INTEROP_VERSION: HeaderName = HeaderName::from_static("upload-draft-interop-version");
static UPLOAD_COMPLETE: HeaderName = HeaderName::from_static("upload-complete");
static UPLOAD_LIMIT: HeaderName = HeaderName::from_static("upload-limit");
static REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");

/// An RUFH request: it names an interop version and is not a tus request.
pub fn is_rufh(headers: &HeaderMap) -> bool {
    headers.contains_key(&INTEROP_VERSION) && !headers.contains_key(&TUS_RESUMABLE)
}

/// The `Upload-Draft-Interop-Version` of a request; 400 for a version not spoken here.
pub fn version(headers: &HeaderMap) -> Result<Option<u8>, AppError> {
    let Some(value) = headers.get(&INTEROP_VERSION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u8>().ok())
        .filter(|v| INTEROP_VERSIONS.contains(v))
        .map(Some)
        .ok_or_else(|| {
            AppError::bad_request(
                "Upload-Draft-Interop-Version: this server speaks versions 6, 7 and 8",
            )
        })
}

/// The interop version of an RUFH request; `None` for tus.
pub(crate) fn request_version(headers: &HeaderMap) -> Result<Option<u8>, AppError> {
    if is_rufh(headers) {
        version(headers)
    } else {
        Ok(None)
    }
}

pub(crate) fn echo_version(response: &mut Response, version: u8) {
    response
        .headers_mut()
        .insert(INTEROP_VERSION.clone(), u16::from(version).into());
}

/// Why an RUFH request failed: a ferry error, or one of the draft's problem types.
pub(crate) enum Failure {
    App(AppError),
    /// 409 `mismatching-upload-offset`.
    MismatchingOffset {
        expected: i64,
        provided: u64,
    },
    /// 400 `completed-upload`: an empty append to an upload that is already complete.
    CompletedUpload {
        asset_id: String,
        offset: i64,
    },
    /// 400 `inconsistent-upload-length`.
    InconsistentLength(String),
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::App(e.into())
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::App(e.into())
    }
}

fn inconsistent(message: impl Into<String>) -> Failure {
    Failure::InconsistentLength(message.into())
}

/// An RFC 9457 problem, with ferry's `error` code and `message` next to `type` and `title`.
fn problem(status: StatusCode, kind: &str, title: &str, code: &str, message: &str) -> Response {
    problem_with(status, kind, title, code, message, json!({}))
}

fn problem_with(
    status: StatusCode,
    kind: &str,
    title: &str,
    code: &str,
    message: &str,
    extra: Value,
) -> Response {
    let mut body = json!({
        "type": format!("{PROBLEM_TYPES}{kind}"),
        "title": title,
        "error": code,
        "message": message,
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Turns a handler's outcome into the response, with the interop version echoed and, on
/// 413, the `Upload-Limit` the draft asks for.
pub(crate) fn reply(state: &AppState, version: u8, result: Result<Response, Failure>) -> Response {
    let mut response = match result {
        Ok(response) => response,
        Err(Failure::App(e)) => {
            let mut response = e.into_response();
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                let limit = upload_limit(version, state.config.max_upload_bytes, None);
                response.headers_mut().insert(UPLOAD_LIMIT.clone(), limit);
            }
            response
        }
        Err(Failure::MismatchingOffset { expected, provided }) => {
            let mut response = problem_with(
                StatusCode::CONFLICT,
                "mismatching-upload-offset",
                "offset from request does not match offset of resource",
                "offset-mismatch",
                &format!("Upload-Offset {provided} does not match the server offset {expected}"),
                json!({ "expected-offset": expected, "provided-offset": provided }),
            );
            response
                .headers_mut()
                .insert(UPLOAD_OFFSET.clone(), expected.into());
            response
        }
        Err(Failure::CompletedUpload { asset_id, offset }) => {
            tracing::debug!(%asset_id, offset, "append to a completed upload");
            let mut response = problem(
                StatusCode::BAD_REQUEST,
                "completed-upload",
                "upload is already completed",
                "completed-upload",
                "the upload is already complete; its asset is named in Ferry-Asset-Id",
            );
            let headers = response.headers_mut();
            headers.insert(UPLOAD_COMPLETE.clone(), HeaderValue::from_static("?1"));
            headers.insert(UPLOAD_OFFSET.clone(), offset.into());
            headers.insert(FERRY_ASSET_ID.clone(), tus::header_value(&asset_id));
            response
        }
        Err(Failure::InconsistentLength(message)) => {
            tracing::debug!(%message, "inconsistent upload length");
            problem(
                StatusCode::BAD_REQUEST,
                "inconsistent-upload-length",
                "inconsistent length values for upload",
                "inconsistent-upload-length",
                &message,
            )
        }
    };
    echo_version(&mut response, version);
    response
}

/// `Upload-Limit`: `max-size`, and the seconds left before an unfinished upload expires
/// (`expires` in interop version 6, `max-age` from 7 on).
fn upload_limit(version: u8, max_size: u64, expires_at: Option<i64>) -> HeaderValue {
    let mut limit = format!("max-size={max_size}");
    if let Some(expires_at) = expires_at {
        let key = if version >= 7 { "max-age" } else { "expires" };
        let left = expires_at.saturating_sub(unix_now()).max(0);
        limit.push_str(&format!(", {key}={left}"));
    }
    HeaderValue::from_str(&limit).expect("digits and ASCII")
}

/// The largest upload this user may make now: the server's maximum, within their quota.
async fn max_size(state: &AppState, user: &db::User) -> Result<u64, AppError> {
    let max = state.config.max_upload_bytes;
    let Some(quota) = user.quota_size_in_bytes else {
        return Ok(max);
    };
    let used = db::quota_usage(&state.pool, &user.id).await?;
    Ok((quota.saturating_sub(used).max(0) as u64).min(max))
}

/// `Upload-Complete: ?0|?1` (a structured boolean; parameters are ignored).
pub(crate) fn upload_complete(headers: &HeaderMap) -> Result<bool, AppError> {
    let value = headers
        .get(&UPLOAD_COMPLETE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    match value {
        Some("?1") => Ok(true),
        Some("?0") => Ok(false),
        _ => Err(AppError::bad_request(
            "Upload-Complete: ?0 or ?1 is required",
        )),
    }
}

/// The one length all these indications agree on; `inconsistent-upload-length` if two differ.
fn agree(indications: &[Option<u64>]) -> Result<Option<u64>, Failure> {
    let mut length = None;
    for &value in indications.iter().flatten() {
        match length {
            Some(known) if known != value => {
                return Err(inconsistent(format!(
                    "the upload's length is given as both {known} and {value}"
                )))
            }
            _ => length = Some(value),
        }
    }
    Ok(length)
}

/// `Repr-Digest` (RFC 9530): the lowercase hex of its `sha-256` member. Other algorithms
/// are ignored, as RFC 9530 allows; a malformed `sha-256` member is 400.
pub(crate) fn repr_digest(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get(&REPR_DIGEST) else {
        return Ok(None);
    };
    let bad = || AppError::bad_request("Repr-Digest must be a dictionary like sha-256=:<base64>:");
    for member in value.to_str().map_err(|_| bad())?.split(',') {
        let (key, item) = member.trim().split_once('=').ok_or_else(bad)?;
        if key.trim() != "sha-256" {
            continue;
        }
        let digest = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .and_then(|v| STANDARD.decode(v).ok())
            .filter(|d| d.len() == 32)
            .ok_or_else(bad)?;
        return Ok(Some(hex::encode(digest)));
    }
    Ok(None)
}

/// `Content-Disposition: inline; filename="name.jpg"` → `name.jpg`.
pub(crate) fn disposition_filename(value: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (key, value) = param.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .replace("\\\"", "\"");
        (!value.is_empty()).then_some(value)
    })
}

fn is_partial_upload(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|t| t.eq_ignore_ascii_case(PARTIAL_UPLOAD))
}

fn media_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// An upload that completed into an asset.
struct Completed {
    asset_id: String,
    new: bool,
    offset: i64,
}

impl Completed {
    /// Like `POST /api/assets`: `{id, duplicate}`, plus `Upload-Complete: ?1`.
    fn response(&self, status: StatusCode) -> Response {
        let body = json!({ "id": self.asset_id, "duplicate": !self.new });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(UPLOAD_COMPLETE.clone(), HeaderValue::from_static("?1"));
        headers.insert(UPLOAD_OFFSET.clone(), self.offset.into());
        headers.insert(FERRY_ASSET_ID.clone(), tus::header_value(&self.asset_id));
        response
    }
}

/// `POST /api/uploads` (upload creation).
pub(crate) async fn create(
    state: &AppState,
    user: &db::User,
    credential: &Credential,
    version: u8,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let by = Finisher {
        credential,
        on_append: false,
    };
    let result = create_upload(state, user, by, version, headers, body).await;
    reply(state, version, result)
}

async fn create_upload(
    state: &AppState,
    user: &db::User,
    by: Finisher<'_>,
    version: u8,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let complete = upload_complete(headers)?;
    let content_length = tus::number_header(headers, &CONTENT_LENGTH)?;
    let length = agree(&[
        tus::number_header(headers, &UPLOAD_LENGTH)?,
        content_length.filter(|_| complete),
    ])?;
    if let (Some(length), Some(content_length)) = (length, content_length) {
        if content_length > length {
            return Err(inconsistent(format!(
                "{content_length} bytes of content do not fit Upload-Length {length}"
            )));
        }
    }
    let max = state.config.max_upload_bytes;
    if let Some(length) = length.filter(|&l| l > max) {
        return Err(AppError::TooLarge(format!(
            "an upload of {length} bytes is over this server's maximum of {max} bytes \
             (Upload-Limit max-size)"
        ))
        .into());
    }

    let mut upload = tus::metadata_to_upload(headers.get(&UPLOAD_METADATA))?;
    if upload.filename.is_none() {
        upload.filename = headers
            .get(CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(disposition_filename);
    }
    if upload.filetype.is_none() {
        upload.filetype = media_type(headers)
            .filter(|t| !t.eq_ignore_ascii_case(PARTIAL_UPLOAD))
            .map(str::to_owned);
    }
    if let Some(digest) = repr_digest(headers)? {
        if upload
            .declared_checksum
            .as_ref()
            .is_some_and(|c| *c != digest)
        {
            return Err(AppError::bad_request(
                "Repr-Digest and the Upload-Metadata checksum name different SHA-256 values",
            )
            .into());
        }
        upload.declared_checksum = Some(digest);
    }
    upload.id = tus::new_upload_id();
    upload.user_id = user.id.clone();
    upload.upload_length = length.unwrap_or(0) as i64; // number_header keeps it <= i64::MAX
    upload.length_deferred = length.is_none();
    upload.expires_at = Some(tus::next_expiry(state));
    let declared = upload.declared_checksum.as_deref();
    let remaining = tus::check_quota(state, user, upload.upload_length, declared, false).await?;
    let max_size = remaining.map_or(max, |r| r.min(max));

    tus::insert_new_upload(state, &mut upload).await?;
    let _lock = state
        .upload_locks
        .try_lock(&upload.id)
        .expect("a new upload is not locked");
    if let Err(e) = receive(state, &mut upload, max_size, headers, body, content_length).await {
        // Without a 104 the client never learned this upload's URL: drop it.
        let stored = db::upload_by_id(&state.pool, &upload.id).await?;
        state
            .blobs
            .discard_partial(stored.as_ref().unwrap_or(&upload))
            .await?;
        db::delete_upload(&state.pool, &upload.id).await?;
        return Err(e.into());
    }

    let location = tus::header_value(&format!("/api/uploads/{}", upload.id));
    if complete {
        let done = finish(state, user, by, &mut upload).await?;
        let mut response = done.response(StatusCode::CREATED);
        response.headers_mut().insert(LOCATION, location);
        response
            .headers_mut()
            .insert(UPLOAD_LIMIT.clone(), upload_limit(version, max_size, None));
        return Ok(response);
    }
    let mut response = StatusCode::CREATED.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(LOCATION, location);
    response_headers.insert(UPLOAD_COMPLETE.clone(), HeaderValue::from_static("?0"));
    response_headers.insert(UPLOAD_OFFSET.clone(), upload.upload_offset.into());
    response_headers.insert(
        UPLOAD_LIMIT.clone(),
        upload_limit(version, max_size, upload.expires_at),
    );
    Ok(response)
}

/// `HEAD /api/uploads/{id}` (offset retrieval).
pub(crate) async fn status(state: &AppState, user: &db::User, version: u8, id: &str) -> Response {
    let result = status_of(state, user, version, id).await;
    reply(state, version, result)
}

async fn status_of(
    state: &AppState,
    user: &db::User,
    version: u8,
    id: &str,
) -> Result<Response, Failure> {
    let upload = tus::find_upload(state, id, user).await?;
    let max_size = max_size(state, user).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(UPLOAD_OFFSET.clone(), upload.upload_offset.into());
    if !upload.length_deferred {
        headers.insert(UPLOAD_LENGTH.clone(), upload.upload_length.into());
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(asset_id) = &upload.asset_id {
        headers.insert(UPLOAD_COMPLETE.clone(), HeaderValue::from_static("?1"));
        headers.insert(FERRY_ASSET_ID.clone(), tus::header_value(asset_id));
        headers.insert(UPLOAD_LIMIT.clone(), upload_limit(version, max_size, None));
    } else {
        headers.insert(UPLOAD_COMPLETE.clone(), HeaderValue::from_static("?0"));
        headers.insert(
            UPLOAD_LIMIT.clone(),
            upload_limit(version, max_size, upload.expires_at),
        );
    }
    Ok(response)
}

/// `PATCH /api/uploads/{id}` (upload append).
pub(crate) async fn append(
    state: &AppState,
    user: &db::User,
    credential: &Credential,
    version: u8,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let by = Finisher {
        credential,
        on_append: true,
    };
    let result = append_upload(state, user, by, version, id, headers, body).await;
    reply(state, version, result)
}

async fn append_upload(
    state: &AppState,
    user: &db::User,
    by: Finisher<'_>,
    version: u8,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    tus::find_upload(state, id, user).await?;
    if version >= 7 && !is_partial_upload(headers) {
        return Err(AppError::UnsupportedMediaTypeNamed(format!(
            "Content-Type must be {PARTIAL_UPLOAD}"
        ))
        .into());
    }
    let complete = upload_complete(headers)?;
    let provided = tus::number_header(headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| AppError::bad_request("Upload-Offset is required"))?;
    let content_length = tus::number_header(headers, &CONTENT_LENGTH)?;
    let _lock = tus::lock_upload(state, id).await?.ok_or(AppError::Locked)?;
    // Read again under the lock: the offset may have moved while we waited for it.
    let mut upload = tus::find_upload(state, id, user).await?;
    if let Some(asset_id) = upload.asset_id.clone() {
        // Bytes that end within the upload are an append it already holds, sent again
        // (a browser re-sends a request by itself when a reused connection closes before
        // any answer): completed-upload, with the offset and the asset. Bytes past the
        // end are inconsistent.
        let end = provided.saturating_add(content_length.unwrap_or(0));
        return Err(if end > upload.upload_length as u64 {
            inconsistent("the upload is already complete; nothing can be appended")
        } else {
            Failure::CompletedUpload {
                asset_id,
                offset: upload.upload_offset,
            }
        });
    }
    let offset = upload.upload_offset as u64;
    if provided != offset {
        return Err(Failure::MismatchingOffset {
            expected: upload.upload_offset,
            provided,
        });
    }

    let known = (!upload.length_deferred).then_some(upload.upload_length as u64);
    let length = agree(&[
        known,
        tus::number_header(headers, &UPLOAD_LENGTH)?,
        content_length.filter(|_| complete).map(|n| offset + n),
    ])?;
    if let Some(length) = length {
        if length < offset || content_length.is_some_and(|n| offset + n > length) {
            return Err(inconsistent(format!(
                "the upload's length is {length}, but this request would take it past that"
            )));
        }
    }
    let max = state.config.max_upload_bytes;
    if let Some(length) = length.filter(|&l| l > max) {
        return Err(AppError::TooLarge(format!(
            "an upload of {length} bytes is over this server's maximum of {max} bytes \
             (Upload-Limit max-size)"
        ))
        .into());
    }
    // Another upload may have completed since this one was created.
    let needed = length.unwrap_or(offset + content_length.unwrap_or(0));
    let declared = upload.declared_checksum.as_deref();
    let remaining = tus::check_quota(state, user, needed as i64, declared, true).await?;
    let max_size = remaining.map_or(max, |r| r.min(max));
    if let (true, Some(length)) = (upload.length_deferred, length) {
        db::set_upload_length(&state.pool, &upload.id, length as i64).await?;
        upload.upload_length = length as i64;
        upload.length_deferred = false;
    }
    let expires_at = tus::next_expiry(state);
    db::set_upload_expiry(&state.pool, &upload.id, expires_at).await?;
    upload.expires_at = Some(expires_at);

    receive(state, &mut upload, max_size, headers, body, content_length).await?;
    if complete {
        return Ok(finish(state, user, by, &mut upload)
            .await?
            .response(StatusCode::OK));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(UPLOAD_COMPLETE.clone(), HeaderValue::from_static("?0"));
    response_headers.insert(UPLOAD_OFFSET.clone(), upload.upload_offset.into());
    Ok(response)
}

/// `DELETE /api/uploads/{id}` (upload cancellation) is tus termination: see `tus::cancel`.
///
/// Streams the request content onto the upload, fsynced before the offset moves (see
/// `tus::write_chunk`), up to its length or, while that is unknown, `max_size`.
async fn receive(
    state: &AppState,
    upload: &mut db::Upload,
    max_size: u64,
    headers: &HeaderMap,
    body: Body,
    content_length: Option<u64>,
) -> Result<(), AppError> {
    // With every byte here already, only the completion is left (after a crash, or a
    // completion refused for a revoked key), and the bytes may have moved into the blob
    // store: there is nothing to write to, as with tus.
    let all_here = !upload.length_deferred && upload.upload_offset == upload.upload_length;
    if content_length == Some(0) || all_here {
        return Ok(());
    }
    let mut bounded = upload.clone();
    if upload.length_deferred {
        bounded.upload_length = (max_size.min(i64::MAX as u64) as i64).max(upload.upload_offset);
    }
    let written = tus::write_chunk(state, &bounded, headers, body).await?;
    upload.upload_offset = written.offset;
    upload.expires_at = Some(written.expires_at);
    Ok(())
}

/// The client said `Upload-Complete: ?1` and all its content arrived: the length is now
/// the offset (it must be, if it was known), and the upload completes into an asset.
async fn finish(
    state: &AppState,
    user: &db::User,
    by: Finisher<'_>,
    upload: &mut db::Upload,
) -> Result<Completed, Failure> {
    if upload.length_deferred {
        let declared = upload.declared_checksum.as_deref();
        tus::check_quota(state, user, upload.upload_offset, declared, by.on_append).await?;
        db::set_upload_length(&state.pool, &upload.id, upload.upload_offset).await?;
        upload.upload_length = upload.upload_offset;
        upload.length_deferred = false;
    } else if upload.upload_offset != upload.upload_length {
        return Err(inconsistent(format!(
            "Upload-Complete: ?1 at offset {}, but the upload's length is {}",
            upload.upload_offset, upload.upload_length
        )));
    }
    let (asset_id, new) = tus::complete_with(state, upload, None, by).await?;
    Ok(Completed {
        asset_id,
        new,
        offset: upload.upload_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn versions_and_protocol_detection() {
        let rufh = headers(&[("upload-draft-interop-version", "7")]);
        assert!(is_rufh(&rufh));
        assert_eq!(request_version(&rufh).unwrap(), Some(7));
        let both = headers(&[
            ("upload-draft-interop-version", "7"),
            ("tus-resumable", "1.0.0"),
        ]);
        assert!(!is_rufh(&both), "tus wins when a request says both");
        for bad in ["5", "9", "x", ""] {
            assert!(version(&headers(&[("upload-draft-interop-version", bad)])).is_err());
        }
    }

    #[test]
    fn structured_fields() {
        assert!(upload_complete(&headers(&[("upload-complete", "?1")])).unwrap());
        assert!(!upload_complete(&headers(&[("upload-complete", "?0;x=1")])).unwrap());
        assert!(upload_complete(&headers(&[("upload-complete", "true")])).is_err());
        assert!(upload_complete(&HeaderMap::new()).is_err());

        let digest = STANDARD.encode([7u8; 32]);
        let value = format!("sha-512=:AAAA:, sha-256=:{digest}:");
        assert_eq!(
            repr_digest(&headers(&[("repr-digest", &value)])).unwrap(),
            Some(hex::encode([7u8; 32]))
        );
        assert_eq!(
            repr_digest(&headers(&[("repr-digest", "sha=:AAAA:")])).unwrap(),
            None
        );
        for bad in ["sha-256=:AAAA:", "sha-256=abc", "sha-256"] {
            assert!(repr_digest(&headers(&[("repr-digest", bad)])).is_err());
        }

        assert_eq!(
            disposition_filename(r#"inline; filename="IMG 1.jpg""#).as_deref(),
            Some("IMG 1.jpg")
        );
        assert_eq!(
            disposition_filename("attachment; filename=a.png").as_deref(),
            Some("a.png")
        );
        assert_eq!(disposition_filename("inline"), None);

        assert_eq!(agree(&[None, Some(3), Some(3)]).ok().flatten(), Some(3));
        assert!(agree(&[Some(3), Some(4)]).is_err());
    }

    #[test]
    fn limits_name_the_expiry_by_version() {
        let in_an_hour = Some(unix_now() + 3600);
        let v6 = upload_limit(6, 10, in_an_hour);
        assert!(v6.to_str().unwrap().starts_with("max-size=10, expires="));
        let v8 = upload_limit(8, 10, in_an_hour);
        assert!(v8.to_str().unwrap().starts_with("max-size=10, max-age="));
        assert_eq!(upload_limit(7, 10, None), "max-size=10");
    }
}
