//! Streaming SHA-256 of a `Blob` (a `File` is a `Blob`).
//!
//! The blob is read one slice at a time into a single reused buffer, so memory stays at
//! about one slice whatever the file's size. This runs in a Web Worker, or in the service
//! worker during a background sync; the page's main thread never hashes (see
//! `hash_worker`).

use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

/// 4 MiB: big enough that the per-slice promise overhead is negligible, small enough to
/// keep a worker's memory flat.
pub const SLICE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a file could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("could not read the file: {0} (was it moved or deleted after it was added?)")]
pub struct UnreadableFile(pub String);

/// Files up to this size are hashed in one call to the browser's native SHA-256
/// (WebCrypto `digest`), about three times faster than `sha2` compiled to wasm; larger
/// ones are streamed so memory stays bounded. Most photos are far below it.
pub const ONE_SHOT_BYTES: u64 = 16 * 1024 * 1024;

/// Computes the lowercase hex SHA-256 of `blob`, calling `on_progress` with the number
/// of bytes hashed (after each slice, or once at the end for a small file).
pub async fn sha256_of_blob(
    blob: &Blob,
    on_progress: impl FnMut(u64),
) -> Result<String, UnreadableFile> {
    let digest = sha256_of_blob_until(blob, on_progress, || false).await?;
    Ok(digest.unwrap_or_default())
}

/// [`sha256_of_blob`] that gives up between slices once `stopped()` says so (answering
/// `None`), so cancelling a 5 GB file frees its worker within one slice.
pub async fn sha256_of_blob_until(
    blob: &Blob,
    mut on_progress: impl FnMut(u64),
    stopped: impl Fn() -> bool,
) -> Result<Option<String>, UnreadableFile> {
    let size = blob.size() as u64;
    if size <= ONE_SHOT_BYTES {
        if let Some(digest) = native_sha256(blob).await? {
            on_progress(size);
            return Ok(Some(digest));
        }
    }
    let mut hasher = Sha256::new();
    let mut buffer = Vec::new();
    let mut offset = 0;
    while offset < size {
        if stopped() {
            return Ok(None);
        }
        let end = size.min(offset + SLICE_BYTES);
        let bytes = read_slice(blob, offset, end).await?;
        buffer.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut buffer);
        hasher.update(&buffer);
        offset = end;
        on_progress(offset);
    }
    Ok(Some(format!("{:x}", hasher.finalize())))
}

/// The SHA-256 of `blob` from WebCrypto, or `None` where `crypto.subtle` is missing
/// (insecure contexts).
async fn native_sha256(blob: &Blob) -> Result<Option<String>, UnreadableFile> {
    let subtle = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"subtle".into()))
        .ok()
        .filter(|s| !s.is_undefined());
    let Some(subtle) = subtle else {
        return Ok(None);
    };
    let describe = |e: JsValue| UnreadableFile(crate::web::http::describe_js_error(&e));
    let bytes = JsFuture::from(blob.array_buffer())
        .await
        .map_err(describe)?;
    let digest: js_sys::Function = js_sys::Reflect::get(&subtle, &"digest".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| UnreadableFile("crypto.subtle.digest is missing".into()))?;
    let promise = digest
        .call2(&subtle, &"SHA-256".into(), &bytes)
        .map_err(describe)?;
    let hash = JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(describe)?;
    let hex: String = js_sys::Uint8Array::new(&hash)
        .to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Some(hex))
}

pub(crate) async fn read_slice(
    blob: &Blob,
    start: u64,
    end: u64,
) -> Result<js_sys::Uint8Array, UnreadableFile> {
    let describe = |e: JsValue| UnreadableFile(crate::web::http::describe_js_error(&e));
    let slice = blob
        .slice_with_f64_and_f64(start as f64, end as f64)
        .map_err(describe)?;
    let buffer = JsFuture::from(slice.array_buffer())
        .await
        .map_err(describe)?;
    Ok(js_sys::Uint8Array::new(&buffer))
}

/// Hashes a `Blob` or `File` and resolves to its lowercase hex SHA-256.
/// `onProgress`, if given, is called with the bytes hashed so far.
#[wasm_bindgen(js_name = hashFile)]
pub async fn hash_file(
    blob: Blob,
    on_progress: Option<js_sys::Function>,
) -> Result<String, JsError> {
    sha256_of_blob(&blob, |done| {
        if let Some(f) = &on_progress {
            // A throwing progress callback must not abort the hash.
            let _ = f.call1(&JsValue::NULL, &JsValue::from_f64(done as f64));
        }
    })
    .await
    .map_err(|e| JsError::new(&e.to_string()))
}
