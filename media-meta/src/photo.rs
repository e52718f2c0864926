//! When a photo was taken, from its EXIF: `DateTimeOriginal` (else `DateTimeDigitized`,
//! else `DateTime`) with `OffsetTimeOriginal` (etc.) and the sub-seconds, if present.
//! Without an offset the time is taken as UTC.

use std::io::{self, Read, Seek};

use crate::tiff::{self, Ifd, TextFields};
use crate::{containers, Timestamp};

pub fn read<R: Read + Seek>(file: &mut R) -> io::Result<Option<Timestamp>> {
    match containers::exif_tiff(file) {
        Ok(Some(data)) => Ok(taken_at_in_tiff(&data)),
        Ok(None) => Ok(None),
        // A file cut short says nothing, like kamadak-exif's "Broken JPEG file".
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// The first of the original's, the digitized one's and the file's dates that is one, with
/// the offset and sub-seconds that go with it.
fn taken_at(fields: &TextFields) -> Option<Timestamp> {
    [
        (
            (Ifd::Exif, tiff::DATE_TIME_ORIGINAL),
            tiff::OFFSET_TIME_ORIGINAL,
            tiff::SUB_SEC_TIME_ORIGINAL,
        ),
        (
            (Ifd::Exif, tiff::DATE_TIME_DIGITIZED),
            tiff::OFFSET_TIME_DIGITIZED,
            tiff::SUB_SEC_TIME_DIGITIZED,
        ),
        (
            (Ifd::First, tiff::DATE_TIME),
            tiff::OFFSET_TIME,
            tiff::SUB_SEC_TIME,
        ),
    ]
    .into_iter()
    .find_map(|((ifd, date_tag), offset_tag, subsec_tag)| {
        let mut dt = exif::DateTime::from_ascii(fields.get(ifd, date_tag)?).ok()?;
        if let Some(offset) = fields.get(Ifd::Exif, offset_tag) {
            let _ = dt.parse_offset(offset);
        }
        if let Some(subsec) = fields.get(Ifd::Exif, subsec_tag) {
            let _ = dt.parse_subsec(subsec);
        }
        from_exif(&dt)
    })
}

fn from_exif(dt: &exif::DateTime) -> Option<Timestamp> {
    let ms = dt.nanosecond.unwrap_or(0).min(999_999_999) / 1_000_000;
    Timestamp::from_civil(
        i64::from(dt.year),
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        ms as u16,
        dt.offset,
    )
}

/// A photo's date as kamadak-exif's own reader finds it in `tiff` (every IFD parsed into
/// typed fields), the way ferry read it before `tiff.rs`: `None` when that reader gives up
/// on the TIFF data. For the test and the fuzz target that hold [`read`] to it.
#[doc(hidden)]
pub fn taken_at_by_kamadak_exif(tiff: &[u8]) -> Option<Option<Timestamp>> {
    use exif::{In, Tag, Value};
    let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
    let ascii = |tag: Tag| -> Option<&[u8]> {
        match &exif.get_field(tag, In::PRIMARY)?.value {
            Value::Ascii(parts) => parts.first().map(Vec::as_slice),
            _ => None,
        }
    };
    Some(
        [
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
        ]
        .into_iter()
        .find_map(|(date_tag, offset_tag, subsec_tag)| {
            let mut dt = exif::DateTime::from_ascii(ascii(date_tag)?).ok()?;
            if let Some(offset) = ascii(offset_tag) {
                let _ = dt.parse_offset(offset);
            }
            if let Some(subsec) = ascii(subsec_tag) {
                let _ = dt.parse_subsec(subsec);
            }
            from_exif(&dt)
        }),
    )
}

/// A photo's date as [`read`] finds it in `tiff`, the EXIF's TIFF data.
#[doc(hidden)]
pub fn taken_at_in_tiff(tiff: &[u8]) -> Option<Timestamp> {
    tiff::text_fields(tiff).and_then(|fields| taken_at(&fields))
}

/// [`taken_at_in_tiff`], or `None` where it left EXIF IFDs unread (a TIFF of many
/// pointers), so that it cannot be held to kamadak-exif's reader, which reads them all.
#[doc(hidden)]
pub fn taken_at_in_tiff_read_whole(tiff: &[u8]) -> Option<Option<Timestamp>> {
    match tiff::text_fields(tiff) {
        Some(fields) if fields.left_exif_ifds_unread => None,
        fields => Some(fields.and_then(|fields| taken_at(&fields))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::containers::{APP1, EOI, EXIF_ID, SOI, SOS};
    use std::io::{Cursor, SeekFrom};

    /// A little-endian TIFF with an EXIF IFD holding these ASCII fields (tag, text).
    pub fn tiff(fields: &[(u16, &str)]) -> Vec<u8> {
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        // IFD0: one entry, the pointer to the EXIF IFD (at 8 + 2 + 12 + 4 = 26).
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&0x8769u16.to_le_bytes());
        t.extend_from_slice(&4u16.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&26u32.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        let values_at = 26 + 2 + fields.len() * 12 + 4;
        let mut values = Vec::new();
        t.extend_from_slice(&(fields.len() as u16).to_le_bytes());
        for (tag, text) in fields {
            let mut v = text.as_bytes().to_vec();
            v.push(0);
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&2u16.to_le_bytes());
            t.extend_from_slice(&(v.len() as u32).to_le_bytes());
            if v.len() <= 4 {
                v.resize(4, 0);
                t.extend_from_slice(&v);
            } else {
                t.extend_from_slice(&((values_at + values.len()) as u32).to_le_bytes());
                values.extend_from_slice(&v);
            }
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend(values);
        t
    }

    /// A JPEG: SOI, an APP0, APP1 Exif with `fields`, SOS and `scan` bytes of image data.
    pub fn jpeg(fields: &[(u16, &str)], scan: usize) -> Vec<u8> {
        let mut j = vec![0xFF, SOI, 0xFF, 0xE0, 0, 16];
        j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let mut app1 = EXIF_ID.to_vec();
        app1.extend(tiff(fields));
        j.extend_from_slice(&[0xFF, APP1]);
        j.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        j.extend(app1);
        j.extend_from_slice(&[0xFF, SOS, 0, 2]);
        j.extend(std::iter::repeat_n(0x55, scan));
        j.extend_from_slice(&[0xFF, EOI]);
        j
    }

    pub const DATE: u16 = 0x9003;
    pub const OFFSET: u16 = 0x9011;
    pub const SUBSEC: u16 = 0x9291;

    fn read_jpeg(bytes: Vec<u8>) -> Option<String> {
        read(&mut Cursor::new(bytes))
            .unwrap()
            .map(|t| t.to_rfc3339())
    }

    #[test]
    fn reads_date_time_original_with_its_offset_and_subseconds() {
        let fields = [
            (DATE, "2024:05:01 14:00:00"),
            (OFFSET, "+02:00"),
            (SUBSEC, "25"),
        ];
        assert_eq!(
            read_jpeg(jpeg(&fields, 100)).as_deref(),
            Some("2024-05-01T14:00:00.250+02:00")
        );
        let t = read(&mut Cursor::new(jpeg(&fields, 0))).unwrap().unwrap();
        assert_eq!(
            Timestamp::from_unix_ms(t.unix_ms()).unwrap().to_rfc3339(),
            "2024-05-01T12:00:00.250Z"
        );
    }

    #[test]
    fn without_an_offset_the_time_is_utc_and_a_broken_offset_is_dropped() {
        assert_eq!(
            read_jpeg(jpeg(&[(DATE, "2024:05:01 12:00:00")], 10)).as_deref(),
            Some("2024-05-01T12:00:00.000Z")
        );
        assert_eq!(
            read_jpeg(jpeg(
                &[(DATE, "2024:05:01 12:00:00"), (OFFSET, "+99:99")],
                10
            ))
            .as_deref(),
            Some("2024-05-01T12:00:00.000Z")
        );
    }

    #[test]
    fn absurd_or_missing_dates_are_none() {
        assert_eq!(read_jpeg(jpeg(&[(DATE, "0000:00:00 00:00:00")], 10)), None);
        assert_eq!(read_jpeg(jpeg(&[(DATE, "2024:13:45 99:00:00")], 10)), None);
        assert_eq!(read_jpeg(jpeg(&[], 10)), None);
        assert_eq!(read_jpeg(b"\xFF\xD8\xFF\xE1\x00".to_vec()), None);
        assert_eq!(read_jpeg(b"not a photo".to_vec()), None);
    }

    #[test]
    fn a_jpeg_without_exif_is_read_no_further_than_its_first_scan() {
        struct Counting(Cursor<Vec<u8>>, u64);
        impl Read for Counting {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1 += n as u64;
                Ok(n)
            }
        }
        impl Seek for Counting {
            fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
                self.0.seek(pos)
            }
        }
        let mut j = vec![0xFF, SOI, 0xFF, 0xDB, 0, 4, 1, 2, 0xFF, SOS, 0, 2];
        j.extend(std::iter::repeat_n(0xFF, 1_000_000));
        let mut file = Counting(Cursor::new(j), 0);
        assert_eq!(read(&mut file).unwrap(), None);
        assert!(file.1 < 100, "read {} bytes", file.1);
    }
}
