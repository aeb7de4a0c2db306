//! Loading the index from a rows source (sheets-sync) and following its
//! changes. The source is a trait so that the service implements it over the
//! `SheetsService` client (`ListSheets`, paged `GetRows`, `WatchChanges`)
//! and tests over an in-memory double.
//!
//! Convergence does not depend on seeing every event: a (re)opened watch
//! first sends the CURRENT version of every sheet, and each event is applied
//! by comparing versions, so a change made while the watch was down is
//! picked up on reconnect.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use futures::stream::BoxStream;
use sheetmesh_proto::v1::sheet_change::Kind;
use sheetmesh_proto::v1::{Row, SheetChange};

use crate::error::{Error, Result};
use crate::index::SheetIndex;

/// A sheet and its version, as `ListSheets` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetMeta {
    /// Spreadsheet id or file.
    pub spreadsheet: String,
    /// Sheet title.
    pub sheet: String,
    /// Version; empty while never synced.
    pub version: String,
}

/// All rows of a sheet at one version (every `GetRows` page).
#[derive(Debug, Clone, PartialEq)]
pub struct SheetSnapshot {
    /// Version the rows were read at.
    pub version: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows in sheet order.
    pub rows: Vec<Row>,
}

/// Where rows come from.
#[async_trait]
pub trait SheetSource: Send + Sync + std::fmt::Debug {
    /// Every synced sheet with its version.
    async fn list_sheets(&self) -> Result<Vec<SheetMeta>>;
    /// The current rows of one sheet.
    async fn load(&self, spreadsheet: &str, sheet: &str) -> Result<SheetSnapshot>;
    /// Version changes: CURRENT for every sheet first, then each change.
    async fn watch(&self) -> Result<BoxStream<'static, Result<SheetChange>>>;
}

/// Loads every synced sheet into the index; returns how many were loaded.
pub async fn load_all(index: &Arc<SheetIndex>, source: &dyn SheetSource) -> Result<usize> {
    let mut loaded = 0;
    for meta in source.list_sheets().await? {
        if meta.version.is_empty() {
            continue;
        }
        sync_sheet(index, source, &meta.spreadsheet, &meta.sheet).await?;
        loaded += 1;
    }
    Ok(loaded)
}

async fn sync_sheet(index: &Arc<SheetIndex>, source: &dyn SheetSource, spreadsheet: &str, sheet: &str) -> Result<()> {
    let snapshot = source.load(spreadsheet, sheet).await?;
    let (index, spreadsheet, sheet) = (Arc::clone(index), spreadsheet.to_owned(), sheet.to_owned());
    // Tokenizing a large sheet is CPU work: keep it off the async workers.
    tokio::task::spawn_blocking(move || index.replace_sheet(&spreadsheet, &sheet, &snapshot.version, snapshot.columns, snapshot.rows))
        .await
        .map_err(|e| Error::Index(format!("indexing task failed: {e}")))?
}

/// Applies one change: reloads the sheet when its version differs from the
/// indexed one, removes it when removed.
pub async fn apply(index: &Arc<SheetIndex>, source: &dyn SheetSource, change: &SheetChange) -> Result<()> {
    match Kind::try_from(change.kind).unwrap_or(Kind::Unspecified) {
        Kind::Current | Kind::Changed => {
            if change.version.is_empty() || index.version(&change.spreadsheet, &change.sheet).as_deref() == Some(change.version.as_str()) {
                return Ok(());
            }
            sync_sheet(index, source, &change.spreadsheet, &change.sheet).await
        }
        Kind::Removed => index.remove_sheet(&change.spreadsheet, &change.sheet),
        Kind::Unspecified => Ok(()),
    }
}

/// Follows the source's changes until `shutdown` resolves, reconnecting a
/// dropped or failed watch with exponential backoff (reset once a watch
/// delivers an event).
pub async fn follow(index: Arc<SheetIndex>, source: Arc<dyn SheetSource>, shutdown: impl Future<Output = ()>) {
    let backoff = || {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .without_max_times()
            .build()
    };
    let run = async {
        let mut delays = backoff();
        loop {
            match source.watch().await {
                Ok(mut changes) => {
                    while let Some(change) = changes.next().await {
                        delays = backoff();
                        match change {
                            Ok(change) => {
                                if let Err(err) = apply(&index, source.as_ref(), &change).await {
                                    // The next CURRENT burst (on reconnect) retries it.
                                    tracing::warn!(error = %err, sheet = %change.sheet, "applying a sheet change failed");
                                }
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "sheet watch failed");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "opening the sheet watch failed"),
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(10));
            tracing::info!(?delay, "reconnecting the sheet watch");
            tokio::time::sleep(delay).await;
        }
    };
    tokio::select! {
        () = shutdown => {}
        () = run => {}
    }
}
