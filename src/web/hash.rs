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

/// 2 MiB: the per-slice promise overhead stays small, and the renderer's memory stays low.
/// Measured with `cargo xtask bench` (Chromium 148, 2-core machine, medians of 3): backing
/// up a 4 GiB file took the renderer 98 MiB above idle with 4 MiB slices, 63 MiB with
/// 1 MiB and 61 MiB with 2 MiB. Two workers hashed 340 MiB/s with 4 MiB slices, 284 with
/// 1 MiB (0.63× linear, against one worker's 267) and 389 with 2 MiB (0.84×, against
/// one worker's 231) when measured alone; in the full benchmark run that followed, 300
/// against one worker's 223 (0.67×).
pub const SLICE_BYTES: u64 = 2 * 1024 * 1024;

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
        let digest = native_digest(blob, SHA256).await?;
        on_progress(size);
        return Ok(Some(digest));
    }
    let mut hasher = Sha256::new();
    let mut buffer = Vec::new();
    let mut reader = BlobReader::open(blob, SLICE_BYTES as u32)?;
    let mut offset = 0;
    while offset < size {
        // A chunk digest waits for its upload's next request; this file's hash can wait.
        let_messages_in().await;
        give_way_to_chunks().await;
        if stopped() {
            reader.cancel();
            return Ok(None);
        }
        let bytes = reader.fill().await?;
        if bytes.length() == 0 {
            return Err(UnreadableFile(format!(
                "the file ended after {offset} of {size} bytes"
            )));
        }
        buffer.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut buffer);
        hasher.update(&buffer);
        offset += bytes.length() as u64;
        on_progress(offset);
    }
    Ok(Some(format!("{:x}", hasher.finalize())))
}

/// Reads a blob front to back into one reused buffer, through a BYOB ("bring your own
/// buffer") reader of `blob.stream()`.
///
/// Why not `blob.slice(..).arrayBuffer()` per slice: each call allocates a new buffer,
/// and a worker's garbage collector frees them only lazily. Hashing 1 GiB that way left
/// the renderer 130–190 MiB above idle (ferry's worker and hash-wasm's alike); with one
/// reused buffer a worker holds one slice, whatever the file's size.
pub(super) struct BlobReader {
    reader: web_sys::ReadableStreamByobReader,
    /// The reused buffer. A BYOB read transfers it and hands it back in its result.
    buffer: Option<js_sys::ArrayBuffer>,
    capacity: u32,
    done: bool,
}

impl BlobReader {
    pub(super) fn open(blob: &Blob, capacity: u32) -> Result<Self, UnreadableFile> {
        let options = web_sys::ReadableStreamGetReaderOptions::new();
        options.set_mode(web_sys::ReadableStreamReaderMode::Byob);
        let reader = blob
            .stream()
            .get_reader_with_options(&options)
            .dyn_into::<web_sys::ReadableStreamByobReader>()
            .map_err(|e| UnreadableFile(crate::web::http::describe_js_error(&e)))?;
        Ok(Self {
            reader,
            buffer: None,
            capacity,
            done: false,
        })
    }

    /// The next bytes of the blob, up to the capacity: a view of the reused buffer,
    /// valid until the next call. Empty at the end.
    pub(super) async fn fill(&mut self) -> Result<js_sys::Uint8Array, UnreadableFile> {
        let describe = |e: JsValue| UnreadableFile(crate::web::http::describe_js_error(&e));
        let mut buffer = self
            .buffer
            .take()
            .unwrap_or_else(|| js_sys::ArrayBuffer::new(self.capacity));
        let mut filled = 0;
        while filled < self.capacity && !self.done {
            let view = js_sys::Uint8Array::new_with_byte_offset_and_length(
                &buffer,
                filled,
                self.capacity - filled,
            );
            let result = JsFuture::from(self.reader.read_with_array_buffer_view(&view))
                .await
                .map_err(describe)?;
            self.done = js_sys::Reflect::get(&result, &"done".into())
                .map(|d| d.is_truthy())
                .unwrap_or(true);
            let value = js_sys::Reflect::get(&result, &"value".into()).unwrap_or_default();
            match value.dyn_into::<js_sys::Uint8Array>() {
                Ok(read) => {
                    buffer = read.buffer();
                    filled += read.byte_length();
                }
                // No buffer to take back: the stream was cancelled under us.
                Err(_) => return Err(UnreadableFile("the file's stream was closed".into())),
            }
        }
        let bytes = js_sys::Uint8Array::new_with_byte_offset_and_length(&buffer, 0, filled);
        self.buffer = Some(buffer);
        Ok(bytes)
    }

    pub(super) fn cancel(&self) {
        let _ = self.reader.cancel();
    }
}

/// The `algorithm` digest (a WebCrypto name: "SHA-256", "SHA-1") of a blob of at most
/// `ONE_SHOT_BYTES`, from WebCrypto.
async fn native_digest(blob: &Blob, algorithm: &str) -> Result<String, UnreadableFile> {
    let subtle = subtle_crypto()?;
    let bytes = whole_small_blob(blob).await?;
    let digest = start_digest(&subtle, algorithm, &bytes)?;
    hex_of(digest).await
}

/// WebCrypto's `crypto.subtle`. Every context ferry runs in has it: it needs a secure
/// context (https or localhost) for IndexedDB's durability, service workers and
/// `crypto.randomUUID` alike.
pub(super) fn subtle_crypto() -> Result<JsValue, UnreadableFile> {
    js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"subtle".into()))
        .ok()
        .filter(|s| !s.is_undefined())
        .ok_or_else(|| UnreadableFile("no WebCrypto here: ferry needs https".into()))
}

