//! [`read_meta`](crate::read_meta) for a file that can only be read asynchronously, such as
//! a browser `Blob`: sans-IO, like the rest of ferry's core. The probe runs the parser over
//! the blocks it holds; when the parser reaches a block it does not hold, the probe asks
//! for that block ([`Step::Read`]), and once it is [supplied](Probe::supply) runs the
//! parser again from the start. Parsing a header takes microseconds, reading a block is an
//! `await`, so re-running is the cheap part; and one parser serves both the server's files
//! and the browser's blobs.
//!
//! At most [`Probe::MAX_BLOCKS`] blocks of [`Probe::BLOCK_BYTES`] are read. A file whose
//! metadata lies further (a QuickTime file of many boxes before its `moov`)
//! ends [incomplete](Outcome::complete): what it did not find may still be in the file.

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;

use crate::{read_meta, sniff_mime, MediaMeta};

/// What the probe needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read these bytes of the file and [supply](Probe::supply) them.
    Read(Range<u64>),
    /// Finished.
    Done(Outcome),
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub meta: MediaMeta,
    /// The media type the first bytes show, if ferry knows it.
    pub sniffed_mime: Option<&'static str>,
    /// Whether the parser ran to its end. `false` when it needed more than
    /// [`Probe::MAX_BLOCKS`] blocks or the file could not be read: a date it did not find
    /// may still be in the file.
    pub complete: bool,
}

/// One file's metadata, read block by block. See the module documentation.
#[derive(Debug)]
pub struct Probe {
    len: u64,
    declared_mime: String,
    blocks: Vec<(u64, Vec<u8>)>,
    asked: usize,
}

impl Probe {
    /// The size of a read: a JPEG's EXIF segment is at most 64 KiB.
    pub const BLOCK_BYTES: u64 = 64 * 1024;
    /// At most 1 MiB is read from any file.
    pub const MAX_BLOCKS: usize = 16;

    /// A probe of a file of `len` bytes that its source calls `declared_mime` (possibly
    /// empty or generic: then the first bytes say whether it is a photo or a video).
    pub fn new(len: u64, declared_mime: &str) -> Self {
        Self {
            len,
            declared_mime: declared_mime.to_owned(),
            blocks: Vec::new(),
            asked: 0,
        }
    }

    /// Runs the parser as far as the blocks held allow.
    pub fn next_step(&mut self) -> Step {
        let mut reader = Blocks {
            blocks: &self.blocks,
            len: self.len,
            pos: 0,
            missing: None,
        };
        let mut head = [0u8; crate::HEAD_BYTES];
        let n = reader.read(&mut head).unwrap_or(0);
        if let Some(start) = reader.missing {
            return self.ask(start);
        }
        let sniffed_mime = sniff_mime(&head[..n]);
        let declared = self.declared_mime.as_str();
        let kind = if declared.starts_with("image/") || declared.starts_with("video/") {
            declared
        } else {
            sniffed_mime.unwrap_or_default()
        };
        let meta = read_meta(&mut reader, kind);
        if let Some(start) = reader.missing {
            return self.ask(start);
        }
        Step::Done(Outcome {
            meta: meta.unwrap_or_default(),
            sniffed_mime,
            complete: true,
        })
    }

    /// The bytes read for the range of a [`Step::Read`] (fewer if the file ended early).
    pub fn supply(&mut self, start: u64, bytes: Vec<u8>) {
        self.blocks.push((start, bytes));
    }

    /// The file could not be read further: what is known so far, incomplete.
    pub fn give_up(&self) -> Outcome {
        let sniffed_mime = self
            .blocks
            .iter()
            .find(|(start, _)| *start == 0)
            .and_then(|(_, head)| sniff_mime(&head[..head.len().min(crate::HEAD_BYTES)]));
        Outcome {
            meta: MediaMeta::default(),
            sniffed_mime,
            complete: false,
        }
    }

    fn ask(&mut self, start: u64) -> Step {
        if self.asked >= Self::MAX_BLOCKS {
            return Step::Done(self.give_up());
        }
        self.asked += 1;
        Step::Read(start..self.len.min(start + Self::BLOCK_BYTES))
    }
}

