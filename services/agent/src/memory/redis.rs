//! Redis conversation memory, shared by agent replicas. Per conversation: a
//! hash `…{id}:meta` (created/updated ms) and a list `…{id}:turns` of encoded
//! turns; both carry the conversation's TTL, refreshed on every append. The
//! `{id}` hash tag keeps both keys in one slot, so the MULTI below stays
//! valid on Redis Cluster.

use std::time::Duration;

use async_trait::async_trait;
use prost::Message;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sheetmesh_proto::v1::{ChatTurn, Conversation};

use super::{ConversationStore, from_millis, stamped, to_millis};
use crate::error::{Error, Result};

/// Conversations in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store under `prefix` (e.g. `sheetmesh:agent:`) whose conversations
    /// expire `ttl` after their last turn.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>, ttl: Duration) -> Self {
        Self { conn, prefix: prefix.into(), ttl }
    }

    fn meta_key(&self, id: &str) -> String {
        format!("{}conv:{{{id}}}:meta", self.prefix)
    }

    fn turns_key(&self, id: &str) -> String {
        format!("{}conv:{{{id}}}:turns", self.prefix)
    }

    fn decode_all(blobs: Vec<Vec<u8>>) -> Result<Vec<ChatTurn>> {
        blobs.iter().map(|b| ChatTurn::decode(b.as_slice()).map_err(Error::redis)).collect()
    }
}

#[async_trait]
impl ConversationStore for RedisStore {
    async fn append(&self, id: &str, turns: &[ChatTurn]) -> Result<()> {
        let turns = stamped(turns);
        let now = turns.last().and_then(|t| t.created_at.as_ref()).map_or(0, to_millis);
        let ttl = i64::try_from(self.ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let (meta, list) = (self.meta_key(id), self.turns_key(id));
        let mut pipe = redis::pipe();
        pipe.atomic().hset_nx(&meta, "created_ms", now).ignore().hset(&meta, "updated_ms", now).ignore();
        if !turns.is_empty() {
            let blobs: Vec<Vec<u8>> = turns.iter().map(Message::encode_to_vec).collect();
            pipe.rpush(&list, blobs).ignore();
        }
        pipe.expire(&meta, ttl).ignore().expire(&list, ttl).ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(Error::redis)
    }

    async fn get(&self, id: &str) -> Result<Option<Conversation>> {
        let mut conn = self.conn.clone();
        let (meta, blobs): (std::collections::HashMap<String, i64>, Vec<Vec<u8>>) =
            redis::pipe().hgetall(self.meta_key(id)).lrange(self.turns_key(id), 0, -1).query_async(&mut conn).await.map_err(Error::redis)?;
        let Some(created) = meta.get("created_ms") else { return Ok(None) };
        let updated = meta.get("updated_ms").copied().unwrap_or(*created);
        Ok(Some(Conversation {
            id: id.to_owned(),
            turns: Self::decode_all(blobs)?,
            created_at: Some(from_millis(*created)),
            updated_at: Some(from_millis(updated)),
        }))
    }

    async fn tail(&self, id: &str, n: usize) -> Result<Vec<ChatTurn>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let start = -isize::try_from(n).unwrap_or(isize::MAX);
        let blobs: Vec<Vec<u8>> = conn.lrange(self.turns_key(id), start, -1).await.map_err(Error::redis)?;
        Self::decode_all(blobs)
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let removed: usize = conn.del(&[self.meta_key(id), self.turns_key(id)]).await.map_err(Error::redis)?;
        Ok(removed > 0)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
