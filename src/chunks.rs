//! Splitting a file into the byte ranges that are sent one request each.

use std::ops::Range;

/// 8 MiB: large enough that per-request overhead is small on a fast link, small enough
/// that a dropped connection on LTE wastes little.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// The chunks of one upload. Planning starts from whatever offset the server last
/// acknowledged, so a resumed upload never resends acknowledged bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    total: u64,
    chunk_size: u64,
}

impl ChunkPlan {
    /// Plans `total` bytes in chunks of `chunk_size` (at least one byte).
    pub fn new(total: u64, chunk_size: u64) -> Self {
        Self {
            total,
            chunk_size: chunk_size.max(1),
        }
    }

    /// The next range to send once the server holds `offset` bytes, or `None` when done.
    pub fn next(&self, offset: u64) -> Option<Range<u64>> {
        if offset >= self.total {
            return None;
        }
        Some(offset..self.total.min(offset.saturating_add(self.chunk_size)))
    }

    /// Every range still to send after `offset`, in order.
    pub fn remaining(&self, offset: u64) -> impl Iterator<Item = Range<u64>> + '_ {
        std::iter::successors(self.next(offset), move |r| self.next(r.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_has_no_chunks() {
        assert_eq!(ChunkPlan::new(0, 8).remaining(0).count(), 0);
    }

    #[test]
    fn chunks_cover_the_file_exactly_once() {
        let plan = ChunkPlan::new(20, 8);
        let ranges: Vec<_> = plan.remaining(0).collect();
        assert_eq!(ranges, vec![0..8, 8..16, 16..20]);
    }

    #[test]
    fn resuming_starts_at_the_acknowledged_offset() {
        let plan = ChunkPlan::new(20, 8);
        let ranges: Vec<_> = plan.remaining(5).collect();
        assert_eq!(ranges, vec![5..13, 13..20]);
        assert_eq!(plan.next(20), None);
        assert_eq!(plan.next(25), None);
    }

    #[test]
    fn exact_multiple_has_no_empty_tail() {
        let plan = ChunkPlan::new(16, 8);
        assert_eq!(plan.remaining(0).collect::<Vec<_>>(), vec![0..8, 8..16]);
    }

    #[test]
    fn zero_chunk_size_still_makes_progress() {
        let plan = ChunkPlan::new(3, 0);
        assert_eq!(plan.remaining(0).count(), 3);
    }

    #[test]
    fn huge_file_near_u64_max_does_not_overflow() {
        let plan = ChunkPlan::new(u64::MAX, DEFAULT_CHUNK_SIZE);
        let last = plan.next(u64::MAX - 1).unwrap();
        assert_eq!(last, u64::MAX - 1..u64::MAX);
    }
}
