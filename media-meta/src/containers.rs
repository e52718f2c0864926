//! Where a photo file keeps its EXIF: the TIFF data (byte order, IFDs) that kamadak-exif's
//! `read_raw` parses, found in a JPEG's `APP1 Exif` segment, a HEIF/HEIC/AVIF `Exif` item, a
//! PNG `eXIf` chunk, a WebP `EXIF` chunk, or a TIFF file itself.
//!
//! kamadak-exif has container readers too, but they cost the browser engine 8.6 KiB of
//! gzipped wasm (a `BufRead` stack over the whole crate), and its JPEG reader reads on to the
//! end of a file without EXIF. These read only the headers on the way (a HEIF's `meta` box,
//! a PNG's chunk headers), so in a browser a photo costs a block or two of its bytes.

use std::io::{self, Read, Seek, SeekFrom};

use crate::boxes::{find_box, read_range, Fields};

/// The most EXIF bytes taken from a file. A camera's EXIF, maker notes and thumbnail
/// included, is tens of kilobytes; JPEG caps it at 64 KiB.
const MAX_EXIF: u64 = 4 * 1024 * 1024;
/// The most bytes of a HEIF `meta` child box (`iinf`, `iloc`) read: a phone's, listing
/// every tile of the image, is a few kilobytes.
const MAX_META_BOX: u64 = 1024 * 1024;
/// The most extents an `iloc` box may list, all its items together.
const MAX_EXTENTS: u64 = 4096;
/// The most of a TIFF file read: its EXIF may point anywhere in it, so it is parsed whole.
const MAX_TIFF: u64 = 64 * 1024 * 1024;

/// JPEG markers (ITU T.81 B.1.1.3).
pub(crate) const SOI: u8 = 0xD8;
pub(crate) const SOS: u8 = 0xDA;
pub(crate) const EOI: u8 = 0xD9;
pub(crate) const APP1: u8 = 0xE1;
pub(crate) const EXIF_ID: &[u8; 6] = b"Exif\0\0";

/// The TIFF data of the file's EXIF, if it has any that these readers find.
pub fn exif_tiff<R: Read + Seek>(file: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; crate::HEAD_BYTES];
    file.seek(SeekFrom::Start(0))?;
    let n = read_up_to(file, &mut head)?;
    let head = &head[..n];
    match crate::sniff_mime(head) {
        Some("image/jpeg") => jpeg(file),
        Some("image/heic" | "image/avif") => heif(file),
        Some("image/png") => png(file),
        Some("image/webp") => webp(file),
        _ if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") => {
            let len = file.seek(SeekFrom::End(0))?;
            read_range(file, (0, len.min(MAX_TIFF)), MAX_TIFF)
        }
        _ => Ok(None),
    }
}

