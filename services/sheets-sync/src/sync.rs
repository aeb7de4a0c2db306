//! The sync engine: lease → probe → read → normalise → compare → store →
//! announce → invalidate, per spreadsheet, recording per-sheet errors while
//! the last good snapshot keeps being served.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::model::{ChangeEvent, ChangeKind, SheetKey, SheetMeta, SheetSyncResult};
use crate::normalize::{Limits, RawSheet, Snapshot, normalize};
use crate::source::Source;
use crate::store::SnapshotStore;
use crate::watch::{Subscription, WatchHub};

/// Invalidates cache entries by tag. The service implements it with the
/// `CacheService` client; a failure is logged and does not fail the sync
/// (answers are keyed by sheet version, so a stale entry is never served).
#[async_trait]
pub trait TagInvalidator: Send + Sync + std::fmt::Debug {
    /// Drops every cache entry carrying one of `tags`
    /// (`sheet:<spreadsheet>/<sheet>`).
    async fn invalidate(&self, tags: &[String]) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// An invalidator for a deployment without a cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

#[async_trait]
impl TagInvalidator for NoCache {
    async fn invalidate(&self, _tags: &[String]) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Row, column and cell-size limits.
    pub limits: Limits,
    /// How long a sync lease lasts if its holder dies mid-sync.
    pub lease_ttl: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { limits: Limits::default(), lease_ttl: Duration::from_secs(120) }
    }
}

/// What a sync of one spreadsheet came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The source was read (some sheets may still have failed).
    Read,
    /// The probe said nothing changed; nothing was read.
    Unchanged,
    /// The source could not be probed or read; errors were recorded.
    Failed,
    /// Another replica (or task) holds the lease; nothing was done.
    Busy,
}

/// The result of syncing one spreadsheet.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// Which spreadsheet.
    pub spreadsheet: String,
    /// What happened overall.
    pub outcome: SyncOutcome,
    /// One result per sheet looked at.
    pub results: Vec<SheetSyncResult>,
}

/// Syncs spreadsheets from a source into a store and announces changes.
#[derive(Debug)]
pub struct SyncEngine {
    source: Arc<dyn Source>,
    store: Arc<dyn SnapshotStore>,
    invalidator: Arc<dyn TagInvalidator>,
    hub: WatchHub,
    config: SyncConfig,
    /// Lease owner id: unique per engine, so two engines never share a lease.
    owner: String,
    first_sync: watch::Sender<bool>,
}

impl SyncEngine {
    /// An engine over `source` and `store`. Loads the versions already in
    /// the store (a restart on Redis) so watchers get them as CURRENT.
    pub async fn new(source: Arc<dyn Source>, store: Arc<dyn SnapshotStore>, invalidator: Arc<dyn TagInvalidator>, config: SyncConfig) -> Result<Self> {
        let hub = WatchHub::default();
        hub.seed(&store.list(None).await?);
        Ok(Self { source, store, invalidator, hub, config, owner: uuid::Uuid::new_v4().to_string(), first_sync: watch::channel(false).0 })
    }

    /// The store, for reads (`ListSheets`, `GetRows`).
    pub fn store(&self) -> &Arc<dyn SnapshotStore> {
        &self.store
    }

    /// The source.
    pub fn source(&self) -> &Arc<dyn Source> {
        &self.source
    }

    /// The change hub (to feed it from the shared event stream).
    pub fn hub(&self) -> &WatchHub {
        &self.hub
    }

    /// A watch: CURRENT for every sheet, then changes (`WatchChanges`).
    pub fn subscribe(&self, spreadsheet: Option<String>) -> Subscription {
        self.hub.subscribe(spreadsheet)
    }

    /// True when `spreadsheet` is one this engine syncs (`Notify`).
    pub async fn is_known(&self, spreadsheet: &str) -> Result<bool> {
        Ok(self.source.spreadsheets().await?.iter().any(|id| id == spreadsheet))
    }

    /// True once a full sync has completed (health turns SERVING), even if
    /// it recorded errors.
    pub fn first_sync_completed(&self) -> bool {
        *self.first_sync.borrow()
    }

