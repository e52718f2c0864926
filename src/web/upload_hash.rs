//! A file's SHA-256 built from the chunks of its upload, for a file sent while it is
//! hashed (a large file the server cannot have; see `Engine::send_while_hashing`).
//!
//! Each chunk is read once in the hashing worker: into the worker's reused buffer, where
//! WebCrypto digests it for the chunk's `Upload-Checksum` and the file's SHA-256 takes
//! the same bytes. Hashing the file in a stream of its own beside the upload read every
//! byte twice, and on a 2-core machine the second read and its hash came on top of the
//! upload's time instead of beside it (`cargo xtask bench`, one 256 MiB file).
//!
//! The file's hash takes each byte once, in order: a chunk sent again (after a failure)
//! is not taken twice, and bytes the upload skipped (it resumed after a reload from the
//! server's offset) are read and taken first.

use std::cell::RefCell;
use std::ops::Range;

use sha2::{Digest, Sha256};
use web_sys::Blob;

use crate::small_map::SmallMap;

use super::hash::{
    hex_of, start_digest, subtle_crypto, whole_small_blob, BlobReader, ChunkInFlight,
    UnreadableFile, ONE_SHOT_BYTES, SLICE_BYTES,
};

/// The upload hashes one thread holds, by a number for each upload. Each is taken out
/// while a chunk is read into it and put back after. Any state is the hash of a prefix of
/// its file, so a request that finds none (its upload's first, or one overlapping another)
/// starts from the first byte and is still right.
#[derive(Default)]
pub struct UploadHashes(RefCell<SmallMap<u32, UploadHash>>);

impl UploadHashes {
    pub fn take(&self, number: u32) -> UploadHash {
        self.0.borrow_mut().remove(&number).unwrap_or_default()
    }

    pub fn put_back(&self, number: u32, hash: UploadHash) {
        self.0.borrow_mut().insert(number, hash);
    }

    /// The upload is over: its hash is dropped.
    pub fn end(&self, number: u32) {
        self.0.borrow_mut().remove(&number);
    }
}

/// The SHA-256 of the bytes of one file taken so far, from its start.
#[derive(Default)]
pub struct UploadHash {
    hasher: Sha256,
    /// Bytes taken so far: the file's `0..taken`.
    taken: u64,
    /// The reused buffer bytes are copied into wasm memory through, a slice at a time.
    scratch: Vec<u8>,
}

/// What one chunk gave.
pub struct ChunkHashed {
    /// The chunk's digest in the algorithm asked for, if one was.
    pub digest: Option<String>,
    /// The whole file's SHA-256, once every byte has been taken.
    pub file_sha256: Option<String>,
}

impl UploadHash {
    /// Reads bytes `range` of `file` once: their `algorithm` digest (a WebCrypto name),
    /// if asked for, and the file's hash takes those it has not taken yet. `None` when
    /// `stopped()` said so between slices.
    pub async fn chunk(
        &mut self,
        file: &Blob,
        range: Range<u64>,
        algorithm: Option<&str>,
        stopped: &dyn Fn() -> bool,
    ) -> Result<Option<ChunkHashed>, UnreadableFile> {
        // Other files' hashes in this worker wait meanwhile: the upload waits for this.
        let _in_flight = ChunkInFlight::start();
        if self.taken < range.start {
            let skipped = self.taken..range.start;
            if !self.read(file, skipped, stopped).await? {
                return Ok(None);
            }
        }
        let digest = match algorithm.filter(|_| range.end - range.start <= ONE_SHOT_BYTES) {
            Some(algorithm) => {
                let subtle = subtle_crypto()?;
                let chunk = slice(file, &range)?;
                let bytes = whole_small_blob(&chunk).await?;
                let digest = start_digest(&subtle, algorithm, &bytes)?;
                // Taken before the next await: the buffer is this worker's reused one.
                self.take_view(&bytes, range.start);
                Some(hex_of(digest).await?)
            }
            // Chunks that carry a checksum are never larger (see `Engine::send`).
            None => {
                if !self.read(file, range, stopped).await? {
                    return Ok(None);
                }
                None
            }
        };
        let file_sha256 = (self.taken == file.size() as u64)
            .then(|| format!("{:x}", self.hasher.clone().finalize()));
        Ok(Some(ChunkHashed {
            digest,
            file_sha256,
        }))
    }

    /// Streams bytes `range` of `file` a slice at a time into the file's hash (the part
    /// not taken yet). `false` when stopped.
    async fn read(
        &mut self,
        file: &Blob,
        range: Range<u64>,
        stopped: &dyn Fn() -> bool,
    ) -> Result<bool, UnreadableFile> {
        let mut reader = BlobReader::open(&slice(file, &range)?, SLICE_BYTES as u32)?;
        let mut at = range.start;
        while at < range.end {
            if stopped() {
                reader.cancel();
                return Ok(false);
            }
            let bytes = reader.fill().await?;
            if bytes.length() == 0 {
                return Err(UnreadableFile(format!(
                    "the file ended after {at} of {} bytes",
                    file.size() as u64
                )));
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.resize(bytes.length() as usize, 0);
            bytes.copy_to(&mut scratch);
            self.take(&scratch, at);
            self.scratch = scratch;
            at += bytes.length() as u64;
        }
        Ok(true)
    }

    /// Takes the bytes of `view` (which start at the file's offset `at`) not taken yet,
    /// copied into wasm memory a slice at a time.
    fn take_view(&mut self, view: &js_sys::Uint8Array, at: u64) {
        let end = at + view.length() as u64;
        let mut from = self.taken.max(at);
        let mut scratch = std::mem::take(&mut self.scratch);
        while from < end {
            let to = end.min(from + SLICE_BYTES);
            scratch.resize((to - from) as usize, 0);
            view.subarray((from - at) as u32, (to - at) as u32)
                .copy_to(&mut scratch);
            self.take(&scratch, from);
            from = to;
        }
        self.scratch = scratch;
    }

    /// Takes the part of `bytes` (which start at the file's offset `at`) past what was
    /// taken; bytes before it were taken already, and a gap cannot happen here.
    fn take(&mut self, bytes: &[u8], at: u64) {
        let end = at + bytes.len() as u64;
        if end <= self.taken || at > self.taken {
            return;
        }
        self.hasher.update(&bytes[(self.taken - at) as usize..]);
        self.taken = end;
    }
}

fn slice(file: &Blob, range: &Range<u64>) -> Result<Blob, UnreadableFile> {
    file.slice_with_f64_and_f64(range.start as f64, range.end as f64)
        .map_err(|e| UnreadableFile(crate::web::http::describe_js_error(&e)))
}
