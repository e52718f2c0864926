//! What a photo or video file says about itself: its media type (by magic numbers), when a
//! photo was taken (EXIF `DateTimeOriginal` with `OffsetTimeOriginal`) and when a video was
//! recorded and how long it is (QuickTime/MP4 `moov/mvhd`).
//!
//! One parser for both sides of ferry. The browser engine reads it before it creates an
//! upload, because plain tus servers (npm `@tus/server`) never look inside a file and a
//! catalog can show the real date before the upload ends; ferry-server reads it from the
//! stored bytes when a client said nothing. Being the same code over the same bytes, the
//! two always agree.
//!
//! [`read_meta`] works on any `Read + Seek` (the server's files). [`Probe`] drives the same
//! parser over a source that can only be read asynchronously (a browser `Blob`): it asks
//! for 64 KiB blocks one at a time and never for more than a few of them, so a MOV whose
//! `moov` box is at the end of a 4 GB file costs two or three small reads, not the file.
//!
//! No `chrono` or `time`: the engine ships as wasm, and a date here needs only the civil
//! calendar (see `timestamp`).

use std::io::{self, Read, Seek};

mod boxes;
mod containers;
mod movie;
mod photo;
mod probe;
mod tiff;
mod timestamp;

pub use probe::{Outcome, Probe, Step};

/// For the fuzz targets: the parts under test, reachable from outside the crate.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::containers::exif_tiff;
    pub use crate::photo::{
        taken_at_by_kamadak_exif, taken_at_in_tiff, taken_at_in_tiff_read_whole,
    };
}
pub use timestamp::Timestamp;

/// What was read from a file; each field is `None` when the file does not say (or says
/// something no clock could mean).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaMeta {
    /// When the photo was taken or the video recorded, with the offset the file gave.
    pub taken_at: Option<Timestamp>,
    /// A video's length in milliseconds.
    pub duration_ms: Option<i64>,
}

/// How many bytes [`sniff_mime`] looks at.
pub const HEAD_BYTES: usize = 16;

/// The media type of a file from its first bytes, for the types ferry cares about.
pub fn sniff_mime(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some(match &head[8..12] {
            b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1" => "image/heic",
            b"avif" | b"avis" => "image/avif",
            b"qt  " => "video/quicktime",
            _ => "video/mp4",
        });
    }
    None
}

/// Reads what it can from a file (from its start), as the media type `mime_type` says
/// (`video/*`: the movie header; `image/*`: EXIF, whatever the container). Unknown or
/// malformed metadata is `None`, not an error; an error is the reader's own.
pub fn read_meta<R: Read + Seek>(file: &mut R, mime_type: &str) -> io::Result<MediaMeta> {
    if mime_type.starts_with("video/") {
        movie::read(file)
    } else if mime_type.starts_with("image/") {
        Ok(MediaMeta {
            taken_at: photo::read(file)?,
            duration_ms: None,
        })
    } else {
        Ok(MediaMeta::default())
    }
}

/// Parses a client's `duration`: `H:MM:SS[.fff]`, `MM:SS[.fff]` or seconds (`12.5`).
/// Returns milliseconds.
pub fn parse_duration(value: &str) -> Option<i64> {
    let value = value.trim();
    let mut seconds = 0f64;
    for part in value.split(':') {
        let n: f64 = part.trim().parse().ok()?;
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        seconds = seconds * 60.0 + n;
    }
    let ms = (seconds * 1000.0).round();
    (ms < 1e15).then_some(ms as i64)
}

/// Milliseconds as `H:MM:SS.mmm` (what Immich-style clients send and show).
pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0:00:05.000000"), Some(5000));
        assert_eq!(parse_duration("1:02:03.5"), Some(3_723_500));
        assert_eq!(parse_duration("12.25"), Some(12_250));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(format_duration(3_723_500), "1:02:03.500");
        assert_eq!(parse_duration(&format_duration(90_000)), Some(90_000));
    }

    #[test]
    fn sniffs_common_types() {
        assert_eq!(sniff_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            sniff_mime(b"\0\0\0\x18ftypheic\0\0\0\0"),
            Some("image/heic")
        );
        assert_eq!(
            sniff_mime(b"\0\0\0\x14ftypqt  \0\0\0\0"),
            Some("video/quicktime")
        );
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypisom\0\0\0\0"), Some("video/mp4"));
        assert_eq!(sniff_mime(b"hello"), None);
    }
}
