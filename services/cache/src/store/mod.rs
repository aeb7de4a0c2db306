//! Where entries live. One trait, two backends that pass one test suite
//! (`tests/store_suite.rs`): [`redis::RedisStore`] and
//! [`memory::MemoryStore`].
//!
//! Backends implement storage only; validation, hit/miss counting, outage
//! policy and lease waiting live in [`crate::Cache`], so both backends
//! behave the same to callers.

pub mod memory;
pub mod redis;

use std::{future::Future, time::Duration};

use bytes::Bytes;

use crate::CacheError;

/// What a backend knows about itself, for `Stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Live entries.
    pub keys: u64,
    /// Memory in bytes (see the `StatsResponse.bytes` contract).
    pub bytes: u64,
}

/// A cache backend. Every method is bounded in time: an unreachable backend
/// answers [`CacheError::Unavailable`] within its response timeout.
pub trait CacheStore: Send + Sync + 'static {
    /// `"redis"` or `"memory"`.
    fn backend(&self) -> &'static str;

    /// The live value of `key`.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Bytes>, CacheError>> + Send;

    /// The live values of `keys`, in order.
    fn get_many(&self, keys: &[String]) -> impl Future<Output = Result<Vec<Option<Bytes>>, CacheError>> + Send;

    /// Stores `value` under `key` for `ttl` with `tags`, replacing any value
    /// and tags the key had.
    fn set(&self, key: &str, value: Bytes, ttl: Duration, tags: &[String]) -> impl Future<Output = Result<(), CacheError>> + Send;

    /// Removes `keys`; returns how many held a live value.
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<u64, CacheError>> + Send;

    /// Atomically removes every key carrying any of `tags`; returns how many.
    fn invalidate_tags(&self, tags: &[String]) -> impl Future<Output = Result<u64, CacheError>> + Send;

    /// Takes the lease on `key` for `ttl` if nobody holds it.
    fn try_acquire_lease(&self, key: &str, token: &str, ttl: Duration) -> impl Future<Output = Result<bool, CacheError>> + Send;

    /// Releases the lease on `key` if `token` still holds it.
    fn release_lease(&self, key: &str, token: &str) -> impl Future<Output = Result<bool, CacheError>> + Send;

    /// Entry count and memory.
    fn stats(&self) -> impl Future<Output = Result<BackendStats, CacheError>> + Send;

    /// Checks the backend answers; returns the round trip.
    fn ping(&self) -> impl Future<Output = Result<Duration, CacheError>> + Send;
}
