//! Semantic search (with `OPENAI_EMBEDDING_MODEL`): every row embedded once
//! per sheet version by a background task ([`SemanticSearch::follow`]), and
//! the query embedded at search time ([`SemanticSearch::query_vector`]); the
//! index fuses the two rankings ([`SheetIndex::search_hybrid`]).
//!
//! It only ever adds to BM25: indexing never waits for the embedding model;
//! a sheet whose rows cannot be embedded stays BM25-only (retried after
//! [`RETRY_FAILED_AFTER`] or at its next version); a query that cannot be
//! embedded within the query timeout is ranked by BM25 alone. None of it is
//! an error for the caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::index::{Sheet, SheetIndex};
use crate::llm::LlmClient;

/// How long a search waits for its query's embedding before ranking by BM25
/// alone: a search is otherwise a few milliseconds.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a sheet whose embedding failed stays BM25-only before it is
/// tried again (a new version is tried at once).
pub const RETRY_FAILED_AFTER: Duration = Duration::from_secs(300);
/// Rows per [`LlmClient::embed`] call (several requests): between calls the
/// worker checks that the version is still current, so an outdated version
/// of a large sheet is abandoned early.
const SHEET_CHUNK: usize = 2_048;

/// How embedding one sheet version ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    /// Its vectors are in the index.
    Stored,
    /// The embedding model failed (after retries): BM25-only for now.
    Failed,
    /// A newer version (or removal) came first; nothing stored.
    Superseded,
}

type SheetKey = (String, String);

/// Row and query embeddings through an [`LlmClient`] with an embedding model.
#[derive(Debug)]
pub struct SemanticSearch {
    llm: LlmClient,
    query_timeout: Duration,
    /// The last outcome per sheet, with its version: lets tests and status
    /// pages wait for a version's embeddings instead of polling.
    outcomes: watch::Sender<HashMap<SheetKey, (String, Embedded)>>,
}

impl SemanticSearch {
    /// Semantic search through `llm`; `None` when it has no embedding model.
    pub fn new(llm: LlmClient) -> Option<Self> {
        llm.embedding_model()?;
        Some(Self { llm, query_timeout: QUERY_TIMEOUT, outcomes: watch::Sender::new(HashMap::new()) })
    }

    /// Replaces [`QUERY_TIMEOUT`].
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// The embedding model.
    pub fn model(&self) -> &str {
        self.llm.embedding_model().unwrap_or_default()
    }

    /// The query's embedding, when a sheet in scope has row embeddings and
    /// the model answers within the query timeout; `None` (rank by BM25
    /// alone) otherwise.
    pub async fn query_vector(&self, index: &SheetIndex, query: &str, sheets: &[String]) -> Option<Vec<f32>> {
        if !index.has_vectors(sheets) {
            return None;
        }
        match tokio::time::timeout(self.query_timeout, self.llm.embed(&[query.to_owned()])).await {
            Ok(Ok(mut vectors)) => vectors.pop(),
            Ok(Err(error)) => {
                tracing::warn!(%error, "embedding the query failed; ranking by BM25 alone");
                None
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.query_timeout, "embedding the query timed out; ranking by BM25 alone");
                None
            }
        }
    }

    /// Embeds every sheet version that enters `index`, one sheet at a time,
    /// for as long as the index lives (abort the task to stop earlier).
    pub async fn follow(self: Arc<Self>, index: Arc<SheetIndex>) {
        let mut changes = index.subscribe();
        let mut attempted: HashMap<SheetKey, (String, Embedded, Instant)> = HashMap::new();
        loop {
            changes.borrow_and_update();
            let sheets = index.sheets();
            attempted.retain(|key, _| sheets.iter().any(|s| s.spreadsheet == key.0 && s.name == key.1));
            for sheet in sheets {
                let key = (sheet.spreadsheet.clone(), sheet.name.clone());
                let done = attempted.get(&key).is_some_and(|(version, outcome, at)| {
                    *version == sheet.version
                        && match outcome {
                            Embedded::Failed => at.elapsed() < RETRY_FAILED_AFTER,
                            // Stored vectors go when the sheet is removed;
                            // it may come back at the same version.
                            Embedded::Stored | Embedded::Superseded => index.embedded_version(&key.0, &key.1).as_deref() == Some(version),
                        }
                });
                if done {
                    continue;
                }
                let outcome = self.embed_sheet(&index, &sheet).await;
                attempted.insert(key.clone(), (sheet.version.clone(), outcome, Instant::now()));
                self.outcomes.send_modify(|outcomes| {
                    outcomes.insert(key, (sheet.version.clone(), outcome));
                });
            }
            let retry = attempted.values().any(|(_, outcome, _)| *outcome == Embedded::Failed);
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(RETRY_FAILED_AFTER), if retry => {}
            }
        }
    }

    /// How embedding `version` of a sheet ended, once it has.
    pub async fn settled(&self, spreadsheet: &str, sheet: &str, version: &str) -> Embedded {
        let key = (spreadsheet.to_owned(), sheet.to_owned());
        let mut outcomes = self.outcomes.subscribe();
        // `self` holds the sender, so the channel cannot close under us.
        match outcomes.wait_for(|all| all.get(&key).is_some_and(|(v, _)| v == version)).await {
            Ok(all) => all.get(&key).map_or(Embedded::Failed, |(_, outcome)| *outcome),
            Err(_) => Embedded::Failed,
        }
    }

    async fn embed_sheet(&self, index: &Arc<SheetIndex>, sheet: &Arc<Sheet>) -> Embedded {
        let started = Instant::now();
        let current = || index.version(&sheet.spreadsheet, &sheet.name).as_deref() == Some(sheet.version.as_str());
        let mut vectors = Vec::with_capacity(sheet.rows.len());
        for chunk in sheet.rows.chunks(SHEET_CHUNK) {
            if !current() {
                return Embedded::Superseded;
            }
            let texts: Vec<String> = chunk.iter().map(|row| sheet.row_text(row)).collect();
            match self.llm.embed(&texts).await {
                Ok(batch) => vectors.extend(batch),
                Err(error) => {
                    tracing::warn!(%error, sheet = %sheet.name, version = %sheet.version, "embedding the rows failed; the sheet stays BM25-only");
                    return Embedded::Failed;
                }
            }
        }
        let rows = vectors.len();
        let (index, stored) = (Arc::clone(index), Arc::clone(sheet));
        // Normalising every vector is CPU work: keep it off the async workers.
        match tokio::task::spawn_blocking(move || index.set_vectors(&stored, vectors)).await {
            Ok(Ok(true)) => {
                tracing::info!(sheet = %sheet.name, version = %sheet.version, rows, elapsed = ?started.elapsed(), "rows embedded");
                Embedded::Stored
            }
            Ok(Ok(false)) => Embedded::Superseded,
            Ok(Err(error)) => {
                tracing::warn!(%error, sheet = %sheet.name, "storing the row embeddings failed; the sheet stays BM25-only");
                Embedded::Failed
            }
            Err(error) => {
                tracing::warn!(%error, sheet = %sheet.name, "the embedding task failed; the sheet stays BM25-only");
                Embedded::Failed
            }
        }
    }
}
