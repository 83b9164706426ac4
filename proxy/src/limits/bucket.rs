//! The token bucket behind `statements_per_second`: refilled continuously at the rate, holding
//! at most the burst. A statement takes one token; when none is left it may *reserve* one that
//! the refill will produce within the bounded wait (the count goes below zero), so concurrent
//! waiters are served in order and the rate holds exactly, instead of all waking at once.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// May be negative: tokens reserved by statements still waiting.
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(burst: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(burst),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: u32, burst: u32) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst));
        self.last = now;
    }

    /// Takes a token: `Ok(wait)` (zero when one was there) if one is available within
    /// `max_wait`, reserving it; `Err(())` otherwise, taking nothing.
    pub(crate) fn take(
        &mut self,
        now: Instant,
        rate: u32,
        burst: u32,
        max_wait: Duration,
    ) -> Result<Duration, ()> {
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(Duration::ZERO);
        }
        let wait = Duration::from_secs_f64((1.0 - self.tokens) / f64::from(rate.max(1)));
        if wait > max_wait {
            return Err(());
        }
        self.tokens -= 1.0;
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate_then_refusal() {
        let t0 = Instant::now();
        let max = Duration::from_secs(1);
        let mut b = Bucket::full(3, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0, 2, 3, max), Ok(Duration::ZERO));
        }
        // Empty: the next tokens come every 500 ms, reserved in order.
        assert_eq!(b.take(t0, 2, 3, max), Ok(Duration::from_millis(500)));
        assert_eq!(b.take(t0, 2, 3, max), Ok(Duration::from_millis(1000)));
        assert_eq!(b.take(t0, 2, 3, max), Err(()));
        // Two seconds later the reservations are paid and one token is back.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(b.take(t2, 2, 3, max), Ok(Duration::ZERO));
        // Never more than the burst, however long it rested.
        let later = t2 + Duration::from_secs(3600);
        let mut n = 0;
        while b.take(later, 2, 3, Duration::ZERO).is_ok() {
            n += 1;
        }
        assert_eq!(n, 3);
    }
}