/// `Read + Seek` over the blocks a probe holds. Reaching a block it does not hold is an
/// error to the parser and is remembered in `missing`, whatever the parser makes of it.
struct Blocks<'a> {
    blocks: &'a [(u64, Vec<u8>)],
    len: u64,
    pos: u64,
    missing: Option<u64>,
}

impl Read for Blocks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let start = self.pos / Probe::BLOCK_BYTES * Probe::BLOCK_BYTES;
        let Some((_, bytes)) = self.blocks.iter().find(|(s, _)| *s == start) else {
            self.missing.get_or_insert(start);
            return Err(io::Error::other("this block is not read yet"));
        };
        // A block shorter than asked (the file shrank) ends the file there.
        let at = (self.pos - start) as usize;
        let Some(rest) = bytes.get(at..) else {
            return Ok(0);
        };
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Blocks<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let to = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = to.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::movie::tests::{mp4_box, mvhd};
    use crate::photo::tests::{jpeg, DATE, OFFSET};
    use crate::Timestamp;

    /// Runs a probe to its end over `bytes_of` (a file of `len` bytes); returns what it
    /// found and how many bytes it read.
    fn probe(len: u64, mime: &str, bytes_of: impl Fn(Range<u64>) -> Vec<u8>) -> (Outcome, u64) {
        let mut probe = Probe::new(len, mime);
        let mut read = 0;
        loop {
            match probe.next_step() {
                Step::Read(range) => {
                    read += range.end - range.start;
                    probe.supply(range.start, bytes_of(range));
                }
                Step::Done(outcome) => return (outcome, read),
            }
        }
    }

    fn probe_bytes(file: &[u8], mime: &str) -> (Outcome, u64) {
        probe(file.len() as u64, mime, |r| {
            file[r.start as usize..r.end as usize].to_vec()
        })
    }

    #[test]
    fn a_jpeg_costs_one_block_and_agrees_with_read_meta() {
        let file = jpeg(
            &[(DATE, "2024:05:01 14:00:00"), (OFFSET, "+02:00")],
            3_000_000,
        );
        let (outcome, read) = probe_bytes(&file, "");
        assert!(outcome.complete);
        assert_eq!(outcome.sniffed_mime, Some("image/jpeg"));
        assert_eq!(
            outcome.meta.taken_at.map(Timestamp::to_rfc3339).as_deref(),
            Some("2024-05-01T14:00:00.000+02:00")
        );
        assert_eq!(read, Probe::BLOCK_BYTES);
        let direct = read_meta(&mut io::Cursor::new(&file), "image/jpeg").unwrap();
        assert_eq!(outcome.meta, direct);
    }

    #[test]
    fn a_movie_header_after_four_gigabytes_of_data_costs_three_blocks() {
        // ftyp, a 64-bit mdat of 4 GiB (never read), then moov/mvhd.
        let ftyp = mp4_box(b"ftyp", b"qt  \0\0\0\0qt  ");
        let mdat_len: u64 = 4 << 30;
        let mut mdat_header = 1u32.to_be_bytes().to_vec();
        mdat_header.extend_from_slice(b"mdat");
        mdat_header.extend_from_slice(&mdat_len.to_be_bytes());
        let moov = mp4_box(b"moov", &mp4_box(b"mvhd", &mvhd(1_714_564_800, 90)));
        let moov_at = ftyp.len() as u64 + mdat_len;
        let len = moov_at + moov.len() as u64;
        let byte = |at: u64| -> u8 {
            let head = ftyp.len() as u64;
            if at < head {
                ftyp[at as usize]
            } else if at < head + 16 {
                mdat_header[(at - head) as usize]
            } else if at >= moov_at {
                moov[(at - moov_at) as usize]
            } else {
                0
            }
        };
        let (outcome, read) = probe(len, "video/quicktime", |r| r.map(byte).collect());
        assert!(outcome.complete);
        assert_eq!(outcome.sniffed_mime, Some("video/quicktime"));
        assert_eq!(
            outcome.meta.taken_at.map(Timestamp::to_rfc3339).as_deref(),
            Some("2024-05-01T12:00:00.000Z")
        );
        assert_eq!(outcome.meta.duration_ms, Some(90_000));
        assert!(read <= 3 * Probe::BLOCK_BYTES, "read {read} bytes");
    }

    #[test]
    fn a_heic_costs_the_block_of_its_meta_box_and_the_block_of_its_exif() {
        let file = crate::containers::tests::heic(
            &crate::containers::tests::exif_item(&[(DATE, "2024:05:01 14:00:00")]),
            false,
            300_000,
        );
        let (outcome, read) = probe_bytes(&file, "image/heic");
        assert!(outcome.complete);
        assert_eq!(outcome.sniffed_mime, Some("image/heic"));
        assert_eq!(
            outcome.meta.taken_at.map(Timestamp::to_rfc3339).as_deref(),
            Some("2024-05-01T14:00:00.000Z")
        );
        assert!(read <= 2 * Probe::BLOCK_BYTES, "read {read} bytes");
        let direct = read_meta(&mut io::Cursor::new(&file), "image/heic").unwrap();
        assert_eq!(outcome.meta, direct);
    }

    #[test]
    fn a_broken_file_is_complete_with_nothing_found() {
        for (file, mime) in [
            (
                b"\xFF\xD8\xFF\xE1\x7F\xFFExif\0\0II*\0".to_vec(),
                "image/jpeg",
            ),
            (mp4_box(b"moov", b"\0\0\0\x05mvhd"), "video/mp4"),
            (vec![0xAB; 200_000], "image/heic"),
            (Vec::new(), ""),
        ] {
            let (outcome, _) = probe_bytes(&file, mime);
            assert!(outcome.complete, "{mime}");
            assert_eq!(outcome.meta, MediaMeta::default(), "{mime}");
        }
    }

    #[test]
    fn metadata_further_than_a_mebibyte_is_left_unfound_and_says_so() {
        // A movie of many small boxes before its moov: their headers are walked one by one.
        let mut file = mp4_box(b"ftyp", b"qt  \0\0\0\0qt  ");
        while file.len() < 4_000_000 {
            file.extend(mp4_box(b"free", &[0; 8000]));
        }
        file.extend(mp4_box(
            b"moov",
            &mp4_box(b"mvhd", &mvhd(1_714_564_800, 90)),
        ));
        let (outcome, read) = probe_bytes(&file, "video/quicktime");
        assert!(!outcome.complete);
        assert_eq!(outcome.sniffed_mime, Some("video/quicktime"));
        assert_eq!(outcome.meta, MediaMeta::default());
        assert_eq!(read, Probe::MAX_BLOCKS as u64 * Probe::BLOCK_BYTES);
    }

    #[test]
    fn a_png_without_exif_costs_the_block_of_its_first_image_data() {
        // A screenshot: its chunk headers up to the first IDAT, not its thousands of IDATs.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(b"IHDR");
        png.extend([0; 13 + 4]);
        while png.len() < 4_000_000 {
            png.extend_from_slice(&1000u32.to_be_bytes());
            png.extend_from_slice(b"IDAT");
            png.extend(std::iter::repeat_n(0, 1004));
        }
        let (outcome, read) = probe_bytes(&png, "image/png");
        assert!(outcome.complete);
        assert_eq!(outcome.sniffed_mime, Some("image/png"));
        assert_eq!(outcome.meta, MediaMeta::default());
        assert_eq!(read, Probe::BLOCK_BYTES);
    }

    #[test]
    fn a_file_that_shrank_ends_where_its_bytes_do() {
        // Its movie header would be in a block that came back empty.
        let mut file = mp4_box(b"ftyp", b"qt  \0\0\0\0qt  ");
        file.extend(mp4_box(b"mdat", &vec![0; 200_000]));
        file.extend(mp4_box(
            b"moov",
            &mp4_box(b"mvhd", &mvhd(1_714_564_800, 90)),
        ));
        let (outcome, _) = probe(file.len() as u64, "video/mp4", |r| {
            if r.start == 0 {
                file[..r.end as usize].to_vec()
            } else {
                Vec::new()
            }
        });
        assert!(outcome.complete);
        assert_eq!(outcome.meta, MediaMeta::default());

        let file = jpeg(&[(DATE, "2024:05:01 14:00:00")], 200_000);
        let (outcome, _) = probe(file.len() as u64, "image/jpeg", |r| {
            file[r.start as usize..(r.end as usize).min(30)].to_vec()
        });
        assert!(outcome.complete);
        assert_eq!(outcome.meta.taken_at, None);
    }
}
