//! The user's library: dedup checks, the timeline, and original bytes.
//! Every query is scoped to the signed-in user; nothing here reveals other users' files.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tower_http::services::ServeFile;

use crate::auth::AuthUser;
use crate::tus::parse_sha256_hex;
use crate::{db, AppError, AppState};

const MAX_CHECK_BATCH: usize = 1000;
const MAX_EXIST_BATCH: usize = 10_000;
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/assets", get(list))
        .route("/assets/bulk-upload-check", post(bulk_upload_check))
        .route("/assets/exist", post(exist))
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
struct Page {
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssetItem {
    id: String,
    checksum: String,
    original_file_name: String,
    mime_type: String,
    file_created_at: String,
    file_modified_at: String,
    file_size: i64,
    device_asset_id: Option<String>,
    device_id: Option<String>,
    /// Albums are not implemented yet; always empty.
    albums: Vec<String>,
}

impl From<db::Asset> for AssetItem {
    fn from(a: db::Asset) -> Self {
        Self {
            id: a.id,
            checksum: a.checksum,
            original_file_name: a.original_file_name,
            mime_type: a.mime_type,
            file_created_at: a.file_created_at,
            file_modified_at: a.file_modified_at,
            file_size: a.file_size,
            device_asset_id: a.device_asset_id,
            device_id: a.device_id,
            albums: Vec::new(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssetPage {
    items: Vec<AssetItem>,
    next_cursor: Option<String>,
}

/// `GET /api/assets?limit=N&cursor=C`: newest `fileCreatedAt` first, keyset-paginated.
async fn list(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<AssetPage>, AppError> {
    let Query(page) = page?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut assets = db::list_assets(
        &state.pool,
        &user.id,
        after.as_ref().map(|(c, i)| (c.as_str(), i.as_str())),
        limit + 1,
    )
    .await?;
    let next_cursor = if assets.len() as i64 > limit {
        assets.truncate(limit as usize);
        assets.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(AssetPage {
        items: assets.into_iter().map(AssetItem::from).collect(),
        next_cursor,
    }))
}

/// Opaque to clients: the sort key of the last item returned.
fn encode_cursor(asset: &db::Asset) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", asset.file_created_at, asset.id))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), AppError> {
    let bad = || AppError::bad_request("invalid cursor");
    let text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let (created, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((created.to_owned(), id.to_owned()))
}

/// `GET /api/assets/{id}/original`: the stored bytes, with Range support.
async fn original(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let asset = db::asset_for_user(&state.pool, &id, &user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mime = asset
        .mime_type
        .parse()
        .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
    let mut response = ServeFile::new_with_mime(state.blobs.blob_path(&asset.checksum), &mime)
        .try_call(request)
        .await?
        .map(Body::new);
    if response.status().is_success() {
        // An asset id always names the same bytes.
        response.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
    }
    Ok(response)
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
