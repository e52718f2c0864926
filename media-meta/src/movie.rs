//! `moov/mvhd` of a QuickTime/MP4 file: when it was recorded (UTC) and how long it is.

use std::io::{self, Read, Seek, SeekFrom};

use crate::boxes::find_box;
use crate::{MediaMeta, Timestamp};

/// Seconds from 1904-01-01 (QuickTime's epoch) to 1970-01-01.
pub const QUICKTIME_EPOCH_OFFSET: i64 = 2_082_844_800;

pub fn read<R: Read + Seek>(file: &mut R) -> io::Result<MediaMeta> {
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
    let taken_at = created
        .filter(|&c| c > 0)
        .and_then(|c| i64::try_from(c).ok())
        .map(|c| c - QUICKTIME_EPOCH_OFFSET)
        // Before 1970 is a camera whose clock was never set.
        .filter(|&unix| unix >= 0)
        .and_then(|unix| Timestamp::from_unix_ms(unix.checked_mul(1000)?));
    let duration_ms = match (timescale, duration) {
        (Some(scale), Some(d)) if scale > 0 && d != u64::MAX && d != u64::from(u32::MAX) => {
            // d * 1000 / scale without u128 (whose division costs the wasm a kilobyte).
            (d / scale)
                .checked_mul(1000)
                .and_then(|ms| ms.checked_add(d % scale * 1000 / scale))
                .and_then(|ms| i64::try_from(ms).ok())
        }
        _ => None,
    };
    Ok(MediaMeta {
        taken_at,
        duration_ms,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    /// A version 0 `mvhd` body: created at `unix` seconds, `seconds` long at timescale 600.
    pub fn mvhd(unix: i64, seconds: u32) -> Vec<u8> {
        let created = (unix + QUICKTIME_EPOCH_OFFSET) as u32;
        let mut mvhd = vec![0u8; 4];
        mvhd.extend_from_slice(&created.to_be_bytes());
        mvhd.extend_from_slice(&created.to_be_bytes());
        mvhd.extend_from_slice(&600u32.to_be_bytes());
        mvhd.extend_from_slice(&(seconds * 600).to_be_bytes());
        mvhd.extend_from_slice(&[0u8; 80]);
        mvhd
    }

    #[test]
    fn reads_creation_time_and_duration_from_mvhd() {
        // 2024-05-01T12:00:00Z, 90 s.
        let mut file = mp4_box(b"ftyp", b"isom\0\0\0\0isom");
        file.extend(mp4_box(b"mdat", &[7u8; 100]));
        file.extend(mp4_box(
            b"moov",
            &mp4_box(b"mvhd", &mvhd(1_714_564_800, 90)),
        ));
        let meta = crate::read_meta(&mut std::io::Cursor::new(file), "video/mp4").unwrap();
        assert_eq!(
            meta.taken_at.map(Timestamp::to_rfc3339).as_deref(),
            Some("2024-05-01T12:00:00.000Z")
        );
        assert_eq!(meta.duration_ms, Some(90_000));
    }

    #[test]
    fn an_unset_clock_and_an_unknown_duration_are_none() {
        let mut body = mvhd(0, 1);
        body[4..8].copy_from_slice(&0u32.to_be_bytes());
        body[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        let file = mp4_box(b"moov", &mp4_box(b"mvhd", &body));
        let meta = crate::read_meta(&mut std::io::Cursor::new(file), "video/quicktime").unwrap();
        assert_eq!(meta, MediaMeta::default());
    }
}
