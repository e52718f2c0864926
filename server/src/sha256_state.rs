//! SHA-256 whose state can be saved with each acknowledged chunk and resumed later, by
//! another request or another instance, so completing an upload never re-reads its bytes.
//!
//! `sha2::Sha256` keeps its state private, so this is `sha2`'s own block function
//! (`compress256`, the `compress` feature: the same SHA-NI/AVX2 code `Sha256` runs) with the
//! few lines around it that a hash adds: the eight state words, the length, the pending
//! tail of less than one block, and the final padding (FIPS 180-4, 5.1.1).

use sha2::digest::generic_array::GenericArray;

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256State {
    words: [u32; 8],
    /// Bytes hashed so far, the pending tail included.
    len: u64,
    /// The bytes of an unfinished block (fewer than 64).
    pending: Vec<u8>,
}

impl Default for Sha256State {
    fn default() -> Self {
        Self {
            words: H0,
            len: 0,
            pending: Vec::with_capacity(64),
        }
    }
}

impl Sha256State {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many bytes have been hashed.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < 64 {
                return;
            }
            let block = std::mem::take(&mut self.pending);
            self.compress(&block);
        }
        let whole = data.len() / 64 * 64;
        self.compress(&data[..whole]);
        self.pending.extend_from_slice(&data[whole..]);
    }

    /// Runs the block function over `blocks` (a multiple of 64 bytes).
    fn compress(&mut self, blocks: &[u8]) {
        for block in blocks.chunks_exact(64) {
            sha2::compress256(
                &mut self.words,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
    }

    /// The digest, as lowercase hex.
    pub fn finalize_hex(&self) -> String {
        let mut last = self.pending.clone();
        last.push(0x80);
        while last.len() % 64 != 56 {
            last.push(0);
        }
        last.extend_from_slice(&(self.len * 8).to_be_bytes());
        let mut done = self.clone();
        done.compress(&last);
        done.words.iter().map(|w| format!("{w:08x}")).collect()
    }

    /// `sha256:<8 state words, hex>:<length>:<pending bytes, hex>`, for the catalog.
    pub fn save(&self) -> String {
        let words: String = self.words.iter().map(|w| format!("{w:08x}")).collect();
        format!("sha256:{words}:{}:{}", self.len, hex::encode(&self.pending))
    }

    /// What `save` wrote; `None` if it is not that (then the caller hashes the bytes).
    pub fn load(saved: &str) -> Option<Self> {
        let mut fields = saved.strip_prefix("sha256:")?.split(':');
        let (words_hex, len, pending) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() || words_hex.len() != 64 {
            return None;
        }
        let mut words = [0u32; 8];
        for (i, word) in words.iter_mut().enumerate() {
            *word = u32::from_str_radix(words_hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        }
        let len: u64 = len.parse().ok()?;
        let pending = hex::decode(pending).ok()?;
        (pending.len() < 64 && len % 64 == pending.len() as u64).then_some(Self {
            words,
            len,
            pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Sha256State;
    use sha2::{Digest, Sha256};

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    #[test]
    fn matches_sha2_for_every_split_and_survives_save_and_load() {
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4096 + 17] {
            let data = bytes(len);
            let expected = hex::encode(Sha256::digest(&data));
            for split in [0, 1, len / 3, len / 2, len.saturating_sub(1), len] {
                let split = split.min(len);
                let mut first = Sha256State::new();
                first.update(&data[..split]);
                // As another instance would: only the saved text crosses over.
                let mut resumed = Sha256State::load(&first.save()).unwrap();
                assert_eq!(resumed, first);
                for piece in data[split..].chunks(7) {
                    resumed.update(piece);
                }
                assert_eq!(resumed.len(), len as u64);
                assert_eq!(resumed.finalize_hex(), expected, "len {len} split {split}");
            }
        }
    }

    #[test]
    fn refuses_what_it_did_not_save() {
        for bad in [
            "",
            "sha256:",
            "md5:00:0:",
            "sha256:zz:1:",
            &"sha256:".repeat(3),
        ] {
            assert!(Sha256State::load(bad).is_none(), "{bad:?}");
        }
        let mut s = Sha256State::new();
        s.update(b"abc");
        let saved = s.save();
        // A length that does not match the pending tail is refused.
        assert!(Sha256State::load(&saved.replace(":3:", ":4:")).is_none());
    }
}