    /// Waits until [`SyncEngine::first_sync_completed`].
    pub async fn wait_first_sync(&self) {
        let mut rx = self.first_sync.subscribe();
        // The sender lives in self, so the channel cannot close here.
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Syncs every spreadsheet of the source (start-up, polling, `Sync`
    /// without a spreadsheet) and forgets spreadsheets that disappeared.
    pub async fn sync_all(&self) -> Result<Vec<SyncReport>> {
        let ids = self.source.spreadsheets().await?;
        let mut reports = Vec::with_capacity(ids.len());
        for id in &ids {
            reports.push(self.sync_spreadsheet(id).await?);
        }
        let listed: HashSet<&String> = ids.iter().collect();
        let mut gone: Vec<String> = self.store.list(None).await?.into_iter().map(|meta| meta.key.spreadsheet).filter(|id| !listed.contains(id)).collect();
        gone.dedup();
        for id in gone {
            self.remove_spreadsheet(&id).await?;
        }
        self.first_sync.send_replace(true);
        Ok(reports)
    }

    /// Syncs one spreadsheet under its lease.
    pub async fn sync_spreadsheet(&self, spreadsheet: &str) -> Result<SyncReport> {
        if !self.store.try_lease(spreadsheet, &self.owner, self.config.lease_ttl).await? {
            let results = self.store.list(Some(spreadsheet)).await?.iter().map(|m| SheetSyncResult::from_meta(m, false)).collect();
            return Ok(SyncReport { spreadsheet: spreadsheet.to_owned(), outcome: SyncOutcome::Busy, results });
        }
        let report = self.sync_locked(spreadsheet).await;
        if let Err(error) = self.store.release_lease(spreadsheet, &self.owner).await {
            // It expires on its own; the next sync just waits for that.
            tracing::warn!(%spreadsheet, %error, "could not release the sync lease");
        }
        report
    }

    async fn sync_locked(&self, spreadsheet: &str) -> Result<SyncReport> {
        let known = self.store.list(Some(spreadsheet)).await?;
        let token = match self.source.probe(spreadsheet).await {
            Ok(token) => token,
            Err(error) => return self.record_failure(spreadsheet, known, &error).await,
        };
        let has_sheets = known.iter().any(|m| !m.key.sheet.is_empty());
        if has_sheets && self.store.probe_token(spreadsheet).await?.as_deref() == Some(token.as_str()) {
            return self.record_unchanged(spreadsheet, known).await;
        }
        let sheets = match self.source.read(spreadsheet).await {
            Ok(sheets) => sheets,
            Err(error) => return self.record_failure(spreadsheet, known, &error).await,
        };
        let mut results = Vec::with_capacity(sheets.len());
        let mut seen = HashSet::new();
        for (position, raw) in sheets.into_iter().enumerate() {
            let key = SheetKey::new(spreadsheet, raw.title.clone());
            if !seen.insert(key.clone()) {
                continue;
            }
            let previous = known.iter().find(|m| m.key == key).cloned();
            let meta = previous.unwrap_or_else(|| SheetMeta::new(key, 0, self.source.kind()));
            results.push(self.apply_sheet(meta, position as u32, raw).await?);
        }
        for meta in known.into_iter().filter(|m| !seen.contains(&m.key)) {
            self.remove_sheet(meta).await?;
        }
        self.store.set_probe_token(spreadsheet, &token).await?;
        Ok(SyncReport { spreadsheet: spreadsheet.to_owned(), outcome: SyncOutcome::Read, results })
    }

    async fn apply_sheet(&self, mut meta: SheetMeta, position: u32, raw: RawSheet) -> Result<SheetSyncResult> {
        let limits = self.config.limits;
        // Normalising and hashing a large sheet is CPU work for a while:
        // keep it off the async workers.
        let normalized = tokio::task::spawn_blocking(move || normalize(raw, &limits)).await.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
        let now = SystemTime::now();
        meta.position = position;
        meta.last_attempt_at = Some(now);
        let snapshot = match normalized {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(sheet = %meta.key, %error, "sheet not synced; keeping the last good snapshot");
                meta.last_error = Some(error.to_string());
                self.store.put_meta(&meta).await?;
                return Ok(SheetSyncResult::from_meta(&meta, false));
            }
        };
        meta.last_error = None;
        if snapshot.version == meta.version {
            self.store.put_meta(&meta).await?;
            return Ok(SheetSyncResult::from_meta(&meta, false));
        }
        let event = self.store_version(&mut meta, snapshot, now).await?;
        self.announce(event).await;
        Ok(SheetSyncResult::from_meta(&meta, true))
    }

    async fn store_version(&self, meta: &mut SheetMeta, snapshot: Snapshot, now: SystemTime) -> Result<ChangeEvent> {
        let previous_version = std::mem::replace(&mut meta.version, snapshot.version.clone());
        meta.columns = snapshot.columns.clone();
        meta.row_count = snapshot.rows.len() as u64;
        meta.synced_at = Some(now);
        let event = ChangeEvent {
            kind: ChangeKind::Changed,
            key: meta.key.clone(),
            version: meta.version.clone(),
            previous_version,
            row_count: meta.row_count,
            changed_at: now,
        };
        self.store.commit(meta, Arc::new(snapshot), &event).await?;
        tracing::info!(sheet = %meta.key, version = %meta.version, rows = meta.row_count, "stored a new version");
        Ok(event)
    }

    async fn announce(&self, event: ChangeEvent) {
        let tags = [event.key.cache_tag()];
        self.hub.publish(event);
        if let Err(error) = self.invalidator.invalidate(&tags).await {
            tracing::warn!(tag = %tags[0], %error, "could not invalidate the cache tag");
        }
    }

    async fn remove_sheet(&self, meta: SheetMeta) -> Result<()> {
        // The error placeholder of a never-read spreadsheet is no sheet.
        if meta.version.is_empty() {
            return self.store.remove(&meta.key, None).await;
        }
        let event = ChangeEvent {
            kind: ChangeKind::Removed,
            key: meta.key.clone(),
            version: String::new(),
            previous_version: meta.version,
            row_count: 0,
            changed_at: SystemTime::now(),
        };
        self.store.remove(&meta.key, Some(&event)).await?;
        tracing::info!(sheet = %meta.key, "sheet removed from its source");
        self.announce(event).await;
        Ok(())
    }

    async fn remove_spreadsheet(&self, spreadsheet: &str) -> Result<()> {
        if !self.store.try_lease(spreadsheet, &self.owner, self.config.lease_ttl).await? {
            return Ok(());
        }
        let mut outcome = Ok(());
        for meta in self.store.list(Some(spreadsheet)).await? {
            outcome = outcome.and(self.remove_sheet(meta).await);
        }
        if let Err(error) = self.store.release_lease(spreadsheet, &self.owner).await {
            tracing::warn!(%spreadsheet, %error, "could not release the sync lease");
        }
        outcome
    }

    async fn record_unchanged(&self, spreadsheet: &str, known: Vec<SheetMeta>) -> Result<SyncReport> {
        let now = SystemTime::now();
        let mut results = Vec::with_capacity(known.len());
        for mut meta in known {
            // The data is what the last successful read saw; an error
            // recorded since (a failed probe) no longer applies.
            meta.last_error = None;
            meta.last_attempt_at = Some(now);
            self.store.put_meta(&meta).await?;
            results.push(SheetSyncResult::from_meta(&meta, false));
        }
        Ok(SyncReport { spreadsheet: spreadsheet.to_owned(), outcome: SyncOutcome::Unchanged, results })
    }

    /// Records a spreadsheet-wide failure (403, 404, quota, unreadable
    /// file) on each of its sheets; their snapshots stay. A spreadsheet
    /// never read successfully gets a placeholder entry (empty sheet name)
    /// so the reason still shows in `ListSheets`.
    async fn record_failure(&self, spreadsheet: &str, mut known: Vec<SheetMeta>, error: &Error) -> Result<SyncReport> {
        tracing::warn!(%spreadsheet, %error, "spreadsheet not synced; keeping the last good snapshots");
        if known.is_empty() {
            known.push(SheetMeta::new(SheetKey::new(spreadsheet, ""), 0, self.source.kind()));
        }
        let now = SystemTime::now();
        let mut results = Vec::with_capacity(known.len());
        for mut meta in known {
            meta.last_error = Some(error.to_string());
            meta.last_attempt_at = Some(now);
            self.store.put_meta(&meta).await?;
            results.push(SheetSyncResult::from_meta(&meta, false));
        }
        Ok(SyncReport { spreadsheet: spreadsheet.to_owned(), outcome: SyncOutcome::Failed, results })
    }
}
