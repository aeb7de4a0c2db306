//! The cache domain: the same rules whatever the backend.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use tokio::{sync::Notify, time::Instant};

use crate::{
    CacheError,
    store::CacheStore,
    validate::{DEFAULT_LEASE, Limits, lease_duration},
};

/// How often a lease waiter re-checks the backend for a value set by
/// another replica (same-process writes wake it at once).
const LEASE_POLL: Duration = Duration::from_millis(10);

/// The result of [`Cache::lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The value exists.
    Hit(Bytes),
    /// The caller holds the lease with this token.
    Granted(String),
    /// Someone else held the lease for the whole wait.
    WaitTimeout,
    /// The backend is unreachable.
    Unavailable,
}

/// Counters and backend state for `Stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub keys: u64,
    pub bytes: u64,
    pub backend: &'static str,
    pub backend_up: bool,
    pub backend_rtt: Duration,
}

struct Inner<S> {
    store: S,
    limits: Limits,
    hits: AtomicU64,
    misses: AtomicU64,
    backend_up: AtomicBool,
    backend_rtt_us: AtomicU64,
    /// Woken on every write in this process, so lease waiters here need not
    /// wait for the next poll.
    changed: Notify,
}

/// The cache: validation, hit/miss counting, outage policy (reads miss,
/// writes fail fast) and lease waiting over a [`CacheStore`]. Cheap to clone.
pub struct Cache<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Cache<S> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<S> std::fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("limits", &self.inner.limits).finish_non_exhaustive()
    }
}

