//! Upload speed and time left, smoothed over a sliding window so the ETA does not jump
//! with every chunk.

use std::collections::VecDeque;

/// Speed is measured over this many milliseconds of recent history.
const WINDOW_MS: f64 = 10_000.0;

/// Samples of (time, total bytes sent) over the last `WINDOW_MS`.
#[derive(Debug, Default, Clone)]
pub struct Throughput {
    samples: VecDeque<(f64, u64)>,
}

impl Throughput {
    /// Records that `total_bytes` had been sent by time `now_ms`.
    pub fn record(&mut self, now_ms: f64, total_bytes: u64) {
        self.samples.push_back((now_ms, total_bytes));
        while let Some(&(t, _)) = self.samples.front() {
            // Keep one sample older than the window so the window is always full width.
            if now_ms - t > WINDOW_MS && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// Bytes per second over the window, or `None` before there is enough history.
    pub fn bytes_per_second(&self) -> Option<f64> {
        let (&(t0, b0), &(t1, b1)) = (self.samples.front()?, self.samples.back()?);
        let elapsed = t1 - t0;
        (elapsed >= 500.0 && b1 >= b0).then(|| (b1 - b0) as f64 * 1_000.0 / elapsed)
    }

    /// Seconds until `remaining_bytes` are sent at the current speed.
    pub fn eta_seconds(&self, remaining_bytes: u64) -> Option<f64> {
        let speed = self.bytes_per_second()?;
        (speed > 0.0).then(|| remaining_bytes as f64 / speed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_speed_without_history() {
        let mut t = Throughput::default();
        assert_eq!(t.bytes_per_second(), None);
        t.record(0.0, 0);
        t.record(100.0, 1_000);
        assert_eq!(t.bytes_per_second(), None, "too short to tell");
    }

    #[test]
    fn speed_and_eta_over_the_window() {
        let mut t = Throughput::default();
        for s in 0u32..=4 {
            t.record(f64::from(s) * 1_000.0, u64::from(s) * 2_000_000);
        }
        assert_eq!(t.bytes_per_second(), Some(2_000_000.0));
        assert_eq!(t.eta_seconds(10_000_000), Some(5.0));
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut t = Throughput::default();
        t.record(0.0, 0);
        t.record(1_000.0, 100_000_000); // a burst long ago
        for s in 2u32..=30 {
            t.record(
                f64::from(s) * 1_000.0,
                100_000_000 + u64::from(s - 1) * 1_000,
            );
        }
        let speed = t.bytes_per_second().unwrap();
        assert!(speed < 2_000.0, "the burst no longer counts: {speed}");
    }
}