/// `read`, again until `buf` is full or the file ends; how many bytes were read.
fn read_up_to<R: Read>(file: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A JPEG's `APP1 Exif` segment. Unlike kamadak-exif's own JPEG reader, it stops at the
/// first scan (`SOS`): EXIF comes before the image data, and a JPEG with none must cost
/// its header's bytes, not a read of the whole file.
fn jpeg<R: Read + Seek>(file: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut at = 2u64;
    for _ in 0..256 {
        let mut marker = [0u8; 4];
        file.seek(SeekFrom::Start(at))?;
        if file.read_exact(&mut marker[..1]).is_err() || marker[0] != 0xFF {
            return Ok(None);
        }
        // Fill bytes (any number of 0xFF) may precede a marker code.
        let code = loop {
            file.read_exact(&mut marker[1..2])?;
            at += 1;
            if marker[1] != 0xFF {
                break marker[1];
            }
        };
        at += 1;
        match code {
            SOS | EOI | SOI => return Ok(None),
            0x01 | 0xD0..=0xD7 => continue, // no length
            _ => {}
        }
        file.read_exact(&mut marker[2..4])?;
        let len = u64::from(u16::from_be_bytes([marker[2], marker[3]]));
        if len < 2 {
            return Ok(None);
        }
        if code == APP1 && len >= 2 + EXIF_ID.len() as u64 {
            let mut segment = vec![0u8; (len - 2) as usize];
            file.read_exact(&mut segment)?;
            if segment.starts_with(EXIF_ID) {
                segment.drain(..EXIF_ID.len());
                return Ok(Some(segment));
            }
        }
        at += len;
    }
    Ok(None)
}

/// A HEIF's (HEIC's, AVIF's) `Exif` item (ISO/IEC 23008-12): its id from `meta/iinf`,
/// its bytes where `meta/iloc` says (in the file, or in `meta/idat`). The item starts
/// with the offset of the TIFF header within the rest of it (usually past `Exif\0\0`).
fn heif<R: Read + Seek>(file: &mut R) -> io::Result<Option<Vec<u8>>> {
    let len = file.seek(SeekFrom::End(0))?;
    let Some((meta_start, meta_end)) = find_box(file, 0, len, b"meta")? else {
        return Ok(None);
    };
    // `meta` is a full box: its version and flags come before its children.
    let children = (meta_start + 4, meta_end);
    let Some(iinf) = find_box(file, children.0, children.1, b"iinf")? else {
        return Ok(None);
    };
    let Some(iinf) = read_range(file, iinf, MAX_META_BOX)? else {
        return Ok(None);
    };
    let Some(id) = exif_item_id(&iinf) else {
        return Ok(None);
    };
    let Some(iloc) = find_box(file, children.0, children.1, b"iloc")? else {
        return Ok(None);
    };
    let Some(iloc) = read_range(file, iloc, MAX_META_BOX)? else {
        return Ok(None);
    };
    let Some(location) = item_location(&iloc, id) else {
        return Ok(None);
    };
    let origin = match location.construction_method {
        0 => 0,
        1 => match find_box(file, children.0, children.1, b"idat")? {
            Some((idat_start, _)) => idat_start,
            None => return Ok(None),
        },
        _ => return Ok(None), // from other items: not used for EXIF
    };
    let mut item = Vec::new();
    for (offset, length) in location.extents {
        let Some(start) = origin
            .checked_add(location.base_offset)
            .and_then(|s| s.checked_add(offset))
        else {
            return Ok(None);
        };
        // Length 0: to the end of the file.
        let end = if length == 0 {
            len
        } else {
            start.saturating_add(length)
        };
        let room = MAX_EXIF.saturating_sub(item.len() as u64);
        let Some(bytes) = read_range(file, (start, end.min(len)), room)? else {
            return Ok(None);
        };
        item.extend(bytes);
    }
    let mut fields = Fields(&item);
    let Some(tiff_at) = fields.u32() else {
        return Ok(None);
    };
    Ok(usize::try_from(tiff_at)
        .ok()
        .and_then(|at| fields.0.get(at..))
        .map(<[u8]>::to_vec))
}

/// The id of the `Exif` item among the `infe` entries of an `iinf` body.
fn exif_item_id(iinf: &[u8]) -> Option<u64> {
    let mut fields = Fields(iinf);
    let version = fields.u8()?;
    fields.take(3)?; // flags
    let count = if version == 0 {
        fields.u16()?
    } else {
        fields.u32()?
    };
    for _ in 0..count {
        let size = usize::try_from(fields.u32()?).ok()?;
        let kind = fields.take(4)?;
        let mut entry = Fields(fields.take(size.checked_sub(8)?)?);
        if kind != b"infe" {
            continue;
        }
        let entry_version = entry.u8()?;
        entry.take(3)?;
        // Versions 0 and 1 name no item type.
        let id = match entry_version {
            2 => entry.u16()?,
            3 => entry.u32()?,
            _ => continue,
        };
        entry.u16()?; // protection index
        if entry.take(4)? == b"Exif" {
            return Some(id);
        }
    }
    None
}

/// Where an item's bytes are, from an `iloc` body.
struct ItemLocation {
    /// 0: offsets in the file; 1: in `meta/idat`; 2: in other items.
    construction_method: u8,
    base_offset: u64,
    /// `(offset, length)` of each extent, in order.
    extents: Vec<(u64, u64)>,
}

fn item_location(iloc: &[u8], wanted: u64) -> Option<ItemLocation> {
    let mut fields = Fields(iloc);
    let version = fields.u8()?;
    fields.take(3)?;
    let sizes = fields.u8()?;
    let (offset_size, length_size) = (usize::from(sizes >> 4), usize::from(sizes & 0xF));
    let sizes = fields.u8()?;
    let base_offset_size = usize::from(sizes >> 4);
    let index_size = if matches!(version, 1 | 2) {
        usize::from(sizes & 0xF)
    } else {
        0
    };
    let count = if version < 2 {
        fields.u16()?
    } else {
        fields.u32()?
    };
    // Extents of 0-byte fields take no room, so a hostile box could list billions.
    let mut extents_left = MAX_EXTENTS;
    for _ in 0..count {
        let id = if version < 2 {
            fields.u16()?
        } else {
            fields.u32()?
        };
        let construction_method = if matches!(version, 1 | 2) {
            (fields.u16()? & 0xF) as u8
        } else {
            0
        };
        fields.u16()?; // data reference index
        let base_offset = fields.uint(base_offset_size)?;
        let extent_count = fields.u16()?;
        extents_left = extents_left.checked_sub(extent_count)?;
        let mut extents = Vec::new();
        for _ in 0..extent_count {
            fields.uint(index_size)?;
            let offset = fields.uint(offset_size)?;
            let length = fields.uint(length_size)?;
            extents.push((offset, length));
        }
        if id == wanted {
            return Some(ItemLocation {
                construction_method,
                base_offset,
                extents,
            });
        }
    }
    None
}

/// A PNG's `eXIf` chunk, found by walking the chunk headers up to the image data (`IDAT`).
/// PNG allows `eXIf` after the image data too, but encoders (libpng, ExifTool) put it
/// before; walking on would cost a browser a read for every few `IDAT` headers of a
/// screenshot that has no EXIF at all.
fn png<R: Read + Seek>(file: &mut R) -> io::Result<Option<Vec<u8>>> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut at = 8u64;
    while at + 8 <= len {
        let mut header = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut header)?;
        let size = u64::from(u32::from_be_bytes(header[..4].try_into().expect("4 bytes")));
        let body = (at + 8, at + 8 + size);
        match &header[4..8] {
            b"eXIf" => return read_range(file, body, MAX_EXIF),
            b"IDAT" | b"IEND" => break,
            _ => at = body.1 + 4, // and the CRC
        }
    }
    Ok(None)
}

