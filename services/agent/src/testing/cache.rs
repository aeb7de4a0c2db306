//! An in-process answer cache with CacheService's semantics: values with TTL
//! and tags, single-flight leases (HIT / GRANTED / WAIT_TIMEOUT /
//! UNAVAILABLE), release, and a switch that simulates a backend outage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::answer::{AnswerCache, LeaseOutcome};
use crate::error::{Error, Result};

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Instant,
    tags: Vec<String>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    leases: HashMap<String, (String, Instant)>,
}

/// The in-process cache.
#[derive(Debug, Default)]
pub struct MemoryAnswerCache {
    inner: Mutex<Inner>,
    changed: Notify,
    down: AtomicBool,
    next_token: AtomicU64,
    /// Calls per method, for assertions.
    pub gets: AtomicUsize,
    /// `set` calls.
    pub sets: AtomicUsize,
    /// `lease` calls.
    pub leases: AtomicUsize,
    /// Leases granted.
    pub granted: AtomicUsize,
    /// `release_lease` calls.
    pub releases: AtomicUsize,
}

impl MemoryAnswerCache {
    /// An empty, available cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates the backend going down (`true`) or coming back.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Removes every entry carrying one of `tags`; returns how many.
    pub fn invalidate_tags(&self, tags: &[&str]) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let before = inner.entries.len();
        inner.entries.retain(|_, e| !e.tags.iter().any(|t| tags.contains(&t.as_str())));
        before - inner.entries.len()
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).entries.values().filter(|e| e.expires > now).count()
    }

    /// True when no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tags stored with `key`.
    pub fn tags_of(&self, key: &str) -> Option<Vec<String>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).entries.get(key).map(|e| e.tags.clone())
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl AnswerCache for MemoryAnswerCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if self.is_down() {
            return Ok(None); // an outage reads as a miss
        }
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(inner.entries.get(key).filter(|e| e.expires > Instant::now()).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration, tags: Vec<String>, lease_token: Option<String>) -> Result<()> {
        self.sets.fetch_add(1, Ordering::SeqCst);
        if self.is_down() {
            return Err(Error::Cache("cache backend unavailable".into()));
        }
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.entries.insert(key.to_owned(), Entry { value, expires: Instant::now() + ttl, tags });
            if let Some(token) = lease_token
                && inner.leases.get(key).is_some_and(|(t, _)| *t == token)
            {
                inner.leases.remove(key);
            }
        }
        self.changed.notify_waiters();
        Ok(())
    }

    async fn lease(&self, key: &str, lease: Duration, wait: Duration) -> Result<LeaseOutcome> {
        self.leases.fetch_add(1, Ordering::SeqCst);
        if self.is_down() {
            return Ok(LeaseOutcome::Unavailable);
        }
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Register for wake-ups before looking, so a Set between the look
            // and the wait is not missed.
            notified.as_mut().enable();
            let lease_expiry = {
                let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if let Some(entry) = inner.entries.get(key).filter(|e| e.expires > now) {
                    return Ok(LeaseOutcome::Hit(entry.value.clone()));
                }
                match inner.leases.get(key) {
                    Some((_, expires)) if *expires > now => *expires,
                    _ => {
                        let token = format!("lease-{}", self.next_token.fetch_add(1, Ordering::SeqCst));
                        inner.leases.insert(key.to_owned(), (token.clone(), now + lease));
                        self.granted.fetch_add(1, Ordering::SeqCst);
                        return Ok(LeaseOutcome::Granted { token });
                    }
                }
            };
            if Instant::now() >= deadline {
                return Ok(LeaseOutcome::WaitTimeout);
            }
            // Wake on a change, on the lease expiring, or at the deadline.
            let _ = tokio::time::timeout_at(deadline.min(lease_expiry), notified).await;
        }
    }

    async fn release_lease(&self, key: &str, token: &str) -> Result<bool> {
        self.releases.fetch_add(1, Ordering::SeqCst);
        if self.is_down() {
            return Err(Error::Cache("cache backend unavailable".into()));
        }
        let released = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let holds = inner.leases.get(key).is_some_and(|(t, _)| t == token);
            if holds {
                inner.leases.remove(key);
            }
            holds
        };
        self.changed.notify_waiters();
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lease_grants_once_then_waiters_get_the_value() {
        let cache = std::sync::Arc::new(MemoryAnswerCache::new());
        let LeaseOutcome::Granted { token } = cache.lease("k", Duration::from_secs(5), Duration::ZERO).await.unwrap() else {
            panic!("first caller must be granted");
        };
        assert_eq!(cache.lease("k", Duration::from_secs(5), Duration::ZERO).await.unwrap(), LeaseOutcome::WaitTimeout);
        let waiter = {
            let cache = std::sync::Arc::clone(&cache);
            tokio::spawn(async move { cache.lease("k", Duration::from_secs(5), Duration::from_secs(5)).await.unwrap() })
        };
        cache.set("k", b"v".to_vec(), Duration::from_secs(60), vec!["sheet:a/b".into()], Some(token)).await.unwrap();
        assert_eq!(waiter.await.unwrap(), LeaseOutcome::Hit(b"v".to_vec()));
        assert_eq!(cache.invalidate_tags(&["sheet:a/b"]), 1);
        assert_eq!(cache.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn released_lease_passes_to_a_waiter_and_outage_is_unavailable() {
        let cache = std::sync::Arc::new(MemoryAnswerCache::new());
        let LeaseOutcome::Granted { token } = cache.lease("k", Duration::from_secs(5), Duration::ZERO).await.unwrap() else {
            panic!("granted");
        };
        let waiter = {
            let cache = std::sync::Arc::clone(&cache);
            tokio::spawn(async move { cache.lease("k", Duration::from_secs(5), Duration::from_secs(5)).await.unwrap() })
        };
        assert!(cache.release_lease("k", &token).await.unwrap());
        assert!(matches!(waiter.await.unwrap(), LeaseOutcome::Granted { .. }));
        cache.set_unavailable(true);
        assert_eq!(cache.lease("x", Duration::from_secs(1), Duration::ZERO).await.unwrap(), LeaseOutcome::Unavailable);
    }
}
