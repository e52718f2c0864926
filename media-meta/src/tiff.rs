//! The text fields a photo's date is made of, found in its EXIF's TIFF data: `DateTime`
//! and the EXIF IFD's `DateTimeOriginal`, `OffsetTimeOriginal`, `SubSecTimeOriginal` and
//! their kin.
//!
//! kamadak-exif's reader did this walk. It parses every field of every IFD into typed
//! values, for nine text fields: in place of it, this walk makes the browser engine's
//! gzipped wasm 3.6 KB smaller (measured on 2026-12-07: 170,693 B to 167,033 B). So only
//! the walk is ours; kamadak-exif still turns the text into a date (`exif::DateTime`), and
//! the tests below and the `exif_fields` fuzz target hold this walk to kamadak-exif's
//! reader (`photo::taken_at_by_kamadak_exif`).
//!
//! The fields are read as kamadak-exif reads them into its primary image: from the first
//! IFD and the EXIF IFD it points to, a later field replacing an earlier one with the same
//! tag, and an ASCII field's text ending at its first NUL. It is more forgiving: a broken
//! field, thumbnail IFD or GPS IFD costs only itself, and an IFD cut short only its own
//! fields, where kamadak-exif gave up on the whole photo.

/// `DateTime`, in the first IFD.
pub const DATE_TIME: u16 = 0x0132;
/// The first IFD's pointer to the EXIF IFD.
const EXIF_IFD: u16 = 0x8769;
/// The EXIF IFD's date fields, in the order a photo's date is looked for: the original's,
/// the digitized one's, and the offset and sub-seconds that go with `DateTime`.
pub const DATE_TIME_ORIGINAL: u16 = 0x9003;
pub const DATE_TIME_DIGITIZED: u16 = 0x9004;
pub const OFFSET_TIME: u16 = 0x9010;
pub const OFFSET_TIME_ORIGINAL: u16 = 0x9011;
pub const OFFSET_TIME_DIGITIZED: u16 = 0x9012;
pub const SUB_SEC_TIME: u16 = 0x9290;
pub const SUB_SEC_TIME_ORIGINAL: u16 = 0x9291;
pub const SUB_SEC_TIME_DIGITIZED: u16 = 0x9292;

/// How many EXIF IFDs one photo's first IFD may point to before more are ignored.
const MAX_EXIF_IFDS: usize = 4;

/// TIFF field types this walk reads.
const BYTE: u16 = 1;
const ASCII: u16 = 2;
const SHORT: u16 = 3;
const LONG: u16 = 4;

/// Which IFD a field was read from: tags mean different things in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ifd {
    First,
    Exif,
}

/// The fields of the first IFD and of its EXIF IFD, with the text of the ASCII ones.
#[derive(Debug, Default)]
pub struct TextFields<'a> {
    /// Every field (IFD, tag, text), with no text when it is not ASCII.
    fields: Vec<(Ifd, u16, Option<&'a [u8]>)>,
    /// Pointers to more EXIF IFDs than [`MAX_EXIF_IFDS`] were left unread.
    pub left_exif_ifds_unread: bool,
}

impl<'a> TextFields<'a> {
    /// The text of the last field tagged `tag` in `ifd`, up to its first NUL; none if that
    /// field is not ASCII.
    pub fn get(&self, ifd: Ifd, tag: u16) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .rev()
            .find(|(i, t, _)| *i == ifd && *t == tag)
            .and_then(|(_, _, text)| *text)
    }
}

/// The TIFF data's byte order.
#[derive(Clone, Copy)]
struct Tiff<'a> {
    data: &'a [u8],
    little_endian: bool,
}

