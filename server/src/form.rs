//! The non-resumable fallback of seed 002: `POST /api/assets` as `multipart/form-data` with
//! `assetData` (the file) and optional `deviceAssetId`, `deviceId`, `fileCreatedAt`,
//! `fileModifiedAt`, `isFavorite`, `duration`, `album`, `filename` and `livePhotoData`.
//! Files are streamed to disk and hashed on the way, then complete exactly like a tus
//! upload: 201 `{id, duplicate: false}` for a new asset, 200 `{id, duplicate: true}` when the
//! user already had those bytes. `livePhotoData` (the motion part of a Live Photo) becomes an
//! asset of its own, answered as `livePhotoVideoId`.

use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sha2::{Digest, Sha256};

use crate::auth::{AuthUser, Credential};
use crate::{db, media, timestamps, tus, AppError, AppState};

/// Text fields longer than this are refused.
const MAX_TEXT_FIELD: usize = 4096;

/// A file part stored as a partial upload.
struct Part {
    upload: db::Upload,
    sha256: String,
}

pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    credential: Credential,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let mut multipart = multipart.map_err(|e| AppError::bad_request(e.body_text()))?;
    let mut parts: Vec<Part> = Vec::new();
    let result = receive(&state, &user, &mut multipart, &mut parts).await;
    let by = tus::Finisher {
        credential: &credential,
        on_append: false,
    };
    let outcome = match result {
        Ok(meta) => finish(&state, by, &mut parts, meta).await,
        Err(e) => Err(e),
    };
    // Whatever happened, no partial file or upload row outlives the request.
    for part in &parts {
        let stored = db::upload_by_id(&state.pool, &part.upload.id).await?;
        state
            .blobs
            .discard_partial(stored.as_ref().unwrap_or(&part.upload))
            .await?;
        db::delete_upload(&state.pool, &part.upload.id).await?;
        if !part.sha256.is_empty() {
            // A completion cut short may have moved the bytes into place without an asset.
            crate::release_blob(&state, &part.sha256).await?;
        }
    }
    outcome
}

#[derive(Default)]
struct FormMeta {
    asset: Option<usize>,
    live_photo: Option<usize>,
    fields: db::Upload,
}

async fn receive(
    state: &AppState,
    user: &db::User,
    multipart: &mut Multipart,
    parts: &mut Vec<Part>,
) -> Result<FormMeta, AppError> {
    let mut meta = FormMeta::default();
    let bad = |e: axum::extract::multipart::MultipartError| AppError::bad_request(e.body_text());
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let f = &mut meta.fields;
        match name.as_str() {
            "assetData" | "livePhotoData" => {
                let slot = if name == "assetData" {
                    &mut meta.asset
                } else {
                    &mut meta.live_photo
                };
                if slot.is_some() {
                    return Err(AppError::bad_request(format!("{name} is given twice")));
                }
                let used: i64 = parts.iter().map(|p| p.upload.upload_length).sum();
                let part = store_file(state, user, field, used, parts).await?;
                *slot = Some(part);
            }
            _ => text_field(f, &name, field).await?,
        }
    }
    if meta.asset.is_none() {
        return Err(AppError::bad_request("assetData (the file) is required"));
    }
    Ok(meta)
}

/// Reads the text field `name` into `f`; unknown fields are skipped, as clients may send
/// more than ferry uses. A value that does not parse is a 400.
async fn text_field(f: &mut db::Upload, name: &str, field: Field<'_>) -> Result<(), AppError> {
    match name {
        "deviceAssetId" => f.device_asset_id = text(field).await?,
        "deviceId" => f.device_id = text(field).await?,
        "livePhotoVideoId" => f.live_photo_video_id = text(field).await?,
        "filename" => f.filename = text(field).await?,
        "fileCreatedAt" => f.file_created_at = timestamp(name, field).await?,
        "fileModifiedAt" => f.file_modified_at = timestamp(name, field).await?,
        "isFavorite" => {
            f.is_favorite = match text(field).await? {
                None => false,
                Some(v) => tus::parse_bool(&v)
                    .ok_or_else(|| AppError::bad_request("isFavorite: expected true or false"))?,
            }
        }
        "duration" => {
            f.duration_ms = text(field)
                .await?
                .map(|v| {
                    media::parse_duration(&v).ok_or_else(|| {
                        AppError::bad_request("duration: expected H:MM:SS.fff or seconds")
                    })
                })
                .transpose()?
        }
        "album" => {
            f.album = text(field)
                .await?
                .map(|a| crate::albums::validate_name(&a))
                .transpose()?
        }
        _ => drain(field).await?,
    }
    Ok(())
}

async fn drain(mut field: Field<'_>) -> Result<(), AppError> {
    while field
        .chunk()
        .await
        .map_err(|e| AppError::bad_request(e.body_text()))?
        .is_some()
    {}
    Ok(())
}

/// For the fuzz target (`crate::fuzzing::multipart_form`): reads a form as `upload` does,
/// with its file parts drained instead of stored. The text fields, or the 400.
pub(crate) async fn text_fields_only(multipart: &mut Multipart) -> Result<db::Upload, AppError> {
    let mut fields = db::Upload::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::bad_request(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "assetData" | "livePhotoData" => drain(field).await?,
            _ => text_field(&mut fields, &name, field).await?,
        }
    }
    Ok(fields)
}

