//! What the stored bytes say about themselves: the media type (by magic numbers), when a
//! photo was taken (EXIF `DateTimeOriginal` + `OffsetTimeOriginal`) and when a video was
//! recorded and how long it is (QuickTime/MP4 `moov/mvhd`). Only used when the client did
//! not say; never trusted for anything but display and sorting.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::db::MediaMeta;
use crate::timestamps;

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

/// The first bytes of a file (fewer if it is shorter).
pub fn read_head(file: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(16);
    file.take(16).read_to_end(&mut head)?;
    Ok(head)
}

/// Reads what it can from a stored file (from its start); never fails (unknown is `None`).
/// Blocking.
pub fn read_meta<R: Read + Seek>(file: &mut R, mime_type: &str) -> MediaMeta {
    let is_video = mime_type.starts_with("video/");
    let result = if is_video {
        read_movie(file)
    } else if mime_type.starts_with("image/") {
        read_exif(file).map(|created_at| MediaMeta {
            created_at,
            duration_ms: None,
        })
    } else {
        Ok(MediaMeta::default())
    };
    result.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "no metadata read");
        MediaMeta::default()
    })
}

/// EXIF `DateTimeOriginal` (else `DateTimeDigitized`, else `DateTime`), with
/// `OffsetTimeOriginal` (etc.) if present; without an offset the time is taken as UTC.
fn read_exif<R: Read + Seek>(file: &mut R) -> io::Result<Option<String>> {
    use exif::{In, Tag, Value};

    let mut reader = BufReader::new(file);
    let exif = match exif::Reader::new().read_from_container(&mut reader) {
        Ok(exif) => exif,
        Err(exif::Error::Io(e)) => return Err(e),
        Err(_) => return Ok(None),
    };
    let ascii = |tag: Tag| -> Option<Vec<u8>> {
        match &exif.get_field(tag, In::PRIMARY)?.value {
            Value::Ascii(parts) => parts.first().cloned(),
            _ => None,
        }
    };
    for (date_tag, offset_tag, subsec_tag) in [
        (
            Tag::DateTimeOriginal,
            Tag::OffsetTimeOriginal,
            Tag::SubSecTimeOriginal,
        ),
        (
            Tag::DateTimeDigitized,
            Tag::OffsetTimeDigitized,
            Tag::SubSecTimeDigitized,
        ),
        (Tag::DateTime, Tag::OffsetTime, Tag::SubSecTime),
    ] {
        let Some(mut dt) = ascii(date_tag).and_then(|v| exif::DateTime::from_ascii(&v).ok()) else {
            continue;
        };
        if let Some(offset) = ascii(offset_tag) {
            let _ = dt.parse_offset(&offset);
        }
        if let Some(subsec) = ascii(subsec_tag) {
            let _ = dt.parse_subsec(&subsec);
        }
        if let Some(t) = exif_to_utc(&dt) {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

fn exif_to_utc(dt: &exif::DateTime) -> Option<String> {
    let date =
        Date::from_calendar_date(i32::from(dt.year), Month::try_from(dt.month).ok()?, dt.day)
            .ok()?;
    let time = Time::from_hms_nano(
        dt.hour,
        dt.minute,
        dt.second,
        dt.nanosecond.unwrap_or(0).min(999_999_999),
    )
    .ok()?;
    // An offset no clock has (`+99:99`) is dropped, not the date: the time is taken as UTC.
    let offset = dt
        .offset
        .and_then(|minutes| UtcOffset::from_whole_seconds(i32::from(minutes) * 60).ok())
        .unwrap_or(UtcOffset::UTC);
    Some(timestamps::format(
        PrimitiveDateTime::new(date, time).assume_offset(offset),
    ))
}

/// Seconds from 1904-01-01 (QuickTime's epoch) to 1970-01-01.
const QUICKTIME_EPOCH_OFFSET: i64 = 2_082_844_800;

/// `moov/mvhd` of a QuickTime/MP4 file: creation time (UTC) and duration.
fn read_movie<R: Read + Seek>(file: &mut R) -> io::Result<MediaMeta> {
    let len = file.seek(SeekFrom::End(0))?;
    let Some((moov_start, moov_end)) = find_box(file, 0, len, b"moov")? else {
        return Ok(MediaMeta::default());
    };
    let Some((mvhd_start, mvhd_end)) = find_box(file, moov_start, moov_end, b"mvhd")? else {
        return Ok(MediaMeta::default());
    };
    let mut body = vec![0u8; (mvhd_end - mvhd_start).min(128) as usize];
    file.seek(SeekFrom::Start(mvhd_start))?;
    file.read_exact(&mut body)?;
    let be32 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from(u32::from_be_bytes(
            b.get(at..at + 4)?.try_into().ok()?,
        )))
    };
    let be64 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let (created, timescale, duration) = match body.first() {
        Some(0) => (be32(&body, 4), be32(&body, 12), be32(&body, 16)),
        Some(1) => (be64(&body, 4), be32(&body, 20), be64(&body, 24)),
        _ => (None, None, None),
    };
    let created_at = created
        .filter(|&c| c > 0)
        .and_then(|c| i64::try_from(c).ok())
        .and_then(|c| OffsetDateTime::from_unix_timestamp(c - QUICKTIME_EPOCH_OFFSET).ok())
        .filter(|t| t.year() >= 1970)
        .map(timestamps::format);
    let duration_ms = match (timescale, duration) {
        (Some(scale), Some(d)) if scale > 0 && d != u64::MAX && d != u64::from(u32::MAX) => {
            i64::try_from(u128::from(d) * 1000 / u128::from(scale)).ok()
        }
        _ => None,
    };
    Ok(MediaMeta {
        created_at,
        duration_ms,
    })
}

/// The body `(start, end)` of the first box of type `kind` among the boxes in
/// `start..end`. Looks at no more than 1024 boxes.
fn find_box<R: Read + Seek>(
    file: &mut R,
    mut at: u64,
    end: u64,
    kind: &[u8; 4],
) -> io::Result<Option<(u64, u64)>> {
    for _ in 0..1024 {
        if at + 8 > end {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(at))?;
        let mut header = [0u8; 16];
        file.read_exact(&mut header[..8])?;
        let size32 = u32::from_be_bytes(header[..4].try_into().expect("4 bytes"));
        let (size, header_len) = match size32 {
            0 => (end - at, 8),
            1 => {
                if at + 16 > end {
                    return Ok(None);
                }
                file.read_exact(&mut header[8..16])?;
                (
                    u64::from_be_bytes(header[8..16].try_into().expect("8 bytes")),
                    16,
                )
            }
            n => (u64::from(n), 8),
        };
        if size < header_len || at.saturating_add(size) > end {
            return Ok(None);
        }
        if &header[4..8] == kind {
            return Ok(Some((at + header_len, at + size)));
        }
        at += size;
    }
    Ok(None)
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

/// Milliseconds as `H:MM:SS.mmm` (what Immich-style clients show).
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
    }

    #[test]
    fn an_exif_offset_out_of_range_keeps_the_date_as_utc() {
        let mut dt = exif::DateTime::from_ascii(b"2024:05:01 12:00:00").unwrap();
        dt.offset = Some(99 * 60 + 99); // "+99:99"
        assert_eq!(
            exif_to_utc(&dt).as_deref(),
            Some("2024-05-01T12:00:00.000Z")
        );
        dt.offset = Some(120);
        assert_eq!(
            exif_to_utc(&dt).as_deref(),
            Some("2024-05-01T10:00:00.000Z")
        );
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

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn reads_creation_time_and_duration_from_mvhd() {
        // 2024-05-01T12:00:00Z, 90 s at timescale 600.
        let created = (1_714_564_800 + QUICKTIME_EPOCH_OFFSET) as u32;
        let mut mvhd = vec![0u8; 4];
        mvhd.extend_from_slice(&created.to_be_bytes());
        mvhd.extend_from_slice(&created.to_be_bytes());
        mvhd.extend_from_slice(&600u32.to_be_bytes());
        mvhd.extend_from_slice(&(90 * 600u32).to_be_bytes());
        mvhd.extend_from_slice(&[0u8; 80]);
        let mut file = mp4_box(b"ftyp", b"isom\0\0\0\0isom");
        file.extend(mp4_box(b"mdat", &[7u8; 100]));
        file.extend(mp4_box(b"moov", &mp4_box(b"mvhd", &mvhd)));
        let meta = read_meta(&mut std::io::Cursor::new(file), "video/mp4");
        assert_eq!(meta.created_at.as_deref(), Some("2024-05-01T12:00:00.000Z"));
        assert_eq!(meta.duration_ms, Some(90_000));
    }
}