impl<S: CacheStore> Cache<S> {
    /// A cache over `store` enforcing `limits`.
    pub fn new(store: S, limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                limits,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                backend_up: AtomicBool::new(true),
                backend_rtt_us: AtomicU64::new(0),
                changed: Notify::new(),
            }),
        }
    }

    /// The input limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    fn count(&self, found: bool) {
        let counter = if found { &self.inner.hits } else { &self.inner.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a backend result as a lookup: an outage is a miss, so callers
    /// compute instead of failing.
    fn read<T>(&self, result: Result<T, CacheError>, miss: T) -> Result<T, CacheError> {
        match result {
            Ok(value) => Ok(value),
            Err(CacheError::Unavailable(reason)) => {
                tracing::debug!(%reason, "cache backend unavailable: answering miss");
                Ok(miss)
            }
            Err(error) => Err(error),
        }
    }

    /// The value of `key`, or `None` (also during a backend outage).
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        self.inner.limits.key(key)?;
        let value = self.read(self.inner.store.get(key).await, None)?;
        self.count(value.is_some());
        Ok(value)
    }

    /// The values of `keys`, in order (all `None` during an outage).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        self.inner.limits.keys(keys)?;
        let values = self.read(self.inner.store.get_many(keys).await, vec![None; keys.len()])?;
        for value in &values {
            self.count(value.is_some());
        }
        Ok(values)
    }

    /// Stores `value` under `key` for `ttl_ms` with `tags`. With the token of
    /// a lease on `key`, the lease is released once the value is stored, so
    /// waiters find the value, never a gap.
    pub async fn set(&self, key: &str, value: Bytes, ttl_ms: u64, tags: &[String], lease_token: &str) -> Result<(), CacheError> {
        let limits = &self.inner.limits;
        limits.key(key)?;
        limits.value(&value)?;
        let ttl = limits.ttl(ttl_ms)?;
        let tags = limits.entry_tags(tags)?;
        self.inner.store.set(key, value, ttl, &tags).await?;
        if !lease_token.is_empty() {
            // The value is stored either way; a failed release only delays
            // nothing, since waiters look for the value first.
            if let Err(error) = self.inner.store.release_lease(key, lease_token).await {
                tracing::debug!(%error, "lease release after set failed");
            }
        }
        self.inner.changed.notify_waiters();
        Ok(())
    }

    /// Removes `keys`; returns how many held a value.
    pub async fn delete(&self, keys: &[String]) -> Result<u64, CacheError> {
        self.inner.limits.keys(keys)?;
        let deleted = self.inner.store.delete(keys).await?;
        self.inner.changed.notify_waiters();
        Ok(deleted)
    }

    /// Atomically removes every key carrying any of `tags`.
    pub async fn invalidate_tags(&self, tags: &[String]) -> Result<u64, CacheError> {
        self.inner.limits.invalidation_tags(tags)?;
        let deleted = self.inner.store.invalidate_tags(tags).await?;
        self.inner.changed.notify_waiters();
        Ok(deleted)
    }

    /// Single-flight read of `key`: the value if there is one; otherwise the
    /// lease to compute it if nobody holds it; otherwise waits (up to
    /// `wait_ms`, capped by `deadline`) for the value or for the lease to
    /// free up.
    pub async fn lease(&self, key: &str, lease_ms: u64, wait_ms: u64, deadline: Option<Duration>) -> Result<LeaseOutcome, CacheError> {
        self.inner.limits.key(key)?;
        let lease = lease_duration("lease_ms", lease_ms, DEFAULT_LEASE)?;
        let mut wait = lease_duration("wait_ms", wait_ms, lease)?;
        if let Some(deadline) = deadline {
            // Answer WAIT_TIMEOUT a little before the caller gives up on us.
            wait = wait.min(deadline.saturating_sub(Duration::from_millis(50)));
        }
        let give_up = Instant::now() + wait;
        let store = &self.inner.store;
        loop {
            // Register interest before checking, so a write between the
            // check and the wait still wakes us.
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();

            match store.get(key).await {
                Ok(Some(value)) => {
                    self.count(true);
                    return Ok(LeaseOutcome::Hit(value));
                }
                Ok(None) => {}
                Err(CacheError::Unavailable(_)) => {
                    self.count(false);
                    return Ok(LeaseOutcome::Unavailable);
                }
                Err(error) => return Err(error),
            }
            let token = uuid::Uuid::new_v4().to_string();
            match store.try_acquire_lease(key, &token, lease).await {
                Ok(true) => {
                    // The previous holder may have stored the value and
                    // released the lease between our read and our acquire
                    // (it writes before it releases): look once more, so the
                    // value is never computed twice.
                    if let Ok(Some(value)) = store.get(key).await {
                        let _ = store.release_lease(key, &token).await;
                        self.count(true);
                        return Ok(LeaseOutcome::Hit(value));
                    }
                    self.count(false);
                    return Ok(LeaseOutcome::Granted(token));
                }
                Ok(false) => {}
                Err(CacheError::Unavailable(_)) => {
                    self.count(false);
                    return Ok(LeaseOutcome::Unavailable);
                }
                Err(error) => return Err(error),
            }
            let now = Instant::now();
            if now >= give_up {
                self.count(false);
                return Ok(LeaseOutcome::WaitTimeout);
            }
            let pause = LEASE_POLL.min(give_up - now);
            let _ = tokio::time::timeout(pause, changed).await;
        }
    }

    /// Gives up a lease; `false` when `token` no longer held it.
    pub async fn release_lease(&self, key: &str, token: &str) -> Result<bool, CacheError> {
        self.inner.limits.key(key)?;
        if token.is_empty() {
            return Err(CacheError::InvalidArgument("token is required: pass the token from the Lease response".to_owned()));
        }
        let released = self.inner.store.release_lease(key, token).await?;
        self.inner.changed.notify_waiters();
        Ok(released)
    }

    /// Pings the backend and records whether it is up and how fast.
    pub async fn check_backend(&self) -> bool {
        let result = self.inner.store.ping().await;
        let up = result.is_ok();
        if let Ok(rtt) = result {
            self.inner.backend_rtt_us.store(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        self.inner.backend_up.store(up, Ordering::Relaxed);
        up
    }

    /// Counters and backend state. Never fails: a backend that cannot be
    /// asked reports `backend_up = false` and zero keys.
    pub async fn stats(&self) -> CacheStats {
        let backend = self.inner.store.stats().await;
        let backend_up = backend.is_ok() && self.inner.backend_up.load(Ordering::Relaxed);
        let backend = backend.unwrap_or_default();
        CacheStats {
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            keys: backend.keys,
            bytes: backend.bytes,
            backend: self.inner.store.backend(),
            backend_up,
            backend_rtt: Duration::from_micros(self.inner.backend_rtt_us.load(Ordering::Relaxed)),
        }
    }
}
