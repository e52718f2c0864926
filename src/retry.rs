//! The one retry policy: exponential backoff with full jitter and a cap, and a bound on
//! consecutive failures before a file is given up as failed.

/// How long to wait between attempts, and how many to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The first backoff's ceiling, in milliseconds.
    pub base_ms: f64,
    /// No backoff is ever longer than this, in milliseconds.
    pub cap_ms: f64,
    /// Consecutive failed attempts after which the file is marked failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_ms: 1_000.0,
            cap_ms: 60_000.0,
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 for the first retry). `jitter` is a
    /// uniform random number in `[0, 1)` supplied by the caller, so this stays
    /// deterministic under test. Full jitter spreads many clients' retries apart.
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> f64 {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = (self.base_ms * f64::from(1u32 << exponent)).min(self.cap_ms);
        ceiling * jitter.clamp(0.0, 1.0)
    }

    /// True when `attempt` failures in a row mean the file should fail.
    pub fn exhausted(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(1, 1.0), 1_000.0);
        assert_eq!(p.delay_ms(2, 1.0), 2_000.0);
        assert_eq!(p.delay_ms(4, 1.0), 8_000.0);
        assert_eq!(p.delay_ms(7, 1.0), 60_000.0);
        assert_eq!(p.delay_ms(1_000, 1.0), 60_000.0);
    }

    #[test]
    fn full_jitter_scales_the_whole_delay() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(3, 0.0), 0.0);
        assert_eq!(p.delay_ms(3, 0.5), 2_000.0);
        assert_eq!(p.delay_ms(3, 7.0), 4_000.0, "jitter is clamped to 1");
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy::default();
        assert!(!p.exhausted(7));
        assert!(p.exhausted(8));
    }
}
