//! The user's library: dedup checks, the timeline, and original bytes.
//! Every query is scoped to the signed-in user; nothing here reveals other users' files.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tower_http::services::ServeFile;

use crate::auth::AuthUser;
use crate::tus::parse_sha256_hex;
use crate::{db, timestamps, AppError, AppState};

const MAX_CHECK_BATCH: usize = 1000;
const MAX_EXIST_BATCH: usize = 10_000;
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/assets",
            get(list)
                .post(crate::form::upload)
                // The multipart fallback streams files to disk; its size is checked there.
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/assets/{id}", get(get_one).delete(trash))
        .route("/assets/bulk-upload-check", post(bulk_upload_check))
        .route("/assets/exist", post(exist))
        .route("/assets/sizes", post(known_sizes))
        .route("/assets/{id}/original", get(original))
}

#[derive(Deserialize)]
struct BulkUploadCheck {
    assets: Vec<CheckItem>,
}

#[derive(Deserialize)]
struct CheckItem {
    id: String,
    checksum: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckResult {
    id: String,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_id: Option<String>,
}

/// `POST /api/assets/bulk-upload-check`: which files (by SHA-256) the user already has.
/// Assets in the trash count as had: a re-run must not upload them again.
async fn bulk_upload_check(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    body: Result<Json<BulkUploadCheck>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(body) = body?;
    if body.assets.len() > MAX_CHECK_BATCH {
        return Err(AppError::bad_request(format!(
            "at most {MAX_CHECK_BATCH} assets per request"
        )));
    }
    let checksums = body
        .assets
        .iter()
        .map(|a| {
            parse_sha256_hex(&a.checksum).ok_or_else(|| {
                AppError::bad_request(format!("asset {:?}: checksum must be SHA-256 hex", a.id))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let existing: HashMap<String, String> =
        db::assets_by_checksum(&state.pool, &user.id, &checksums)
            .await?
            .into_iter()
            .collect();
    let results: Vec<CheckResult> = body
        .assets
        .into_iter()
        .zip(&checksums)
        .map(|(item, checksum)| match existing.get(checksum) {
            Some(asset_id) => CheckResult {
                id: item.id,
                action: "reject",
                reason: Some("duplicate"),
                asset_id: Some(asset_id.clone()),
            },
            None => CheckResult {
                id: item.id,
                action: "accept",
                reason: None,
                asset_id: None,
            },
        })
        .collect();
    Ok(Json(serde_json::json!({ "results": results })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Exist {
    device_asset_ids: Vec<String>,
    device_id: String,
}

/// `POST /api/assets/exist`: which of this device's local ids are already backed up.
async fn exist(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    body: Result<Json<Exist>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(body) = body?;
    if body.device_asset_ids.len() > MAX_EXIST_BATCH {
        return Err(AppError::bad_request(format!(
            "at most {MAX_EXIST_BATCH} deviceAssetIds per request"
        )));
    }
    let existing = db::existing_device_asset_ids(
        &state.pool,
        &user.id,
        &body.device_id,
        &body.device_asset_ids,
    )
    .await?;
    Ok(Json(serde_json::json!({ "existingIds": existing })))
}

#[derive(Deserialize)]
struct Sizes {
    sizes: Vec<u64>,
}

/// `POST /api/assets/sizes`: which of these byte sizes some asset of the user has.
///
/// A large file whose size is unknown here cannot be a duplicate, so the engine may
/// start uploading it while it is still hashed (see the engine's `upload_one`), and a
/// file the user already has still sends no byte. Like the checksum check it answers
/// only within the asking user's library, trash included.
async fn known_sizes(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    body: Result<Json<Sizes>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(body) = body?;
    if body.sizes.len() > MAX_CHECK_BATCH {
        return Err(AppError::bad_request(format!(
            "at most {MAX_CHECK_BATCH} sizes per request"
        )));
    }
    let sizes = body
        .sizes
        .iter()
        .map(|&size| {
            i64::try_from(size).map_err(|_| AppError::bad_request("a size is out of range"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let known = db::known_sizes(&state.pool, &user.id, &sizes).await?;
    Ok(Json(serde_json::json!({ "known": known })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    album: Option<String>,
    updated_after: Option<String>,
}

/// One asset as clients see it, in every listing and in `GET /api/assets/{id}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetItem {
    id: String,
    checksum: String,
    original_file_name: String,
    mime_type: String,
    file_created_at: String,
    file_modified_at: String,
    file_size: i64,
    device_asset_id: Option<String>,
    device_id: Option<String>,
    /// Names of the user's albums holding this asset, by name.
    albums: Vec<String>,
    /// Moves forward on every change a client can see (trash, restore, albums, thumbnail).
    updated_at: String,
    is_favorite: bool,
    /// Video length as `H:MM:SS.mmm`; `null` for photos and unknown lengths.
    duration: Option<String>,
    is_trashed: bool,
    /// When the asset went into the trash; `null` when it is not there.
    deleted_at: Option<String>,
    /// Whether `GET .../thumbnail` has something (client-made, or a JPEG/PNG/WebP original).
    has_thumbnail: bool,
    /// A Live Photo's motion part: the video asset played with it (its bytes at
    /// `/api/assets/{id}/original`). It is not listed in the timeline by itself.
    live_photo_video_id: Option<String>,
}

impl AssetItem {
    fn new(a: db::Asset, albums: Vec<String>) -> Self {
        Self {
            has_thumbnail: a.thumbnail_sha256.is_some()
                || crate::thumbs::can_generate(&a.mime_type),
            id: a.id,
            checksum: a.checksum,
            original_file_name: a.original_file_name,
            mime_type: a.mime_type,
            file_created_at: a.file_created_at,
            file_modified_at: a.file_modified_at,
            file_size: a.file_size,
            device_asset_id: a.device_asset_id,
            device_id: a.device_id,
            albums,
            updated_at: a.updated_at,
            is_favorite: a.is_favorite,
            duration: a.duration_ms.map(crate::media::format_duration),
            is_trashed: a.deleted_at.is_some(),
            deleted_at: a.deleted_at,
            live_photo_video_id: a.live_photo_video_id,
        }
    }
}

/// `assets` as items, with their album names (one query for the whole page).
pub(crate) async fn to_items(
    state: &AppState,
    user_id: &str,
    assets: Vec<db::Asset>,
) -> Result<Vec<AssetItem>, AppError> {
    let ids: Vec<String> = assets.iter().map(|a| a.id.clone()).collect();
    let mut albums: HashMap<String, Vec<String>> = HashMap::new();
    if !ids.is_empty() {
        for (asset_id, name) in db::album_names(&state.pool, user_id, &ids).await? {
            albums.entry(asset_id).or_default().push(name);
        }
    }
    Ok(assets
        .into_iter()
        .map(|a| {
            let names = albums.remove(&a.id).unwrap_or_default();
            AssetItem::new(a, names)
        })
        .collect())
}

/// An entry of the sync feed (`updatedAfter`): an asset, or a deleted one.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum SyncItem {
    Asset(Box<AssetItem>),
    /// In the trash (`purged: false`) or gone for good (`purged: true`).
    #[serde(rename_all = "camelCase")]
    Deleted {
        id: String,
        deleted: bool,
        deleted_at: String,
        updated_at: String,
        purged: bool,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Paged<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> Paged<T> {
    pub(crate) fn new(items: Vec<T>, next_cursor: Option<String>) -> Self {
        Self { items, next_cursor }
    }
}

pub(crate) fn page_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// `GET /api/assets?limit=N&cursor=C[&album=NAME]`: the timeline (not the trash), newest
/// `fileCreatedAt` first, keyset-paginated. With `updatedAfter=T` (RFC 3339 or unix ms) it
/// is the sync feed instead: everything changed after T, oldest change first, with deleted
/// assets as `{"id", "deleted": true, "deletedAt", "updatedAt", "purged"}`.
async fn list(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query?;
    let limit = page_limit(query.limit);
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let after = after.as_ref().map(|(c, i)| (c.as_str(), i.as_str()));
    if let Some(updated_after) = query.updated_after.as_deref() {
        if query.album.is_some() {
            return Err(AppError::bad_request(
                "album and updatedAfter cannot be combined",
            ));
        }
        let since = timestamps::parse_client(updated_after).ok_or_else(|| {
            AppError::bad_request("updatedAfter: expected RFC 3339 or unix milliseconds")
        })?;
        return Ok(Json(sync_feed(&state, &user.id, &since, after, limit).await?).into_response());
    }
    let album_id = match query.album.as_deref() {
        None => None,
        Some(name) => match db::album_id_by_name(&state.pool, &user.id, name.trim()).await? {
            Some(id) => Some(id),
            None => {
                let empty: Paged<AssetItem> = Paged {
                    items: Vec::new(),
                    next_cursor: None,
                };
                return Ok(Json(empty).into_response());
            }
        },
    };
    Ok(Json(timeline(&state, &user.id, album_id.as_deref(), after, limit).await?).into_response())
}

/// A page of the timeline, of one album or of everything.
pub(crate) async fn timeline(
    state: &AppState,
    user_id: &str,
    album_id: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Paged<AssetItem>, AppError> {
    let mut assets = db::list_assets(&state.pool, user_id, album_id, after, limit + 1).await?;
    let next_cursor = if assets.len() as i64 > limit {
        assets.truncate(limit as usize);
        assets
            .last()
            .map(|a| encode_cursor(&a.file_created_at, &a.id))
    } else {
        None
    };
    Ok(Paged {
        items: to_items(state, user_id, assets).await?,
        next_cursor,
    })
}

async fn sync_feed(
    state: &AppState,
    user_id: &str,
    since: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Paged<SyncItem>, AppError> {
    let mut changes = db::changes_since(&state.pool, user_id, since, after, limit + 1).await?;
    let next_cursor = if changes.len() as i64 > limit {
        changes.truncate(limit as usize);
        changes.last().map(|c| encode_cursor(&c.updated_at, &c.id))
    } else {
        None
    };
    let ids: Vec<String> = changes
        .iter()
        .filter(|c| !c.purged)
        .map(|c| c.id.clone())
        .collect();
    let assets = db::assets_by_ids(&state.pool, user_id, &ids).await?;
    let mut by_id: HashMap<String, AssetItem> = to_items(state, user_id, assets)
        .await?
        .into_iter()
        .map(|item| (item.id.clone(), item))
        .collect();
    let items = changes
        .into_iter()
        .filter_map(|c| {
            if c.purged {
                return Some(SyncItem::Deleted {
                    id: c.id,
                    deleted: true,
                    deleted_at: c.updated_at.clone(),
                    updated_at: c.updated_at,
                    purged: true,
                });
            }
            // Gone between the two queries: the next sync shows its tombstone.
            let item = by_id.remove(&c.id)?;
            Some(match item.deleted_at.clone() {
                Some(deleted_at) => SyncItem::Deleted {
                    id: item.id,
                    deleted: true,
                    deleted_at,
                    updated_at: item.updated_at,
                    purged: false,
                },
                None => SyncItem::Asset(Box::new(item)),
            })
        })
        .collect();
    Ok(Paged { items, next_cursor })
}

/// Opaque to clients: the sort key of the last item returned.
pub(crate) fn encode_cursor(key: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{key}|{id}"))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<(String, String), AppError> {
    let bad = || AppError::bad_request("invalid cursor");
    let text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let (created, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((created.to_owned(), id.to_owned()))
}

/// The user's asset `id` (in the trash or not), else 404.
pub(crate) async fn find_asset(
    state: &AppState,
    user_id: &str,
    id: &str,
) -> Result<db::Asset, AppError> {
    db::asset_for_user(&state.pool, id, user_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET /api/assets/{id}`: one of the user's assets (also when in the trash).
async fn get_one(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<AssetItem>, AppError> {
    let asset = find_asset(&state, &user.id, &id).await?;
    let mut items = to_items(&state, &user.id, vec![asset]).await?;
    Ok(Json(items.pop().expect("one asset in, one item out")))
}

/// `DELETE /api/assets/{id}`: moves the asset to the trash (204; already there: 204).
async fn trash(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !db::trash_asset(&state.pool, &user.id, &id).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A strong entity tag: the quoted hex digest.
pub(crate) fn etag(sha256: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{sha256}\"")).expect("hex is a valid header value")
}

/// Whether `If-None-Match` names `etag` (or is `*`), weak comparison as RFC 9110 says.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let wanted = etag.to_str().unwrap_or_default();
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == wanted)
}

/// 304 with the validators a cache needs.
pub(crate) fn not_modified_response(etag: HeaderValue, cache_control: &'static str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response.headers_mut().insert(ETAG, etag);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    response
}

const ORIGINAL_CACHE: &str = "private, max-age=31536000, immutable";

/// `GET /api/assets/{id}/original`: the stored bytes, with Range support, its SHA-256 as
/// `ETag` and `If-None-Match` → 304.
async fn original(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let asset = find_asset(&state, &user.id, &id).await?;
    let etag = etag(&asset.checksum);
    if not_modified(request.headers(), &etag) {
        return Ok(not_modified_response(etag, ORIGINAL_CACHE));
    }
    let mime = asset
        .mime_type
        .parse()
        .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
    let mut response = match state.blobs.blob_file(&asset.checksum) {
        Some(path) => ServeFile::new_with_mime(path, &mime)
            .try_call(request)
            .await?
            .map(Body::new),
        None => serve_object(&state, &asset.checksum, &mime, request.headers()).await?,
    };
    if response.status().is_success() {
        // An asset id always names the same bytes.
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(ORIGINAL_CACHE));
        response.headers_mut().insert(ETAG, etag);
    }
    Ok(response)
}

/// A blob that is not a file (S3): the whole of it, or one `Range: bytes=` range (206;
/// 416 when it starts past the end). Several ranges get the whole blob, as RFC 9110 allows.
async fn serve_object(
    state: &AppState,
    sha256: &str,
    mime: &mime_guess::Mime,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
    let len = state.blobs.blob_len(sha256).await?;
    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| byte_range(v, len));
    let (status, range) = match range {
        Some(Some(Ok(range))) => (StatusCode::PARTIAL_CONTENT, range),
        Some(Some(Err(()))) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            response.headers_mut().insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("digits"),
            );
            return Ok(response);
        }
        _ => (StatusCode::OK, 0..len),
    };
    let body = if range.is_empty() {
        Body::empty()
    } else {
        Body::from_stream(state.blobs.read_blob(sha256, range.clone()).await?)
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(mime.as_ref()).expect("a parsed media type"),
    );
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CONTENT_LENGTH, (range.end - range.start).into());
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {}-{}/{len}", range.start, range.end - 1);
        headers.insert(
            CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("digits"),
        );
    }
    Ok(response)
}

/// One range of `bytes=first-last`, `bytes=first-` or `bytes=-suffix` within `len` bytes.
/// `None`: not one byte range (serve everything); `Some(Err)`: unsatisfiable.
fn byte_range(value: &str, len: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => {
            let suffix = number(last)?;
            if suffix == 0 {
                return Some(Err(()));
            }
            len.saturating_sub(suffix)..len
        }
        (false, true) => number(first)?..len,
        (false, false) => {
            let (first, last) = (number(first)?, number(last)?);
            if last < first {
                return None;
            }
            first..last.saturating_add(1).min(len)
        }
        (true, true) => return None,
    };
    if range.start >= len {
        return Some(Err(()));
    }
    Some(Ok(range))
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        AppError::bad_request(rejection.body_text())
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::bad_request(rejection.body_text())
    }
}
