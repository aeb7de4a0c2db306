//! In-process store, the embedded default. One mutex guards everything, so
//! a commit (snapshot + meta + event) is seen whole or not at all; the
//! critical sections only move `Arc`s and never await.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{SnapshotStore, sort_metas};
use crate::error::Result;
use crate::model::{ChangeEvent, SheetKey, SheetMeta};
use crate::normalize::Snapshot;

/// Snapshots, events and leases in memory.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    max_events: usize,
}

#[derive(Debug, Default)]
struct Inner {
    sheets: BTreeMap<SheetKey, (SheetMeta, Option<Arc<Snapshot>>)>,
    events: VecDeque<(u64, ChangeEvent)>,
    next_event: u64,
    probes: HashMap<String, String>,
    leases: HashMap<String, (String, Instant)>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl MemoryStore {
    /// A store that keeps the newest `max_events` change events.
    pub fn new(max_events: usize) -> Self {
        Self { inner: Arc::default(), max_events: max_events.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent, so a panic
        // elsewhere while holding the lock cannot have left half a write.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_event(&self, inner: &mut Inner, event: &ChangeEvent) {
        inner.next_event += 1;
        let id = inner.next_event;
        inner.events.push_back((id, event.clone()));
        while inner.events.len() > self.max_events {
            inner.events.pop_front();
        }
    }
}

#[async_trait]
impl SnapshotStore for MemoryStore {
    async fn list(&self, spreadsheet: Option<&str>) -> Result<Vec<SheetMeta>> {
        let inner = self.lock();
        let mut metas: Vec<SheetMeta> =
            inner.sheets.values().filter(|(meta, _)| spreadsheet.is_none_or(|s| meta.key.spreadsheet == s)).map(|(meta, _)| meta.clone()).collect();
        sort_metas(&mut metas);
        Ok(metas)
    }

    async fn meta(&self, key: &SheetKey) -> Result<Option<SheetMeta>> {
        Ok(self.lock().sheets.get(key).map(|(meta, _)| meta.clone()))
    }

    async fn snapshot(&self, key: &SheetKey) -> Result<Option<(SheetMeta, Arc<Snapshot>)>> {
        let inner = self.lock();
        Ok(inner.sheets.get(key).and_then(|(meta, snap)| snap.as_ref().map(|s| (meta.clone(), Arc::clone(s)))))
    }

    async fn commit(&self, meta: &SheetMeta, snapshot: Arc<Snapshot>, event: &ChangeEvent) -> Result<()> {
        let mut inner = self.lock();
        inner.sheets.insert(meta.key.clone(), (meta.clone(), Some(snapshot)));
        self.push_event(&mut inner, event);
        Ok(())
    }

    async fn put_meta(&self, meta: &SheetMeta) -> Result<()> {
        let mut inner = self.lock();
        match inner.sheets.get_mut(&meta.key) {
            Some(entry) => entry.0 = meta.clone(),
            None => {
                inner.sheets.insert(meta.key.clone(), (meta.clone(), None));
            }
        }
        Ok(())
    }

    async fn remove(&self, key: &SheetKey, event: Option<&ChangeEvent>) -> Result<()> {
        let mut inner = self.lock();
        inner.sheets.remove(key);
        if let Some(event) = event {
            self.push_event(&mut inner, event);
        }
        Ok(())
    }

    async fn events(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, ChangeEvent)>> {
        let after: u64 = after.and_then(|id| id.parse().ok()).unwrap_or(0);
        let inner = self.lock();
        Ok(inner.events.iter().filter(|(id, _)| *id > after).take(limit).map(|(id, event)| (id.to_string(), event.clone())).collect())
    }

    async fn probe_token(&self, spreadsheet: &str) -> Result<Option<String>> {
        Ok(self.lock().probes.get(spreadsheet).cloned())
    }

    async fn set_probe_token(&self, spreadsheet: &str, token: &str) -> Result<()> {
        self.lock().probes.insert(spreadsheet.to_owned(), token.to_owned());
        Ok(())
    }

    async fn try_lease(&self, spreadsheet: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.leases.get(spreadsheet) {
            // Held, by anyone: the same engine must not run two syncs of
            // one spreadsheet either (Sync RPC racing the poll loop).
            Some((_, expires)) if *expires > now => Ok(false),
            _ => {
                inner.leases.insert(spreadsheet.to_owned(), (owner.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release_lease(&self, spreadsheet: &str, owner: &str) -> Result<()> {
        let mut inner = self.lock();
        if inner.leases.get(spreadsheet).is_some_and(|(holder, _)| holder == owner) {
            inner.leases.remove(spreadsheet);
        }
        Ok(())
    }
}
