//! The answer cache: the key, the tags, and the trait over CacheService.
//!
//! The key hashes everything an answer depends on — the normalised question,
//! the conversation tail, the **current versions of the sheets in scope**,
//! the model and the prompt version — so a changed sheet changes the key and
//! a stale answer can never be served, whether or not the tag invalidation
//! has run yet.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sheetmesh_proto::v1::ChatTurn;

use crate::error::Result;
use crate::index::Sheet;
use crate::prompt::PROMPT_VERSION;

/// Outcome of [`AnswerCache::lease`], as CacheService `Lease` defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The key holds a value (now, or after waiting).
    Hit(Vec<u8>),
    /// We hold the lease: compute, then `set` with the token (or release it).
    Granted {
        /// The lease token.
        token: String,
    },
    /// Another caller held the lease for the whole wait: compute uncached.
    WaitTimeout,
    /// The backend is unreachable: compute uncached.
    Unavailable,
}

/// The answer cache, with CacheService's `Get`/`Set`/`Lease`/`ReleaseLease`
/// semantics (see `proto/sheetmesh/v1/cache.proto`). The service implements
/// it over the gRPC client; `testing::MemoryAnswerCache` is the in-process
/// test double.
#[async_trait]
pub trait AnswerCache: Send + Sync + std::fmt::Debug {
    /// The live value of `key`, if any. An outage reads as a miss.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` with a TTL and tags; a `lease_token` releases that
    /// lease and hands the value to waiting callers.
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration, tags: Vec<String>, lease_token: Option<String>) -> Result<()>;
    /// Single-flight: the value, or the lease to compute it, or a timeout.
    async fn lease(&self, key: &str, lease: Duration, wait: Duration) -> Result<LeaseOutcome>;
    /// Gives up a lease without a value, so a waiter can take over at once.
    async fn release_lease(&self, key: &str, token: &str) -> Result<bool>;
}

/// Lower case, single spaces, no trailing `?`/`!`/`.`: "What is SKU-42 ?"
/// and "what is  sku-42" are the same question.
pub fn normalise_question(question: &str) -> String {
    let lowered = question.to_lowercase();
    let collapsed = lowered.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.trim_end_matches(['?', '!', '.', ' ']).to_owned()
}

/// The cache key for an answer: `answer:<sha256 hex>`.
pub fn answer_key(question: &str, tail: &[ChatTurn], scope: &[Arc<Sheet>], model: &str) -> String {
    let mut hash = Sha256::new();
    // Length-prefixed fields: no two different inputs serialise alike.
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(PROMPT_VERSION.as_bytes());
    field(model.as_bytes());
    field(normalise_question(question).as_bytes());
    for turn in tail {
        field(&turn.role.to_le_bytes());
        field(turn.content.as_bytes());
    }
    field(b"sheets");
    let mut versions: Vec<(&str, &str, &str)> = scope.iter().map(|s| (s.spreadsheet.as_str(), s.name.as_str(), s.version.as_str())).collect();
    versions.sort_unstable();
    for (spreadsheet, sheet, version) in versions {
        field(spreadsheet.as_bytes());
        field(sheet.as_bytes());
        field(version.as_bytes());
    }
    let mut key = String::with_capacity("answer:".len() + 64);
    key.push_str("answer:");
    for byte in hash.finalize() {
        // Writing to a String cannot fail.
        let _ = write!(key, "{byte:02x}");
    }
    key
}

/// Tags `sheet:<spreadsheet>/<sheet>` for the sheets in scope, at most 32
/// (CacheService's limit). Freshness never depends on the tags alone: the
/// key already changes with any version.
pub fn answer_tags(scope: &[Arc<Sheet>]) -> Vec<String> {
    let mut tags: Vec<String> = scope.iter().map(|s| s.cache_tag()).collect();
    tags.sort();
    tags.dedup();
    tags.truncate(32);
    tags
}

/// Releases a granted lease if the computation is abandoned (error or the
/// caller going away), so waiters need not sit out the lease expiry.
#[derive(Debug)]
pub(crate) struct LeaseGuard {
    cache: Arc<dyn AnswerCache>,
    key: String,
    token: Option<String>,
}

impl LeaseGuard {
    pub(crate) fn new(cache: Arc<dyn AnswerCache>, key: String, token: String) -> Self {
        Self { cache, key, token: Some(token) }
    }

    /// Stores the value under the lease.
    pub(crate) async fn fulfil(mut self, value: Vec<u8>, ttl: Duration, tags: Vec<String>) {
        let token = self.token.take();
        if let Err(err) = self.cache.set(&self.key, value, ttl, tags, token).await {
            tracing::warn!(error = %err, "storing the answer in the cache failed; answering uncached");
        }
    }

    /// Gives the lease up now.
    pub(crate) async fn release(mut self) {
        if let Some(token) = self.token.take()
            && let Err(err) = self.cache.release_lease(&self.key, &token).await
        {
            tracing::warn!(error = %err, "releasing the answer-cache lease failed");
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            let (cache, key) = (Arc::clone(&self.cache), std::mem::take(&mut self.key));
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = cache.release_lease(&key, &token).await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn sheet(version: &str) -> Arc<Sheet> {
        Arc::new(Sheet {
            spreadsheet: "inv.xlsx".into(),
            name: "Products".into(),
            version: version.into(),
            columns: vec![],
            rows: vec![],
            indexed_at: SystemTime::now(),
        })
    }

    #[test]
    fn key_ignores_case_spacing_and_trailing_punctuation() {
        let scope = [sheet("v1")];
        assert_eq!(answer_key("What is SKU-0042 ?", &[], &scope, "m"), answer_key("what is  sku-0042", &[], &scope, "m"));
    }

    #[test]
    fn key_changes_with_sheet_version_model_and_tail() {
        let base = answer_key("q", &[], &[sheet("v1")], "m");
        assert_ne!(base, answer_key("q", &[], &[sheet("v2")], "m"));
        assert_ne!(base, answer_key("q", &[], &[sheet("v1")], "other"));
        let tail = [ChatTurn { role: 1, content: "earlier".into(), citations: vec![], created_at: None }];
        assert_ne!(base, answer_key("q", &tail, &[sheet("v1")], "m"));
        assert!(base.starts_with("answer:") && base.len() == "answer:".len() + 64);
    }

    #[test]
    fn tags_name_the_sheets() {
        assert_eq!(answer_tags(&[sheet("v1")]), vec!["sheet:inv.xlsx/Products".to_owned()]);
    }
}
