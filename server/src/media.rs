//! What the stored bytes say about themselves, read by the `ferry-media-meta` crate, the
//! same parser the browser engine runs before it creates an upload (so a ferry client's
//! `fileCreatedAt` and what the server would read agree). Only used when the client did
//! not say; never trusted for anything but display and sorting.

use std::io::{self, Read, Seek};

pub use media_meta::{format_duration, parse_duration, sniff_mime};
use time::OffsetDateTime;

use crate::db::MediaMeta;
use crate::timestamps;

/// The first bytes of a file (fewer if it is shorter), enough for [`sniff_mime`].
pub fn read_head(file: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(media_meta::HEAD_BYTES);
    file.take(media_meta::HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// Reads what it can from a stored file (from its start); never fails (unknown is `None`).
/// The date is kept as the catalog keeps every time: UTC (see `timestamps`). Blocking.
pub fn read_meta<R: Read + Seek>(file: &mut R, mime_type: &str) -> MediaMeta {
    let meta = media_meta::read_meta(file, mime_type).unwrap_or_else(|e| {
        tracing::debug!(error = %e, "no metadata read");
        Default::default()
    });
    MediaMeta {
        created_at: meta.taken_at.and_then(|t| {
            let nanos = i128::from(t.unix_ms()) * 1_000_000;
            OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .ok()
                .map(timestamps::format)
        }),
        duration_ms: meta.duration_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photos_own_offset_is_stored_as_utc_and_agrees_with_what_a_client_sends() {
        let t = media_meta::Timestamp::from_civil(2024, 5, 1, 14, 0, 0, 0, Some(120)).unwrap();
        let stored = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.unix_ms()) * 1_000_000)
            .map(timestamps::format)
            .unwrap();
        assert_eq!(stored, "2024-05-01T12:00:00.000Z");
        // What the engine sends in `fileCreatedAt` is read back as the same moment.
        assert_eq!(timestamps::parse_client(&t.to_rfc3339()), Some(stored));
    }
}
