//! `GET /api/assets/{id}/thumbnail`: a WebP at most 256 px on its long side, made on first
//! request from JPEG, PNG and WebP originals (EXIF orientation applied) and cached in
//! `thumbs/gen/`; or the JPEG/WebP thumbnail the owning client uploaded with `PUT` (HEIC and
//! video cannot be decoded here), which takes precedence.

use std::collections::HashSet;
use std::io::{BufReader, Read, Seek};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Limited};
use sha2::{Digest, Sha256};

use crate::assets::{find_asset, not_modified, not_modified_response};
use crate::auth::AuthUser;
use crate::blobs::Thumb;
use crate::{db, media, AppError, AppState};

/// The long side of server-made thumbnails, in pixels.
pub const THUMBNAIL_SIZE: u32 = 256;
/// The largest thumbnail a client may upload.
pub const MAX_CLIENT_THUMBNAIL_BYTES: usize = 512 * 1024;
/// Decoding stops beyond this much memory (a 48 MP RGB photo needs ~144 MB).
const MAX_DECODE_BYTES: u64 = 320 << 20;
/// A client may replace its thumbnail, so caches revalidate (cheaply, by ETag) after a day.
const THUMBNAIL_CACHE: &str = "private, max-age=86400";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/assets/{id}/thumbnail", get(thumbnail).put(upload))
}

/// Whether the server makes thumbnails of this media type itself.
pub fn can_generate(mime_type: &str) -> bool {
    matches!(mime_type, "image/jpeg" | "image/png" | "image/webp")
}

async fn thumbnail(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let asset = find_asset(&state, &user.id, &id).await?;
    let (thumb, etag) = if let Some(sha256) = asset.thumbnail_sha256.as_deref() {
        (
            Thumb::Client {
                asset_id: &asset.id,
            },
            format!("\"{sha256}\""),
        )
    } else if can_generate(&asset.mime_type) {
        (
            Thumb::Generated {
                sha256: &asset.checksum,
            },
            format!("\"{}-w{THUMBNAIL_SIZE}\"", asset.checksum),
        )
    } else {
        return Err(AppError::NoThumbnail);
    };
    let etag = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    if not_modified(&headers, &etag) {
        return Ok(not_modified_response(etag, THUMBNAIL_CACHE));
    }
    let bytes = match thumb {
        Thumb::Generated { sha256 } => generated(&state, sha256).await?,
        Thumb::Client { .. } => state
            .blobs
            .read_thumb(thumb)
            .await?
            .ok_or(AppError::NoThumbnail)?,
    };
    let content_type = media::sniff_mime(&bytes).unwrap_or("application/octet-stream");
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(THUMBNAIL_CACHE)),
            (ETAG, etag),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// Blobs the server could not make a thumbnail of because of what they hold (not an image
/// the decoder reads, or one over its memory limit). Blobs are named by their content, so
/// that answer never changes: a request for one is answered at once, and no one can keep
/// the single decoding slot busy by asking for the same broken photo again and again.
/// Read errors are not remembered; they may pass.
#[derive(Default)]
pub struct Undecodable(Mutex<HashSet<String>>);

/// Past this many, `Undecodable` starts again from empty (at 64 hex characters each, about
/// a megabyte at most).
const MAX_UNDECODABLE: usize = 10_000;

impl Undecodable {
    fn contains(&self, sha256: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(sha256)
    }

    fn insert(&self, sha256: &str) {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if set.len() >= MAX_UNDECODABLE {
            set.clear();
        }
        set.insert(sha256.to_owned());
    }
}

/// The server-made thumbnail of blob `sha256`, made now if missing (one at a time).
async fn generated(state: &AppState, sha256: &str) -> Result<Vec<u8>, AppError> {
    let thumb = Thumb::Generated { sha256 };
    if let Some(bytes) = state.blobs.read_thumb(thumb).await? {
        return Ok(bytes);
    }
    if state.undecodable.contains(sha256) {
        return Err(AppError::NoThumbnail);
    }
    let _slot = state
        .thumb_slots
        .acquire()
        .await
        .map_err(std::io::Error::other)?;
    if let Some(bytes) = state.blobs.read_thumb(thumb).await? {
        return Ok(bytes); // made by the request we waited for
    }
    let blobs = Arc::clone(&state.blobs);
    let blob = sha256.to_owned();
    let made = tokio::task::spawn_blocking(move || {
        let original = blobs
            .open_blob_blocking(&blob)
            .map_err(image::ImageError::IoError)?;
        make_thumbnail(original)
    })
    .await
    .map_err(std::io::Error::other)?;
    match made {
        Ok(webp) => {
            state.blobs.write_thumb(thumb, &webp).await?;
            Ok(webp)
        }
        Err(e) => {
            tracing::warn!(error = %e, blob = sha256, "cannot make a thumbnail");
            if !matches!(e, image::ImageError::IoError(_)) {
                state.undecodable.insert(sha256);
            }
            Err(AppError::NoThumbnail)
        }
    }
}

/// Decodes an image, applies its EXIF orientation, shrinks it to fit 256×256 and encodes
/// it as (lossless) WebP. Blocking.
pub fn make_thumbnail(original: impl Read + Seek) -> Result<Vec<u8>, image::ImageError> {
    use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageReader, Limits};

    let mut reader = ImageReader::new(BufReader::new(original)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    if image.width() > THUMBNAIL_SIZE || image.height() > THUMBNAIL_SIZE {
        image = image.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
    }
    let mut out = Vec::new();
    let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
    if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        encoder.encode(
            rgba.as_raw(),
            rgba.width(),
            rgba.height(),
            ExtendedColorType::Rgba8,
        )?;
    } else {
        let rgb = image.to_rgb8();
        encoder.encode(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            ExtendedColorType::Rgb8,
        )?;
    }
    Ok(out)
}

/// `PUT /api/assets/{id}/thumbnail` with an `image/webp` or `image/jpeg` body of at most
/// 512 KiB: the owning client's own thumbnail (204). It replaces the server-made one.
async fn upload(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, AppError> {
    let asset = find_asset(&state, &user.id, &id).await?;
    let declared = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(declared.as_deref(), Some("image/webp" | "image/jpeg")) {
        return Err(AppError::UnsupportedMediaTypeNamed(
            "a thumbnail is image/webp or image/jpeg".into(),
        ));
    }
    let bytes: Bytes = Limited::new(body, MAX_CLIENT_THUMBNAIL_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                AppError::TooLarge(format!(
                    "a thumbnail is at most {MAX_CLIENT_THUMBNAIL_BYTES} bytes"
                ))
            } else {
                AppError::bad_request(format!("request body: {e}"))
            }
        })?
        .to_bytes();
    if media::sniff_mime(&bytes) != declared.as_deref() {
        return Err(AppError::bad_request(
            "the body is not the image its Content-Type says",
        ));
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let thumb = Thumb::Client {
        asset_id: &asset.id,
    };
    state.blobs.write_thumb(thumb, &bytes).await?;
    if !db::set_thumbnail(&state.pool, &user.id, &asset.id, &sha256).await? {
        // Purged meanwhile.
        state.blobs.remove_thumb(thumb).await?;
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}
