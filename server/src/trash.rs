//! The trash ("Recently Deleted", seed 001): `DELETE /api/assets/{id}` moves an asset here;
//! it can be listed, restored or purged at once, and the sweep purges what has been here
//! longer than `Config::trash_retention`. Purging leaves a tombstone for the sync feed and
//! deletes the blob when no other asset (of any user) or upload references it.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::assets::{decode_cursor, encode_cursor, page_limit, to_items, AssetItem, Paged};
use crate::auth::AuthUser;
use crate::{db, timestamps, AppError, AppState};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/trash", get(list))
        .route("/trash/{id}", delete(purge))
        .route("/trash/{id}/restore", post(restore))
}

#[derive(Deserialize)]
struct Page {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/trash?limit=N&cursor=C`: most recently deleted first, same item shape as
/// `/api/assets` (with `isTrashed: true` and `deletedAt`).
async fn list(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Paged<AssetItem>>, AppError> {
    let Query(page) = page?;
    let limit = page_limit(page.limit);
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut assets = db::list_trash(
        &state.pool,
        &user.id,
        after.as_ref().map(|(d, i)| (d.as_str(), i.as_str())),
        limit + 1,
    )
    .await?;
    let next_cursor = if assets.len() as i64 > limit {
        assets.truncate(limit as usize);
        assets
            .last()
            .map(|a| encode_cursor(a.deleted_at.as_deref().unwrap_or_default(), &a.id))
    } else {
        None
    };
    Ok(Json(Paged::new(
        to_items(&state, &user.id, assets).await?,
        next_cursor,
    )))
}

/// `POST /api/trash/{id}/restore`: back into the timeline; answers the asset (200).
/// 404 if it is not in the user's trash.
async fn restore(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<AssetItem>, AppError> {
    if !db::restore_asset(&state.pool, &user.id, &id).await? {
        return Err(AppError::NotFound);
    }
    let asset = crate::assets::find_asset(&state, &user.id, &id).await?;
    let mut items = to_items(&state, &user.id, vec![asset]).await?;
    Ok(Json(items.pop().expect("one asset in, one item out")))
}

/// `DELETE /api/trash/{id}`: purges now (204). 404 if it is not in the user's trash.
async fn purge(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !purge_asset(&state, &user.id, &id).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Purges the user's trashed asset `id`: row, album memberships, client thumbnail, and the
/// blob if nothing else references it. `false` if it is not in the user's trash.
pub async fn purge_asset(state: &AppState, user_id: &str, id: &str) -> Result<bool, AppError> {
    let Some(purged) = db::purge_asset(&state.pool, user_id, id).await? else {
        return Ok(false);
    };
    if purged.thumbnail_sha256.is_some() {
        let thumb = crate::blobs::Thumb::Client {
            asset_id: &purged.id,
        };
        state.blobs.remove_thumb(thumb).await?;
    }
    crate::release_blob(state, &purged.checksum).await?;
    Ok(true)
}

/// Purges every asset that went into the trash longer than `trash_retention` ago.
/// Returns how many were purged.
pub async fn sweep_trash(state: &AppState) -> Result<usize, AppError> {
    let retention =
        time::Duration::try_from(state.config.trash_retention).unwrap_or(time::Duration::MAX);
    let cutoff = time::OffsetDateTime::now_utc()
        .checked_sub(retention)
        .filter(|t| t.year() >= 1)
        .map(timestamps::format);
    let Some(cutoff) = cutoff else {
        return Ok(0);
    };
    let mut purged = 0;
    loop {
        let batch = db::trash_older_than(&state.pool, &cutoff).await?;
        if batch.is_empty() {
            return Ok(purged);
        }
        let mut progress = false;
        for (user_id, id) in batch {
            if purge_asset(state, &user_id, &id).await? {
                purged += 1;
                progress = true;
            }
        }
        if !progress {
            return Ok(purged);
        }
    }
}
