//! A per-key request budget (`RATE_LIMIT` per minute, bursts up to the same
//! number): a token bucket per API key, refilled continuously. An exhausted
//! key gets 429 with `Retry-After`; other keys are unaffected.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use tokio::time::Instant;

use crate::{edge::auth::KeyId, error::Error};

/// The buckets, one per configured key (so the map is bounded).
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<KeyId, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_minute` requests per key (0 = unlimited).
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s budget, or says how long until one is
    /// available.
    pub fn check(&self, key: KeyId, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: capacity, updated: now });
        let refilled = now.saturating_duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refilled).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }

    /// [`RateLimiter::check`] now, as the 429 to answer.
    pub fn admit(&self, key: KeyId) -> Result<(), Error> {
        self.check(key, Instant::now()).map_err(|retry_after| Error::RateLimited { retry_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_refills() {
        let limiter = RateLimiter::new(2);
        let start = Instant::now();
        assert!(limiter.check(KeyId(0), start).is_ok());
        assert!(limiter.check(KeyId(0), start).is_ok());
        let wait = limiter.check(KeyId(0), start).unwrap_err();
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limiter.check(KeyId(1), start).is_ok(), "another key has its own budget");
        assert!(limiter.check(KeyId(0), start + Duration::from_secs(30)).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0);
        let now = Instant::now();
        assert!((0..1000).all(|_| limiter.check(KeyId(0), now).is_ok()));
    }
}