/// Streams a file part into a new partial upload (made here, pushed to `parts` before the
/// first byte so the caller cleans it up), hashing it on the way; enforces the maximum
/// upload size and the user's quota (413). Returns its index in `parts`.
async fn store_file(
    state: &AppState,
    user: &db::User,
    mut field: Field<'_>,
    already_received: i64,
    parts: &mut Vec<Part>,
) -> Result<usize, AppError> {
    let mut room = state.config.max_upload_bytes;
    if let Some(remaining) = tus::check_quota(state, user, already_received, None, false).await? {
        room = room.min(remaining.saturating_sub(already_received.max(0) as u64));
    }
    let mut upload = db::Upload {
        id: tus::new_upload_id(),
        user_id: user.id.clone(),
        filename: field
            .file_name()
            .map(str::to_owned)
            .filter(|n| !n.is_empty()),
        filetype: field
            .content_type()
            .map(str::to_owned)
            .filter(|t| !t.is_empty()),
        expires_at: Some(tus::next_expiry(state)),
        ..Default::default()
    };
    db::insert_upload(&state.pool, &upload).await?;
    tus::create_partial_of_row(state, &mut upload, room).await?;
    let _lock = state
        .upload_locks
        .try_lock(&upload.id)
        .expect("a new upload is not locked");
    let index = parts.len();
    parts.push(Part {
        upload,
        sha256: String::new(),
    });
    let part = &mut parts[index];

    let mut writer = state.blobs.open_writer(&part.upload).await?;
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| AppError::bad_request(e.body_text()))?
    {
        written += chunk.len() as u64;
        if written > room {
            let quota_bound = room < state.config.max_upload_bytes;
            return Err(if quota_bound {
                let quota = user.quota_size_in_bytes.unwrap_or_default();
                let usage = db::quota_usage(&state.pool, &user.id).await?;
                AppError::QuotaExceeded {
                    message: format!("the file does not fit the quota of {quota} bytes"),
                    quota_size_in_bytes: quota,
                    quota_usage_in_bytes: usage,
                    on_append: false,
                }
            } else {
                AppError::TooLarge(format!(
                    "files are at most {} bytes on this server",
                    state.config.max_upload_bytes
                ))
            });
        }
        hasher.update(&chunk);
        writer.write(chunk).await?;
    }
    let progress = writer.commit().await?;
    drop(writer);
    let offset = i64::try_from(written).unwrap_or(i64::MAX);
    db::set_upload_progress(
        &state.pool,
        &part.upload.id,
        offset,
        None,
        &progress,
        None,
        None,
    )
    .await?;
    state.blobs.forget(progress.stale).await?;
    part.upload.upload_length = i64::try_from(written).unwrap_or(i64::MAX);
    part.upload.upload_offset = part.upload.upload_length;
    part.sha256 = hex::encode(hasher.finalize());
    Ok(index)
}

async fn finish(
    state: &AppState,
    by: tus::Finisher<'_>,
    parts: &mut [Part],
    meta: FormMeta,
) -> Result<Response, AppError> {
    let asset_index = meta.asset.expect("checked in receive");
    let mut live_photo_video_id = None;
    if let Some(i) = meta.live_photo {
        let part = &mut parts[i];
        let fields = &meta.fields;
        part.upload.device_asset_id = fields
            .device_asset_id
            .as_ref()
            .map(|id| format!("{id}/live"));
        part.upload.device_id.clone_from(&fields.device_id);
        part.upload
            .file_created_at
            .clone_from(&fields.file_created_at);
        part.upload
            .file_modified_at
            .clone_from(&fields.file_modified_at);
        part.upload.album.clone_from(&fields.album);
        let (id, _) = complete_part(state, by, part).await?;
        live_photo_video_id = Some(id);
    }
    let part = &mut parts[asset_index];
    let fields = meta.fields;
    if fields.filename.is_some() {
        part.upload.filename = fields.filename;
    }
    part.upload.device_asset_id = fields.device_asset_id;
    part.upload.device_id = fields.device_id;
    part.upload.file_created_at = fields.file_created_at;
    part.upload.file_modified_at = fields.file_modified_at;
    part.upload.is_favorite = fields.is_favorite;
    part.upload.duration_ms = fields.duration_ms;
    part.upload.album = fields.album;
    // The motion part sent with it, or one uploaded before and named by id.
    part.upload.live_photo_video_id = live_photo_video_id.clone().or(fields.live_photo_video_id);
    let (id, created) = complete_part(state, by, part).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = serde_json::json!({ "id": id, "duplicate": !created });
    if let Some(live) = live_photo_video_id {
        body["livePhotoVideoId"] = live.into();
    }
    Ok((status, Json(body)).into_response())
}

/// The form's bytes are never kept for a retry: on any refusal (quota, a key revoked while
/// they streamed) `upload` deletes them with their row.
async fn complete_part(
    state: &AppState,
    by: tus::Finisher<'_>,
    part: &Part,
) -> Result<(String, bool), AppError> {
    db::finish_form_upload(&state.pool, &part.upload).await?;
    tus::complete_with(state, &part.upload, Some(part.sha256.clone()), by).await
}

/// A short text field; empty is `None`.
async fn text(mut field: Field<'_>) -> Result<Option<String>, AppError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| AppError::bad_request(e.body_text()))?
    {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(AppError::bad_request(format!(
                "{name}: at most {MAX_TEXT_FIELD} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| AppError::bad_request(format!("{name}: not UTF-8")))?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

async fn timestamp(name: &str, field: Field<'_>) -> Result<Option<String>, AppError> {
    text(field)
        .await?
        .map(|v| {
            timestamps::parse_client(&v).ok_or_else(|| {
                AppError::bad_request(format!("{name}: expected RFC 3339 or unix milliseconds"))
            })
        })
        .transpose()
}
