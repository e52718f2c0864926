//! Reads a file's metadata (`crate::media`) from the `Blob` itself, a few 64 KiB slices
//! at most, by driving `ferry-media-meta`'s sans-IO probe with async `Blob.slice` reads.
//! Async rather than `FileReaderSync` in the hash worker: it works wherever the engine
//! runs (page, worker, or service worker, which has no `FileReaderSync`), and the runner
//! asks for it only when it is about to create an upload, so a duplicate, a cached or
//! resumed upload costs no read, and a large file sent while it is hashed has its date
//! before its creation request.

use media_meta::{Outcome, Probe, Step};
use web_sys::Blob;

use crate::asset::Asset;

/// Reads `file`'s metadata into `asset.media`, unless it was read before.
pub(crate) async fn read_once(asset: &mut Asset, file: &Blob) {
    if asset.media.is_none() {
        asset.media = Some(read(file, &asset.mime).await.into());
    }
}

async fn read(file: &Blob, declared_mime: &str) -> Outcome {
    let mut probe = Probe::new(file.size() as u64, declared_mime);
    loop {
        match probe.next_step() {
            Step::Done(outcome) => return outcome,
            Step::Read(range) => {
                match super::hash::read_slice(file, range.start, range.end).await {
                    Ok(bytes) => probe.supply(range.start, bytes.to_vec()),
                    // Unreadable now: the upload finds out and says so; the server decides.
                    Err(_) => return probe.give_up(),
                }
            }
        }
    }
}
