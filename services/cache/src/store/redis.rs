//! The Redis backend, shared by every cache replica.
//!
//! Key layout under the namespace `N` (default `sheetmesh:cache`):
//! - `N:e:<key>` — hash `{d: value, g: tags joined by "\n"}` with the TTL;
//! - `N:t:<tag>` — sorted set of keys carrying the tag, scored by expiry
//!   (ms); expired members are trimmed on every write to the set, and the
//!   set itself expires with its longest-lived member, so tag sets never
//!   outgrow the live entries;
//! - `N:keys` — sorted set of every key scored by expiry, for `Stats`;
//! - `N:l:<key>` — a lease token, `SET NX PX`, so single-flight holds across
//!   replicas.
//!
//! Writes, deletes and invalidations are Lua scripts, so each is atomic: a
//! reader never sees a value whose tags were half-recorded, and an
//! invalidation removes every tagged key or none. Keys and tags exclude
//! control characters (see `validate`), so "\n" is a safe separator.
//! Not Redis Cluster-safe yet: scripts touch keys derived inside the script.

use std::{sync::LazyLock, time::Duration};

use bytes::Bytes;
use redis::{AsyncCommands, Script, aio::ConnectionManager};

use super::{BackendStats, CacheStore};
use crate::CacheError;

static SET_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1] entry, KEYS[2] key index; ARGV[1] value, ARGV[2] ttl ms,
-- ARGV[3] tag-set prefix, ARGV[4] the user key, ARGV[5..] tags
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
local expires = now + ttl
local old = redis.call('HGET', KEYS[1], 'g')
if old then
  for tag in string.gmatch(old, '[^\n]+') do redis.call('ZREM', ARGV[3] .. tag, ARGV[4]) end
end
local tags = {}
for i = 5, #ARGV do tags[#tags + 1] = ARGV[i] end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'g', table.concat(tags, '\n'))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], expires, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for _, tag in ipairs(tags) do
  local set = ARGV[3] .. tag
  redis.call('ZADD', set, expires, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
end
return 1
"#,
    )
});

static DELETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1] key index; ARGV[1] entry prefix, ARGV[2] tag-set prefix, ARGV[3..] user keys
local deleted = 0
for i = 3, #ARGV do
  local entry = ARGV[1] .. ARGV[i]
  local tags = redis.call('HGET', entry, 'g')
  if tags then
    for tag in string.gmatch(tags, '[^\n]+') do redis.call('ZREM', ARGV[2] .. tag, ARGV[i]) end
  end
  deleted = deleted + redis.call('DEL', entry)
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return deleted
"#,
    )
});

static INVALIDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1] key index; ARGV[1] entry prefix, ARGV[2] tag-set prefix, ARGV[3..] tags
local deleted = 0
for i = 3, #ARGV do
  local set = ARGV[2] .. ARGV[i]
  local members = redis.call('ZRANGE', set, 0, -1)
  for _, key in ipairs(members) do
    local entry = ARGV[1] .. key
    local tags = redis.call('HGET', entry, 'g')
    if tags then
      for tag in string.gmatch(tags, '[^\n]+') do
        if tag ~= ARGV[i] then redis.call('ZREM', ARGV[2] .. tag, key) end
      end
      deleted = deleted + redis.call('DEL', entry)
    end
    redis.call('ZREM', KEYS[1], key)
  end
  redis.call('DEL', set)
end
return deleted
"#,
    )
});

static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#,
    )
});

/// Redis backend over a self-reconnecting multiplexed connection.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    entry_prefix: String,
    tag_prefix: String,
    lease_prefix: String,
    key_index: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("key_index", &self.key_index).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store writing under `namespace` (e.g. `sheetmesh:cache`).
    pub fn new(connection: ConnectionManager, namespace: &str) -> Self {
        Self {
            connection,
            entry_prefix: format!("{namespace}:e:"),
            tag_prefix: format!("{namespace}:t:"),
            lease_prefix: format!("{namespace}:l:"),
            key_index: format!("{namespace}:keys"),
        }
    }

    fn connection(&self) -> ConnectionManager {
        // Clones share one multiplexed connection.
        self.connection.clone()
    }
}

impl CacheStore for RedisStore {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let value: Option<Vec<u8>> = self.connection().hget(format!("{}{key}", self.entry_prefix), "d").await?;
        Ok(value.map(Bytes::from))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let mut pipeline = redis::pipe();
        for key in keys {
            pipeline.hget(format!("{}{key}", self.entry_prefix), "d");
        }
        let values: Vec<Option<Vec<u8>>> = pipeline.query_async(&mut self.connection()).await?;
        Ok(values.into_iter().map(|value| value.map(Bytes::from)).collect())
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration, tags: &[String]) -> Result<(), CacheError> {
        let mut invocation = SET_SCRIPT.prepare_invoke();
        invocation
            .key(format!("{}{key}", self.entry_prefix))
            .key(&self.key_index)
            .arg(value.as_ref())
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .arg(&self.tag_prefix)
            .arg(key);
        for tag in tags {
            invocation.arg(tag);
        }
        let _: i64 = invocation.invoke_async(&mut self.connection()).await?;
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<u64, CacheError> {
        let mut invocation = DELETE_SCRIPT.prepare_invoke();
        invocation.key(&self.key_index).arg(&self.entry_prefix).arg(&self.tag_prefix);
        for key in keys {
            invocation.arg(key);
        }
        Ok(invocation.invoke_async(&mut self.connection()).await?)
    }

    async fn invalidate_tags(&self, tags: &[String]) -> Result<u64, CacheError> {
        let mut invocation = INVALIDATE_SCRIPT.prepare_invoke();
        invocation.key(&self.key_index).arg(&self.entry_prefix).arg(&self.tag_prefix);
        for tag in tags {
            invocation.arg(tag);
        }
        Ok(invocation.invoke_async(&mut self.connection()).await?)
    }

    async fn try_acquire_lease(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, CacheError> {
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)));
        let reply: Option<String> = self.connection().set_options(format!("{}{key}", self.lease_prefix), token, options).await?;
        Ok(reply.is_some())
    }

    async fn release_lease(&self, key: &str, token: &str) -> Result<bool, CacheError> {
        let released: i64 = RELEASE_SCRIPT.key(format!("{}{key}", self.lease_prefix)).arg(token).invoke_async(&mut self.connection()).await?;
        Ok(released == 1)
    }

    async fn stats(&self) -> Result<BackendStats, CacheError> {
        let mut connection = self.connection();
        let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut connection).await?;
        let now_ms = seconds * 1000 + micros / 1000;
        let keys: u64 = connection.zcount(&self.key_index, format!("({now_ms}"), "+inf").await?;
        let info: String = redis::cmd("INFO").arg("memory").query_async(&mut connection).await?;
        let bytes = info.lines().find_map(|line| line.strip_prefix("used_memory:")).and_then(|value| value.trim().parse().ok()).unwrap_or(0);
        Ok(BackendStats { keys, bytes })
    }

    async fn ping(&self) -> Result<Duration, CacheError> {
        Ok(sheetmesh_common::redis::ping(&mut self.connection()).await?)
    }
}