impl<'a> Tiff<'a> {
    fn u16_at(self, at: usize) -> Option<u16> {
        let bytes: [u8; 2] = self.data.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.little_endian {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn u32_at(self, at: usize) -> Option<u32> {
        let bytes: [u8; 4] = self.data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.little_endian {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }

    /// The entries of the IFD at `at`: (tag, type, count, where the value is). An IFD whose
    /// entries (and the next IFD's offset after them) are not all there is broken, and has
    /// none: what follows its last whole entry is other data, not entries.
    fn entries(self, at: usize) -> impl Iterator<Item = (u16, u16, u32, usize)> + 'a {
        let count = self.u16_at(at).map_or(0, usize::from);
        let whole = at
            .checked_add(2 + count * 12 + 4)
            .is_some_and(|end| end <= self.data.len());
        let count = if whole { count } else { 0 };
        (0..count).map_while(move |i| {
            let entry = at + 2 + i * 12;
            let (tag, kind, count, offset) = (
                self.u16_at(entry)?,
                self.u16_at(entry + 2)?,
                self.u32_at(entry + 4)?,
                self.u32_at(entry + 8)?,
            );
            let unit = match kind {
                BYTE | ASCII => 1,
                SHORT => 2,
                LONG => 4,
                _ => 0,
            };
            // A value of up to 4 bytes is in the entry itself; a larger one at an offset.
            let value_at = if u64::from(count) * unit <= 4 {
                entry + 8
            } else {
                offset as usize
            };
            Some((tag, kind, count, value_at))
        })
    }

    /// An ASCII value's text up to its first NUL, if all its bytes are there.
    fn text(self, kind: u16, count: u32, at: usize) -> Option<&'a [u8]> {
        if kind != ASCII || count == 0 {
            return None;
        }
        let bytes = self.data.get(at..at.checked_add(count as usize)?)?;
        bytes.split(|&b| b == 0).next()
    }

    /// The first number of a pointer field (an IFD's offset).
    fn offset(self, kind: u16, count: u32, at: usize) -> Option<usize> {
        if count == 0 {
            return None;
        }
        match kind {
            BYTE => self.data.get(at).map(|&b| usize::from(b)),
            SHORT => self.u16_at(at).map(usize::from),
            LONG => self.u32_at(at).map(|o| o as usize),
            _ => None,
        }
    }
}

/// The ASCII fields of `data`'s first IFD and EXIF IFD, or `None` if `data` is not TIFF.
pub fn text_fields(data: &[u8]) -> Option<TextFields<'_>> {
    let little_endian = match data.get(..4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let tiff = Tiff {
        data,
        little_endian,
    };
    let mut found = TextFields::default();
    // An offset of 0 says there is no IFD.
    let first = match tiff.u32_at(4)? {
        0 => return Some(found),
        at => at as usize,
    };
    let mut exif_ifds = Vec::new();
    for (tag, kind, count, at) in tiff.entries(first) {
        if tag != EXIF_IFD {
            found
                .fields
                .push((Ifd::First, tag, tiff.text(kind, count, at)));
        } else {
            // A photo has one EXIF IFD. Of more pointers, a few are read (each IFD once),
            // so a file of pointers costs little to read. kamadak-exif reads them all, and
            // gives up on the photo when one points to an IFD it read before.
            let Some(exif) = tiff.offset(kind, count, at) else {
                continue;
            };
            if exif_ifds.contains(&exif) {
                continue;
            }
            if exif_ifds.len() == MAX_EXIF_IFDS {
                found.left_exif_ifds_unread = true;
                continue;
            }
            exif_ifds.push(exif);
            for (tag, kind, count, at) in tiff.entries(exif) {
                found
                    .fields
                    .push((Ifd::Exif, tag, tiff.text(kind, count, at)));
            }
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photo::{taken_at_by_kamadak_exif, taken_at_in_tiff};

    /// A TIFF whose first IFD holds `first` and, if `exif` is given, a pointer to an EXIF
    /// IFD holding it. A field is (tag, type, value bytes); values over 4 bytes go after
    /// the IFDs.
    fn tiff(
        big_endian: bool,
        first: &[(u16, u16, &[u8])],
        exif: Option<&[(u16, u16, &[u8])]>,
    ) -> Vec<u8> {
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let first_len = first.len() + usize::from(exif.is_some());
        let first_at = 8;
        let exif_at = first_at + 2 + first_len * 12 + 4;
        let exif_fields = exif.unwrap_or(&[]);
        let values_at = exif_at
            + if exif.is_some() {
                2 + exif_fields.len() * 12 + 4
            } else {
                0
            };
        let mut out = if big_endian {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        out.extend(u32b(first_at as u32));
        let mut values = Vec::new();
        let mut ifd = |out: &mut Vec<u8>, fields: &[(u16, u16, &[u8])], pointer: bool| {
            out.extend(u16b((fields.len() + usize::from(pointer)) as u16));
            for (tag, kind, value) in fields {
                out.extend(u16b(*tag));
                out.extend(u16b(*kind));
                let unit = match *kind {
                    SHORT => 2,
                    LONG => 4,
                    _ => 1,
                };
                out.extend(u32b((value.len() / unit) as u32));
                if value.len() <= 4 {
                    let mut inline = value.to_vec();
                    inline.resize(4, 0);
                    out.extend(inline);
                } else {
                    out.extend(u32b((values_at + values.len()) as u32));
                    values.extend_from_slice(value);
                }
            }
            if pointer {
                out.extend(u16b(EXIF_IFD));
                out.extend(u16b(LONG));
                out.extend(u32b(1));
                out.extend(u32b(exif_at as u32));
            }
            out.extend(u32b(0));
        };
        ifd(&mut out, first, exif.is_some());
        if let Some(fields) = exif {
            ifd(&mut out, fields, false);
        }
        out.extend(values);
        out
    }

    fn date(tiff: &[u8]) -> Option<String> {
        taken_at_in_tiff(tiff).map(|t| t.to_rfc3339())
    }

    const A: u16 = ASCII;

    #[test]
    fn reads_the_original_date_with_its_offset_and_subseconds_in_either_byte_order() {
        for big_endian in [false, true] {
            let data = tiff(
                big_endian,
                &[(DATE_TIME, A, b"2020:01:01 00:00:00\0")],
                Some(&[
                    (DATE_TIME_ORIGINAL, A, b"2024:05:01 14:00:00\0"),
                    (OFFSET_TIME_ORIGINAL, A, b"+02:00\0"),
                    (SUB_SEC_TIME_ORIGINAL, A, b"25\0"),
                ]),
            );
            assert_eq!(
                date(&data).as_deref(),
                Some("2024-05-01T14:00:00.250+02:00")
            );
            assert_eq!(
                taken_at_by_kamadak_exif(&data),
                Some(taken_at_in_tiff(&data))
            );
        }
    }

    #[test]
    fn falls_back_to_the_digitized_date_then_the_files_date_with_the_offset_of_each() {
        let digitized = tiff(
            false,
            &[(DATE_TIME, A, b"2020:01:01 00:00:00\0")],
            Some(&[
                (DATE_TIME_ORIGINAL, A, b"not a date at all\0"),
                (DATE_TIME_DIGITIZED, A, b"2023:02:03 04:05:06\0"),
                (OFFSET_TIME_DIGITIZED, A, b"-05:00\0"),
                (OFFSET_TIME, A, b"+09:00\0"),
            ]),
        );
        assert_eq!(
            date(&digitized).as_deref(),
            Some("2023-02-03T04:05:06.000-05:00")
        );
        let files = tiff(
            false,
            &[(DATE_TIME, A, b"2020:01:01 00:00:00\0")],
            Some(&[(OFFSET_TIME, A, b"+09:00\0"), (SUB_SEC_TIME, A, b"5\0")]),
        );
        assert_eq!(
            date(&files).as_deref(),
            Some("2020-01-01T00:00:00.500+09:00")
        );
        for data in [digitized, files] {
            assert_eq!(
                taken_at_by_kamadak_exif(&data),
                Some(taken_at_in_tiff(&data))
            );
        }
    }

    #[test]
    fn reads_a_tag_only_in_its_own_ifd_the_last_of_the_same_tag_and_text_up_to_its_nul() {
        // An EXIF date in the first IFD is another tag there; so is `DateTime` in the EXIF IFD.
        let misplaced = tiff(
            true,
            &[(DATE_TIME_ORIGINAL, A, b"2024:05:01 14:00:00\0")],
            Some(&[(DATE_TIME, A, b"2024:05:01 14:00:00\0")]),
        );
        assert_eq!(date(&misplaced), None);
        let repeated = tiff(
            false,
            &[],
            Some(&[
                (DATE_TIME_ORIGINAL, A, b"2001:01:01 01:01:01\0"),
                (DATE_TIME_ORIGINAL, A, b"2002:02:02 02:02:02\0second\0"),
            ]),
        );
        assert_eq!(date(&repeated).as_deref(), Some("2002-02-02T02:02:02.000Z"));
        // A date of the wrong type is no date, and hides an earlier one of the same tag;
        // nor is one that starts with its NUL a date.
        let wrong = tiff(
            false,
            &[],
            Some(&[
                (DATE_TIME_ORIGINAL, A, b"2024:05:01 14:00:00\0"),
                (DATE_TIME_ORIGINAL, 7, b"2024:05:01 14:00:00\0"),
                (DATE_TIME_DIGITIZED, A, b"\x002024:05:01 14:00:00\0"),
            ]),
        );
        assert_eq!(date(&wrong), None);
        for data in [misplaced, repeated, wrong] {
            assert_eq!(
                taken_at_by_kamadak_exif(&data),
                Some(taken_at_in_tiff(&data))
            );
        }
    }

    #[test]
    fn a_broken_field_costs_only_itself_and_junk_is_no_date() {
        let mut data = tiff(
            false,
            &[(0x010E, A, b"a description, cut off\0")],
            Some(&[(DATE_TIME_ORIGINAL, A, b"2024:05:01 14:00:00\0")]),
        );
        // The description's value now points past the end: kamadak-exif gives up on the
        // whole photo; the date is still read.
        let description_offset = 8 + 2 + 8;
        data[description_offset..description_offset + 4].copy_from_slice(&9_999u32.to_le_bytes());
        assert_eq!(taken_at_by_kamadak_exif(&data), None);
        assert_eq!(date(&data).as_deref(), Some("2024-05-01T14:00:00.000Z"));
        // An EXIF IFD that claims more entries than there are bytes for is read as none,
        // though its first entries are whole: what follows them is not entries.
        let mut claims_more = tiff(
            false,
            &[(DATE_TIME, A, b"2020:01:01 00:00:00\0")],
            Some(&[(DATE_TIME_ORIGINAL, A, b"2024:05:01 14:00:00\0")]),
        );
        let exif_at = 8 + 2 + 2 * 12 + 4;
        claims_more[exif_at..exif_at + 2].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert_eq!(
            date(&claims_more).as_deref(),
            Some("2020-01-01T00:00:00.000Z")
        );
        for junk in [
            &b""[..],
            b"II*\0",
            b"II*\0\xff\xff\xff\xff",
            b"MM\0*\0\0\0\x08\xff\xff",
            b"not a tiff",
        ] {
            assert_eq!(date(junk), None, "{junk:?}");
        }
        // Cut anywhere, the photo gives its date or none, and never more than kamadak-exif's.
        for end in 0..data.len() {
            let cut = &data[..end];
            if let Some(theirs) = taken_at_by_kamadak_exif(cut) {
                assert_eq!(theirs, taken_at_in_tiff(cut), "cut at {end}");
            }
        }
    }

    #[test]
    fn only_a_few_exif_ifds_are_read_and_a_tiff_of_more_says_so() {
        use crate::photo::taken_at_in_tiff_read_whole;
        let le16 = |v: u16| v.to_le_bytes();
        let le32 = |v: u32| v.to_le_bytes();
        let pointers = MAX_EXIF_IFDS + 1;
        let date = b"2024:05:01 14:00:00\0";
        // The first IFD: a pointer to each EXIF IFD; each of those one field, the date
        // only in the last (its text after them all).
        let ifds_at = 8 + 2 + pointers * 12 + 4;
        let text_at = ifds_at + pointers * 18;
        let mut data = b"II*\0".to_vec();
        data.extend(le32(8));
        data.extend(le16(pointers as u16));
        for i in 0..pointers {
            data.extend(le16(EXIF_IFD));
            data.extend(le16(LONG));
            data.extend(le32(1));
            data.extend(le32((ifds_at + i * 18) as u32));
        }
        data.extend(le32(0));
        for i in 0..pointers {
            data.extend(le16(1));
            if i + 1 == pointers {
                data.extend(le16(DATE_TIME_ORIGINAL));
                data.extend(le16(ASCII));
                data.extend(le32(date.len() as u32));
                data.extend(le32(text_at as u32));
            } else {
                data.extend(le16(0x9000)); // ExifVersion
                data.extend(le16(7));
                data.extend(le32(4));
                data.extend(*b"0232");
            }
            data.extend(le32(0));
        }
        data.extend(date);
        let theirs = taken_at_by_kamadak_exif(&data)
            .unwrap()
            .map(|t| t.to_rfc3339());
        assert_eq!(theirs.as_deref(), Some("2024-05-01T14:00:00.000Z"));
        assert_eq!(
            taken_at_in_tiff(&data),
            None,
            "the last EXIF IFD is not read"
        );
        assert_eq!(taken_at_in_tiff_read_whole(&data), None);
        // One pointer fewer, and every IFD is read.
        data[8..10].copy_from_slice(&le16(MAX_EXIF_IFDS as u16));
        assert_eq!(taken_at_in_tiff_read_whole(&data), Some(None));
    }

    #[test]
    fn the_test_photos_and_fuzz_seeds_give_the_date_kamadak_exif_reads() {
        // The fuzz seeds start with a byte of their own (the media type the target claims).
        let dirs = [
            (concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"), 0),
            (
                concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/media_meta"),
                1,
            ),
        ];
        let mut dated = 0;
        for (dir, skip) in dirs {
            for entry in std::fs::read_dir(dir).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                let file = bytes.get(skip..).unwrap_or_default().to_vec();
                let Ok(Some(data)) = crate::containers::exif_tiff(&mut std::io::Cursor::new(file))
                else {
                    continue;
                };
                let ours = taken_at_in_tiff(&data);
                assert_eq!(taken_at_by_kamadak_exif(&data), Some(ours));
                dated += usize::from(ours.is_some());
            }
        }
        assert!(dated >= 7, "only {dated} photos had a date");
    }
}
