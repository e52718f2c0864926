//! Albums (seed 002): per-user, by name. `POST /api/albums/{name}/assets` creates the album
//! if missing and adds the user's assets; ids that are not the user's are ignored without
//! saying so. The tus `Upload-Metadata` key `album` does the same for a completed upload.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::assets::{decode_cursor, page_limit, timeline, AssetItem, Paged};
use crate::auth::AuthUser;
use crate::{db, AppError, AppState};

/// The longest album name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
const MAX_ADD_BATCH: usize = 10_000;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/albums", get(list))
        .route("/albums/{name}/assets", post(add).get(assets))
}

/// An album name: trimmed, not empty, at most 255 bytes, no control characters.
pub fn validate_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(AppError::bad_request(format!(
            "album names are 1 to {MAX_NAME_BYTES} bytes without control characters"
        )));
    }
    Ok(name.to_owned())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddAssets {
    asset_ids: Vec<String>,
}

/// `POST /api/albums/{name}/assets {"assetIds":[...]}` → `{"album", "added"}` (200).
/// `added` counts assets newly added; ids that are not the user's (or already in the album)
/// are not counted, and nothing tells those two cases apart.
async fn add(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
    body: Result<Json<AddAssets>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(body) = body?;
    let name = validate_name(&name)?;
    if body.asset_ids.len() > MAX_ADD_BATCH {
        return Err(AppError::bad_request(format!(
            "at most {MAX_ADD_BATCH} assetIds per request"
        )));
    }
    let added =
        db::add_assets_to_named_album(&state.pool, &user.id, &name, &body.asset_ids).await?;
    Ok(Json(serde_json::json!({ "album": name, "added": added })))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Album {
    name: String,
    asset_count: i64,
    created_at: String,
    updated_at: String,
}

/// `GET /api/albums` → `{"items": [{"name", "assetCount", "createdAt", "updatedAt"}]}`,
/// by name; `assetCount` leaves out assets in the trash.
async fn list(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
) -> Result<Json<serde_json::Value>, AppError> {
    let items: Vec<Album> = db::list_albums(&state.pool, &user.id)
        .await?
        .into_iter()
        .map(|a| Album {
            name: a.name,
            asset_count: a.asset_count,
            created_at: a.created_at,
            updated_at: a.updated_at,
        })
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

#[derive(Deserialize)]
struct Page {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/albums/{name}/assets?limit&cursor`: like `GET /api/assets?album=NAME`, but 404
/// when the user has no album of that name.
async fn assets(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(name): Path<String>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Paged<AssetItem>>, AppError> {
    let Query(page) = page?;
    let album_id = db::album_id_by_name(&state.pool, &user.id, name.trim())
        .await?
        .ok_or(AppError::NotFound)?;
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    Ok(Json(
        timeline(
            &state,
            &user.id,
            Some(&album_id),
            after.as_ref().map(|(c, i)| (c.as_str(), i.as_str())),
            page_limit(page.limit),
        )
        .await?,
    ))
}
