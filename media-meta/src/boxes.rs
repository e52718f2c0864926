//! The boxes of the ISO base media file format (ISO/IEC 14496-12), which QuickTime, MP4 and
//! HEIF files are made of: a 32-bit size (1: a 64-bit size follows; 0: to the end), a
//! four-character type, then the body. Only headers are read on the way to a box, so one
//! after gigabytes of `mdat` costs a few small reads.

use std::io::{self, Read, Seek, SeekFrom};

/// The body `(start, end)` of the first box of type `kind` among the boxes in
/// `start..end`. Looks at no more than 1024 boxes.
pub fn find_box<R: Read + Seek>(
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

/// Reads `start..end` of `file`, if it is no longer than `max` bytes.
pub fn read_range<R: Read + Seek>(
    file: &mut R,
    (start, end): (u64, u64),
    max: u64,
) -> io::Result<Option<Vec<u8>>> {
    if end < start || end - start > max {
        return Ok(None);
    }
    let mut bytes = vec![0u8; (end - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

/// Big-endian fields read off the front of a box's body; `None` once it runs out.
pub struct Fields<'a>(pub &'a [u8]);

impl<'a> Fields<'a> {
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    /// An unsigned integer of `bytes` bytes: 0 (which reads nothing and is 0), 1, 2, 4 or 8.
    pub fn uint(&mut self, bytes: usize) -> Option<u64> {
        if !matches!(bytes, 0 | 1 | 2 | 4 | 8) {
            return None;
        }
        Some(
            self.take(bytes)?
                .iter()
                .fold(0u64, |n, &b| n << 8 | u64::from(b)),
        )
    }

    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Option<u64> {
        self.uint(2)
    }

    pub fn u32(&mut self) -> Option<u64> {
        self.uint(4)
    }
}