/// A WebP's `EXIF` chunk. Only the extended format (a `VP8X` chunk first) has one.
fn webp<R: Read + Seek>(file: &mut R) -> io::Result<Option<Vec<u8>>> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut at = 12u64;
    let mut first = true;
    while at + 8 <= len {
        let mut header = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut header)?;
        let size = u64::from(u32::from_le_bytes(header[4..].try_into().expect("4 bytes")));
        let kind = &header[..4];
        if first && kind != b"VP8X" {
            return Ok(None);
        }
        first = false;
        if kind == b"EXIF" {
            let Some(mut exif) = read_range(file, (at + 8, at + 8 + size), MAX_EXIF)? else {
                return Ok(None);
            };
            // Some writers keep JPEG's `Exif\0\0` in front of the TIFF header.
            if exif.starts_with(EXIF_ID) {
                exif.drain(..EXIF_ID.len());
            }
            return Ok(Some(exif));
        }
        // Chunks are padded to an even size.
        at += 8 + size + (size & 1);
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::movie::tests::mp4_box;
    use crate::photo::tests::{tiff, DATE, OFFSET};
    use crate::Timestamp;
    use std::io::Cursor;

    /// What the fixtures' EXIF says (see fixtures/README.md).
    const FIXTURE_DATE: &str = "2024-05-01T14:00:00.250+02:00";

    fn taken_at(file: &[u8]) -> Option<String> {
        crate::read_meta(&mut Cursor::new(file), "image/x")
            .unwrap()
            .taken_at
            .map(Timestamp::to_rfc3339)
    }

    #[test]
    fn reads_the_date_of_a_heic_png_and_webp_written_by_libheif_libwebp_and_exiftool() {
        for file in [
            &include_bytes!("../fixtures/photo.heic")[..],
            include_bytes!("../fixtures/photo.png"),
            include_bytes!("../fixtures/photo.webp"),
        ] {
            assert_eq!(taken_at(file).as_deref(), Some(FIXTURE_DATE));
        }
    }

    fn full_box(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 0];
        b.extend_from_slice(body);
        mp4_box(kind, &b)
    }

    /// A HEIC whose `Exif` item (id 2, after an image item 1) is `exif_item`: in `idat`
    /// (iloc version 1, construction method 1) or else in `mdat` after `pad` bytes.
    pub fn heic(exif_item: &[u8], in_idat: bool, pad: usize) -> Vec<u8> {
        let infe = |id: u16, kind: &[u8; 4]| {
            let mut b = id.to_be_bytes().to_vec();
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(kind);
            b.push(0); // item name ""
            full_box(b"infe", 2, &b)
        };
        let mut iinf = 2u16.to_be_bytes().to_vec();
        iinf.extend(infe(1, b"hvc1"));
        iinf.extend(infe(2, b"Exif"));
        let iinf = full_box(b"iinf", 0, &iinf);
        let ftyp = mp4_box(b"ftyp", b"heic\0\0\0\0mif1heic");
        // iloc v1: offset, length and base offset 4 bytes, no index; item 1 then item 2.
        let iloc = |exif_offset: u32| {
            let mut b = vec![0x44, 0x40];
            b.extend_from_slice(&2u16.to_be_bytes());
            for (id, method, offset, length) in [
                (1u16, 0u16, 0u32, 0u32),
                (2, u16::from(in_idat), exif_offset, exif_item.len() as u32),
            ] {
                b.extend_from_slice(&id.to_be_bytes());
                b.extend_from_slice(&method.to_be_bytes());
                b.extend_from_slice(&0u16.to_be_bytes());
                b.extend_from_slice(&0u32.to_be_bytes());
                b.extend_from_slice(&1u16.to_be_bytes());
                b.extend_from_slice(&offset.to_be_bytes());
                b.extend_from_slice(&length.to_be_bytes());
            }
            full_box(b"iloc", 1, &b)
        };
        let meta = |exif_offset: u32| {
            let mut children = mp4_box(b"hdlr", &[0; 24]);
            children.extend(iloc(exif_offset));
            children.extend(iinf.clone());
            if in_idat {
                children.extend(mp4_box(b"idat", exif_item));
            }
            full_box(b"meta", 0, &children)
        };
        if in_idat {
            let mut file = ftyp;
            file.extend(meta(0));
            file.extend(mp4_box(b"mdat", &[7; 100]));
            return file;
        }
        // The item's offset in the file: after ftyp, meta, mdat's header and the padding.
        let at = (ftyp.len() + meta(0).len() + 8 + pad) as u32;
        let mut mdat = vec![7u8; pad];
        mdat.extend_from_slice(exif_item);
        let mut file = ftyp;
        file.extend(meta(at));
        file.extend(mp4_box(b"mdat", &mdat));
        file
    }

    /// An `Exif` item: the offset of the TIFF header, `Exif\0\0`, then the TIFF data.
    pub fn exif_item(fields: &[(u16, &str)]) -> Vec<u8> {
        let mut item = 6u32.to_be_bytes().to_vec();
        item.extend_from_slice(EXIF_ID);
        item.extend(tiff(fields));
        item
    }

    #[test]
    fn a_heic_exif_item_is_found_in_mdat_or_in_idat() {
        let item = exif_item(&[(DATE, "2023:01:02 03:04:05"), (OFFSET, "-05:00")]);
        for in_idat in [false, true] {
            assert_eq!(
                taken_at(&heic(&item, in_idat, 5000)).as_deref(),
                Some("2023-01-02T03:04:05.000-05:00"),
                "in idat: {in_idat}"
            );
        }
    }

    #[test]
    fn a_heic_without_an_exif_item_or_with_a_broken_one_has_no_date() {
        let item = exif_item(&[(DATE, "2023:01:02 03:04:05")]);
        let mut no_exif = heic(&item, false, 10);
        let at = no_exif.windows(4).position(|w| w == b"Exif").unwrap();
        no_exif[at..at + 4].copy_from_slice(b"mime");
        assert_eq!(taken_at(&no_exif), None);
        // The TIFF header offset points past the item.
        let mut broken = item.clone();
        broken[..4].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(taken_at(&heic(&broken, false, 10)), None);
        // The file ends inside the item.
        let cut = heic(&item, false, 10);
        assert_eq!(taken_at(&cut[..cut.len() - 20]), None);
    }

    #[test]
    fn a_webp_exif_chunk_may_keep_the_jpeg_exif_header() {
        let mut exif = EXIF_ID.to_vec();
        exif.extend(tiff(&[(DATE, "2022:02:03 04:05:06")]));
        let chunk = |kind: &[u8; 4], body: &[u8]| {
            let mut c = kind.to_vec();
            c.extend_from_slice(&(body.len() as u32).to_le_bytes());
            c.extend_from_slice(body);
            if body.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", &[8, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        body.extend(chunk(b"VP8 ", &[1; 101]));
        body.extend(chunk(b"EXIF", &exif));
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend(body);
        assert_eq!(taken_at(&file).as_deref(), Some("2022-02-03T04:05:06.000Z"));
        // A simple (lossy) WebP has no EXIF: nothing past its first chunk is read.
        let mut simple = b"RIFF\0\0\0\0WEBP".to_vec();
        simple.extend(chunk(b"VP8 ", &[1; 101]));
        assert_eq!(taken_at(&simple), None);
    }
}
