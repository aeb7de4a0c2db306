//! Conversation memory: conversations with turns, timestamps and citations.
//!
//! Two backends pass one suite (`tests/memory.rs`): SQLite (the embedded
//! default, `DATA_DIR/memory.db`) and Redis (shared by agent replicas, a TTL
//! per conversation). Turns are stored as encoded `ChatTurn` protos, so the
//! stored form is exactly the contract's.

mod redis;
mod sqlite;

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sheetmesh_proto::pbjson_types::Timestamp;
use sheetmesh_proto::v1::{ChatTurn, Conversation};

pub use self::redis::RedisStore;
pub use self::sqlite::SqliteStore;
use crate::error::{Error, Result};

/// Where conversations live.
#[async_trait]
pub trait ConversationStore: Send + Sync + std::fmt::Debug {
    /// Appends turns (oldest first), creating the conversation when new.
    async fn append(&self, id: &str, turns: &[ChatTurn]) -> Result<()>;
    /// The whole conversation; `None` when unknown or deleted.
    async fn get(&self, id: &str) -> Result<Option<Conversation>>;
    /// The last `n` turns, oldest first (empty for an unknown conversation).
    async fn tail(&self, id: &str, n: usize) -> Result<Vec<ChatTurn>>;
    /// Deletes a conversation for good; false when it did not exist.
    async fn delete(&self, id: &str) -> Result<bool>;
    /// "sqlite" or "redis", for status pages.
    fn backend(&self) -> &'static str;
}

/// A new conversation id: a UUIDv7, so ids sort by creation time.
pub fn new_conversation_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Checks a client-given id: 1 to 128 letters, digits, `-`, `_` or `.`.
pub fn validate_conversation_id(id: &str) -> Result<()> {
    let ok = (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "conversation_id must be 1 to 128 letters, digits, '-', '_' or '.', got {:?}",
            id.chars().take(140).collect::<String>()
        )))
    }
}

/// Now as a protobuf timestamp.
pub fn now() -> Timestamp {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp { seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX), nanos: since.subsec_nanos() as i32 }
}

pub(crate) fn to_millis(ts: &Timestamp) -> i64 {
    ts.seconds.saturating_mul(1000) + i64::from(ts.nanos / 1_000_000)
}

pub(crate) fn from_millis(ms: i64) -> Timestamp {
    Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// Stamps turns that have no time yet (the store's clock decides).
pub(crate) fn stamped(turns: &[ChatTurn]) -> Vec<ChatTurn> {
    let now = now();
    turns
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.created_at.get_or_insert(now);
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_validated() {
        let id = new_conversation_id();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
        assert!(validate_conversation_id(&id).is_ok());
        assert!(validate_conversation_id("chat_1.a-b").is_ok());
        assert!(validate_conversation_id("").is_err());
        assert!(validate_conversation_id("has space").is_err());
        assert!(validate_conversation_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn millis_roundtrip() {
        let ts = Timestamp { seconds: 1_700_000_000, nanos: 123_000_000 };
        assert_eq!(from_millis(to_millis(&ts)), ts);
    }
}
