//! Redis store, shared by sheets-sync replicas.
//!
//! Layout under the key prefix `P`:
//! - `P:spreadsheets` — set of spreadsheet ids with stored sheets;
//! - `P:meta:<spreadsheet>` — hash, sheet title → JSON [`SheetMeta`];
//! - `P:snap:<n>:<spreadsheet>/<sheet>@<version>` — JSON [`Snapshot`], one
//!   key per version (`<n>` is the spreadsheet id's length, so that ids and
//!   titles containing `/` cannot collide);
//! - `P:events` — stream of JSON [`ChangeEvent`]s, trimmed with `MAXLEN ~`;
//! - `P:probe:<spreadsheet>` — probe token of the last successful read;
//! - `P:lease:<spreadsheet>` — owner of the sync lease (`SET NX PX`).
//!
//! A reader never sees half a sheet: the rows of a new version are written
//! under a key of their own first, and only then does one `MULTI` switch the
//! meta (which names the version) and append the event. The old version's
//! key lingers for [`OLD_VERSION_GRACE`] so a reader that fetched the old
//! meta a moment earlier can still fetch its rows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{SnapshotStore, sort_metas};
use crate::error::{Error, Result};
use crate::model::{ChangeEvent, SheetKey, SheetMeta};
use crate::normalize::Snapshot;

/// How long a replaced version stays readable.
pub const OLD_VERSION_GRACE: Duration = Duration::from_secs(60);

/// Compare-and-delete: only the owner may release a lease (its own may have
/// expired and been taken by another replica meanwhile).
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Snapshots, events and leases in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    max_events: usize,
    release: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).field("max_events", &self.max_events).finish()
    }
}

impl RedisStore {
    /// A store on `conn` with keys under `prefix` (e.g. `sheetmesh:sheets`),
    /// keeping about 10,000 change events.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self { conn, prefix: prefix.into(), max_events: 10_000, release: Arc::new(redis::Script::new(RELEASE_LEASE)) }
    }

    /// Keeps about `max_events` change events in the stream.
    pub fn with_max_events(mut self, max_events: usize) -> Self {
        self.max_events = max_events.max(1);
        self
    }

    fn spreadsheets_key(&self) -> String {
        format!("{}:spreadsheets", self.prefix)
    }
    fn meta_key(&self, spreadsheet: &str) -> String {
        format!("{}:meta:{spreadsheet}", self.prefix)
    }
    fn snap_key(&self, key: &SheetKey, version: &str) -> String {
        format!("{}:snap:{}:{}/{}@{version}", self.prefix, key.spreadsheet.len(), key.spreadsheet, key.sheet)
    }
    fn events_key(&self) -> String {
        format!("{}:events", self.prefix)
    }
    fn probe_key(&self, spreadsheet: &str) -> String {
        format!("{}:probe:{spreadsheet}", self.prefix)
    }
    fn lease_key(&self, spreadsheet: &str) -> String {
        format!("{}:lease:{spreadsheet}", self.prefix)
    }

    fn add_event(&self, pipe: &mut redis::Pipeline, event: &ChangeEvent) -> Result<()> {
        pipe.cmd("XADD").arg(self.events_key()).arg("MAXLEN").arg("~").arg(self.max_events).arg("*").arg("event").arg(encode(event)?).ignore();
        Ok(())
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt { what: "value to store".into(), message: e.to_string() })
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt { what: what.to_owned(), message: e.to_string() })
}

