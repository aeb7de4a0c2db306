//! The in-memory backend: the embedded default when no Redis is configured.
//!
//! Entries live in a moka cache bounded by bytes (TinyLFU admission, so a
//! burst of one-off keys cannot flush the hot ones) with a TTL per entry.
//! Tags are an index `tag → {key → entry id}` under one mutex, which also
//! serialises writes against invalidation so that invalidation is atomic.
//! An entry id marks which write a tag membership belongs to: a key
//! rewritten without a tag loses that membership, and memberships of
//! evicted or expired entries are swept once they outnumber live entries.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use moka::{Expiry, sync::Cache as MokaCache};

use super::{BackendStats, CacheStore};
use crate::CacheError;

#[derive(Debug)]
struct Entry {
    id: u64,
    value: Bytes,
    ttl: Duration,
    tags: Vec<String>,
}

struct PerEntryTtl;

impl Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Arc<Entry>, _created_at: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(&self, _key: &String, entry: &Arc<Entry>, _updated_at: Instant, _remaining: Option<Duration>) -> Option<Duration> {
        Some(entry.ttl)
    }
}

#[derive(Debug, Default)]
struct Index {
    /// tag → key → id of the entry that carried the tag when written.
    tags: HashMap<String, HashMap<String, u64>>,
    memberships: usize,
    /// key → (token, expiry) of a held lease.
    leases: HashMap<String, (String, Instant)>,
}

/// In-process backend; cheap to clone (shared state).
#[derive(Clone)]
pub struct MemoryStore {
    entries: MokaCache<String, Arc<Entry>>,
    index: Arc<Mutex<Index>>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("entries", &self.entries.entry_count()).finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store holding at most about `capacity_bytes` of keys, values and tags.
    pub fn new(capacity_bytes: u64) -> Self {
        let entries = MokaCache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &String, entry: &Arc<Entry>| {
                let size = key.len() + entry.value.len() + entry.tags.iter().map(String::len).sum::<usize>() + 64;
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { entries, index: Arc::default(), next_id: Arc::new(AtomicU64::new(1)) }
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves the index consistent enough
        // (worst case: a stale membership, swept later), so recover.
        self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn forget_memberships(index: &mut Index, key: &str, entry: &Entry) {
        for tag in &entry.tags {
            if let Some(members) = index.tags.get_mut(tag) {
                if members.get(key) == Some(&entry.id) && members.remove(key).is_some() {
                    index.memberships -= 1;
                }
                if members.is_empty() {
                    index.tags.remove(tag);
                }
            }
        }
    }

    /// Drops memberships whose entry is gone (expired, evicted) so the index
    /// stays proportional to the live entries.
    fn sweep_if_needed(&self, index: &mut Index) {
        let live = usize::try_from(self.entries.entry_count()).unwrap_or(usize::MAX);
        if index.memberships <= 2 * live + 1024 {
            return;
        }
        let entries = &self.entries;
        let mut kept = 0;
        index.tags.retain(|_, members| {
            members.retain(|key, id| entries.get(key).is_some_and(|entry| entry.id == *id));
            kept += members.len();
            !members.is_empty()
        });
        index.memberships = kept;
    }
}

impl CacheStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        Ok(self.entries.get(key).map(|entry| entry.value.clone()))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        Ok(keys.iter().map(|key| self.entries.get(key).map(|entry| entry.value.clone())).collect())
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration, tags: &[String]) -> Result<(), CacheError> {
        let entry = Arc::new(Entry { id: self.next_id.fetch_add(1, Ordering::Relaxed), value, ttl, tags: tags.to_vec() });
        let mut index = self.index();
        if let Some(previous) = self.entries.get(key) {
            Self::forget_memberships(&mut index, key, &previous);
        }
        for tag in &entry.tags {
            if index.tags.entry(tag.clone()).or_default().insert(key.to_owned(), entry.id).is_none() {
                index.memberships += 1;
            }
        }
        self.entries.insert(key.to_owned(), entry);
        self.sweep_if_needed(&mut index);
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<u64, CacheError> {
        let mut index = self.index();
        let mut deleted = 0;
        for key in keys {
            if let Some(entry) = self.entries.remove(key) {
                Self::forget_memberships(&mut index, key, &entry);
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn invalidate_tags(&self, tags: &[String]) -> Result<u64, CacheError> {
        let mut index = self.index();
        let mut deleted = 0;
        for tag in tags {
            let Some(members) = index.tags.remove(tag) else { continue };
            index.memberships -= members.len();
            for (key, id) in members {
                let Some(entry) = self.entries.get(&key) else { continue };
                if entry.id != id {
                    continue;
                }
                self.entries.invalidate(&key);
                Self::forget_memberships(&mut index, &key, &entry);
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn try_acquire_lease(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut index = self.index();
        index.leases.retain(|_, (_, expires)| *expires > now);
        if index.leases.contains_key(key) {
            return Ok(false);
        }
        index.leases.insert(key.to_owned(), (token.to_owned(), now + ttl));
        Ok(true)
    }

    async fn release_lease(&self, key: &str, token: &str) -> Result<bool, CacheError> {
        let mut index = self.index();
        let now = Instant::now();
        match index.leases.get(key) {
            Some((holder, expires)) if holder == token && *expires > now => {
                index.leases.remove(key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn stats(&self) -> Result<BackendStats, CacheError> {
        // moka's own counts include entries whose TTL has passed but that its
        // timer wheel (about 1 s buckets) has not evicted yet; iterating skips
        // them, so the numbers are exact. Stats is not a hot path.
        let (keys, bytes) = self.entries.iter().fold((0, 0), |(keys, bytes), (_, entry)| (keys + 1, bytes + entry.value.len() as u64));
        Ok(BackendStats { keys, bytes })
    }

    async fn ping(&self) -> Result<Duration, CacheError> {
        Ok(Duration::ZERO)
    }
}