/// Starts WebCrypto's `algorithm` digest of `bytes`. It copies them when called, so
/// their buffer may be reused as soon as this returns.
pub(super) fn start_digest(
    subtle: &JsValue,
    algorithm: &str,
    bytes: &js_sys::Uint8Array,
) -> Result<js_sys::Promise, UnreadableFile> {
    let describe = |e: JsValue| UnreadableFile(crate::web::http::describe_js_error(&e));
    let digest: js_sys::Function = js_sys::Reflect::get(subtle, &"digest".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| UnreadableFile("crypto.subtle.digest is missing".into()))?;
    let promise = digest
        .call2(subtle, &algorithm.into(), bytes)
        .map_err(describe)?;
    Ok(js_sys::Promise::from(promise))
}

/// The lowercase hex of the digest `digest` resolves to.
pub(super) async fn hex_of(digest: js_sys::Promise) -> Result<String, UnreadableFile> {
    let hash = JsFuture::from(digest)
        .await
        .map_err(|e| UnreadableFile(crate::web::http::describe_js_error(&e)))?;
    Ok(js_sys::Uint8Array::new(&hash)
        .to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

thread_local! {
    /// Chunk digests this thread is working on (see `give_way_to_chunks`).
    static CHUNKS_IN_FLIGHT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A chunk digest this thread is working on, from `start` until dropped.
pub(super) struct ChunkInFlight;

impl ChunkInFlight {
    pub(super) fn start() -> Self {
        CHUNKS_IN_FLIGHT.with(|c| c.set(c.get() + 1));
        Self
    }
}

impl Drop for ChunkInFlight {
    fn drop(&mut self) {
        CHUNKS_IN_FLIGHT.with(|c| c.set(c.get() - 1));
    }
}

/// Waits while this thread digests upload chunks. An upload waits for each chunk's
/// digest before it sends the chunk, while a whole file's hash streaming in the same
/// worker is needed only when it ends: so once a chunk's request is in (see
/// `let_messages_in`), the file's hash gives way until the digest is done.
async fn give_way_to_chunks() {
    while CHUNKS_IN_FLIGHT.with(|c| c.get()) > 0 {
        gloo_timers::future::TimeoutFuture::new(1).await;
    }
}

thread_local! {
    static TURNS: Option<web_sys::MessageChannel> = web_sys::MessageChannel::new().ok();
}

/// Lets the messages already posted to this worker be handled before the next slice: a
/// message to itself through a `MessageChannel` is queued behind them. Without it a
/// streaming hash kept the worker's message queue waiting: an upload's request for a
/// 16 MiB chunk's digest was handled only as a 256 MiB file's hash neared its end (850 ms,
/// against 50 to 80 ms alone), and a cancel waited the same way. `scheduler.yield()` did
/// not let them in; a timer would cost up to 4 ms a slice.
async fn let_messages_in() {
    let Some(promise) = TURNS.with(|channel| {
        let channel = channel.as_ref()?;
        Some(js_sys::Promise::new(&mut |resolve, _| {
            channel.port1().set_onmessage(Some(&resolve));
            let _ = channel.port2().post_message(&JsValue::NULL);
        }))
    }) else {
        return;
    };
    let _ = JsFuture::from(promise).await;
}

/// The digest of one chunk of a file for its `Upload-Checksum`, in `algorithm` (a
/// WebCrypto name). Chunks that carry a checksum are at most `ONE_SHOT_BYTES` (see
/// `Engine::send`), so this is one native call, off the worker's own thread, where
/// another file's SHA-256 may be streaming meanwhile.
pub async fn chunk_digest(blob: &Blob, algorithm: &str) -> Result<String, UnreadableFile> {
    let _in_flight = ChunkInFlight::start();
    native_digest(blob, algorithm).await
}

/// WebCrypto's name of SHA-256.
pub const SHA256: &str = "SHA-256";

thread_local! {
    /// The buffer small files are read into for the one-shot digest, reused from file to
    /// file (see `BlobReader` for why).
    static SMALL_FILE_BUFFER: std::cell::RefCell<Option<js_sys::ArrayBuffer>> =
        const { std::cell::RefCell::new(None) };
}

/// All of a blob of at most `ONE_SHOT_BYTES`, as a view of this worker's reused buffer.
/// `digest` copies its input when called, so the buffer is free again right after.
pub(super) async fn whole_small_blob(blob: &Blob) -> Result<js_sys::Uint8Array, UnreadableFile> {
    // The buffer grows to the largest small file seen, in whole MiB, never past
    // `ONE_SHOT_BYTES`.
    let reused = SMALL_FILE_BUFFER
        .with(|b| b.borrow_mut().take())
        .filter(|b| b.byte_length() as f64 >= blob.size());
    let capacity = reused.as_ref().map_or_else(
        || (blob.size() as u64).div_ceil(1 << 20).max(1) << 20,
        |b| b.byte_length() as u64,
    );
    let mut reader = BlobReader::open(blob, capacity.min(ONE_SHOT_BYTES) as u32)?;
    reader.buffer = reused;
    let result = reader.fill().await;
    SMALL_FILE_BUFFER.with(|b| *b.borrow_mut() = reader.buffer.take());
    let bytes = result?;
    if (bytes.length() as f64) < blob.size() {
        return Err(UnreadableFile(format!(
            "the file ended after {} of {} bytes",
            bytes.length(),
            blob.size() as u64
        )));
    }
    Ok(bytes)
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