#[async_trait]
impl SnapshotStore for RedisStore {
    async fn list(&self, spreadsheet: Option<&str>) -> Result<Vec<SheetMeta>> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = match spreadsheet {
            Some(id) => vec![id.to_owned()],
            None => conn.smembers(self.spreadsheets_key()).await.map_err(Error::redis("list spreadsheets"))?,
        };
        let mut metas = Vec::new();
        for id in ids {
            let fields: Vec<String> = conn.hvals(self.meta_key(&id)).await.map_err(Error::redis(format!("list sheets of {id}")))?;
            for json in fields {
                metas.push(decode::<SheetMeta>("sheet meta", &json)?);
            }
        }
        sort_metas(&mut metas);
        Ok(metas)
    }

    async fn meta(&self, key: &SheetKey) -> Result<Option<SheetMeta>> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.hget(self.meta_key(&key.spreadsheet), &key.sheet).await.map_err(Error::redis(format!("read meta of {key}")))?;
        json.map(|json| decode("sheet meta", &json)).transpose()
    }

    async fn snapshot(&self, key: &SheetKey) -> Result<Option<(SheetMeta, Arc<Snapshot>)>> {
        let mut conn = self.conn.clone();
        // The meta may switch to a newer version between the two reads and
        // the old rows expire; reading the meta again then finds the new ones.
        for _ in 0..3 {
            let Some(meta) = self.meta(key).await? else { return Ok(None) };
            if meta.version.is_empty() {
                return Ok(None);
            }
            let json: Option<String> = conn.get(self.snap_key(key, &meta.version)).await.map_err(Error::redis(format!("read snapshot of {key}")))?;
            if let Some(json) = json {
                return Ok(Some((meta, Arc::new(decode("snapshot", &json)?))));
            }
        }
        Err(Error::Corrupt { what: format!("snapshot of {key}"), message: "its meta names a version that is not stored".into() })
    }

    async fn commit(&self, meta: &SheetMeta, snapshot: Arc<Snapshot>, event: &ChangeEvent) -> Result<()> {
        let mut conn = self.conn.clone();
        let key = &meta.key;
        let previous = self.meta(key).await?.map(|m| m.version).filter(|v| !v.is_empty() && *v != meta.version);
        let rows = encode(&*snapshot)?;
        let _: () = conn.set(self.snap_key(key, &meta.version), rows).await.map_err(Error::redis(format!("write snapshot of {key}")))?;
        let mut pipe = redis::pipe();
        pipe.atomic().hset(self.meta_key(&key.spreadsheet), &key.sheet, encode(meta)?).ignore().sadd(self.spreadsheets_key(), &key.spreadsheet).ignore();
        self.add_event(&mut pipe, event)?;
        if let Some(previous) = previous {
            pipe.pexpire(self.snap_key(key, &previous), OLD_VERSION_GRACE.as_millis() as i64).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.map_err(Error::redis(format!("commit version of {key}")))?;
        Ok(())
    }

    async fn put_meta(&self, meta: &SheetMeta) -> Result<()> {
        let mut conn = self.conn.clone();
        let key = &meta.key;
        let mut pipe = redis::pipe();
        pipe.atomic().hset(self.meta_key(&key.spreadsheet), &key.sheet, encode(meta)?).ignore().sadd(self.spreadsheets_key(), &key.spreadsheet).ignore();
        let _: () = pipe.query_async(&mut conn).await.map_err(Error::redis(format!("write meta of {key}")))?;
        Ok(())
    }

    async fn remove(&self, key: &SheetKey, event: Option<&ChangeEvent>) -> Result<()> {
        let mut conn = self.conn.clone();
        let previous = self.meta(key).await?.map(|m| m.version).filter(|v| !v.is_empty());
        let mut pipe = redis::pipe();
        pipe.atomic().hdel(self.meta_key(&key.spreadsheet), &key.sheet).ignore();
        if let Some(previous) = previous {
            pipe.pexpire(self.snap_key(key, &previous), OLD_VERSION_GRACE.as_millis() as i64).ignore();
        }
        if let Some(event) = event {
            self.add_event(&mut pipe, event)?;
        }
        let _: () = pipe.query_async(&mut conn).await.map_err(Error::redis(format!("remove {key}")))?;
        Ok(())
    }

    async fn events(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, ChangeEvent)>> {
        let mut conn = self.conn.clone();
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(self.events_key())
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(Error::redis("read change events"))?;
        let mut events = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let json = fields.chunks(2).find(|pair| pair[0] == "event").and_then(|pair| pair.get(1));
            if let Some(json) = json {
                events.push((id, decode("change event", json)?));
            }
        }
        Ok(events)
    }

    async fn probe_token(&self, spreadsheet: &str) -> Result<Option<String>> {
        let mut conn = self.conn.clone();
        conn.get(self.probe_key(spreadsheet)).await.map_err(Error::redis(format!("read probe token of {spreadsheet}")))
    }

    async fn set_probe_token(&self, spreadsheet: &str, token: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn.set(self.probe_key(spreadsheet), token).await.map_err(Error::redis(format!("write probe token of {spreadsheet}")))?;
        Ok(())
    }

    async fn try_lease(&self, spreadsheet: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let mut conn = self.conn.clone();
        let options =
            redis::SetOptions::default().conditional_set(redis::ExistenceCheck::NX).with_expiration(redis::SetExpiry::PX(ttl.as_millis().max(1) as u64));
        let set: Option<String> =
            conn.set_options(self.lease_key(spreadsheet), owner, options).await.map_err(Error::redis(format!("take the sync lease of {spreadsheet}")))?;
        Ok(set.is_some())
    }

    async fn release_lease(&self, spreadsheet: &str, owner: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .release
            .key(self.lease_key(spreadsheet))
            .arg(owner)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::redis(format!("release the sync lease of {spreadsheet}")))?;
        Ok(())
    }
}
