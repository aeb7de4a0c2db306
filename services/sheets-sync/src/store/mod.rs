//! Snapshot stores: where versions, sync state, change events and sync
//! leases live. [`memory`] is the embedded default; [`redis`] is shared by
//! replicas. Both pass the same test suite (`tests/store_suite.rs`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{ChangeEvent, SheetKey, SheetMeta};
use crate::normalize::Snapshot;

pub mod memory;
pub mod redis;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

/// Stored sheets, their change stream and the per-spreadsheet sync lease.
///
/// Readers never see half a sheet: [`SnapshotStore::commit`] makes the new
/// rows, the new meta and the event visible together.
#[async_trait]
pub trait SnapshotStore: Send + Sync + std::fmt::Debug {
    /// Meta of every known sheet (of one spreadsheet, or all), ordered by
    /// spreadsheet, then position.
    async fn list(&self, spreadsheet: Option<&str>) -> Result<Vec<SheetMeta>>;

    /// Meta of one sheet.
    async fn meta(&self, key: &SheetKey) -> Result<Option<SheetMeta>>;

    /// The stored snapshot of a sheet with the meta it was stored under.
    async fn snapshot(&self, key: &SheetKey) -> Result<Option<(SheetMeta, Arc<Snapshot>)>>;

    /// Stores a new version and appends its change event.
    async fn commit(&self, meta: &SheetMeta, snapshot: Arc<Snapshot>, event: &ChangeEvent) -> Result<()>;

    /// Updates the sync state (error, attempt time, position) of a sheet
    /// and keeps its snapshot.
    async fn put_meta(&self, meta: &SheetMeta) -> Result<()>;

    /// Forgets a sheet, appending `event` (its REMOVED event) if given.
    async fn remove(&self, key: &SheetKey, event: Option<&ChangeEvent>) -> Result<()>;

    /// Change events after the event id `after` (from the start when
    /// `None`), oldest first, at most `limit`. Ids are opaque strings.
    async fn events(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, ChangeEvent)>>;

    /// The source's probe token recorded by the last successful read.
    async fn probe_token(&self, spreadsheet: &str) -> Result<Option<String>>;

    /// Records the probe token of a successful read.
    async fn set_probe_token(&self, spreadsheet: &str, token: &str) -> Result<()>;

    /// Takes the sync lease of a spreadsheet for `ttl` unless another owner
    /// holds it. True when `owner` now holds it.
    async fn try_lease(&self, spreadsheet: &str, owner: &str, ttl: Duration) -> Result<bool>;

    /// Gives the lease back, only if `owner` still holds it.
    async fn release_lease(&self, spreadsheet: &str, owner: &str) -> Result<()>;
}

pub(crate) fn sort_metas(metas: &mut [SheetMeta]) {
    metas.sort_by(|a, b| (a.key.spreadsheet.as_str(), a.position, a.key.sheet.as_str()).cmp(&(b.key.spreadsheet.as_str(), b.position, b.key.sheet.as_str())));
}
