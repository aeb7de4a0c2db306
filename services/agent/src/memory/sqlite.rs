//! SQLite conversation memory: one file (`DATA_DIR/memory.db`) in WAL mode.
//! rusqlite is blocking, so every call runs on `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use sheetmesh_proto::v1::{ChatTurn, Conversation};

use super::{ConversationStore, from_millis, stamped, to_millis};
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    turn BLOB NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
";

/// Conversations in a SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating) `data_dir/memory.db`.
    pub async fn open_in(data_dir: &Path) -> Result<Self> {
        Self::open(&data_dir.join("memory.db")).await
    }

    /// Opens (creating) the database at `path`, with WAL journaling so that
    /// readers never block the writer.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if let Some(dir) = opened.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::sqlite(format!("creating {}: {e}", dir.display())))?;
            }
            let conn = Connection::open(&opened).map_err(|e| Error::sqlite(format!("opening {}: {e}", opened.display())))?;
            conn.pragma_update(None, "journal_mode", "WAL").map_err(Error::sqlite)?;
            conn.pragma_update(None, "synchronous", "NORMAL").map_err(Error::sqlite)?;
            conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(Error::sqlite)?;
            conn.execute_batch(SCHEMA).map_err(Error::sqlite)?;
            Ok(conn)
        })
        .await
        .map_err(Error::sqlite)??;
        Ok(Self { path, conn: Arc::new(Mutex::new(conn)) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with_conn<T: Send + 'static>(&self, work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static) -> Result<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(Error::sqlite)?
        .map_err(Error::sqlite)
    }
}

fn decode(blob: &[u8]) -> rusqlite::Result<ChatTurn> {
    ChatTurn::decode(blob).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e)))
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn append(&self, id: &str, turns: &[ChatTurn]) -> Result<()> {
        let (id, turns) = (id.to_owned(), stamped(turns));
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            let now = turns.last().and_then(|t| t.created_at.as_ref()).map_or(0, to_millis);
            tx.execute(
                "INSERT INTO conversations (id, created_ms, updated_ms) VALUES (?1, ?2, ?2)
                 ON CONFLICT(id) DO UPDATE SET updated_ms = excluded.updated_ms",
                params![id, now],
            )?;
            let next: i64 = tx.query_row("SELECT COALESCE(MAX(seq), -1) + 1 FROM turns WHERE conversation_id = ?1", params![id], |r| r.get(0))?;
            let mut insert = tx.prepare("INSERT INTO turns (conversation_id, seq, turn) VALUES (?1, ?2, ?3)")?;
            for (i, turn) in turns.iter().enumerate() {
                insert.execute(params![id, next + i as i64, turn.encode_to_vec()])?;
            }
            drop(insert);
            tx.commit()
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<Conversation>> {
        let id = id.to_owned();
        self.with_conn(move |conn| {
            let head: Option<(i64, i64)> =
                conn.query_row("SELECT created_ms, updated_ms FROM conversations WHERE id = ?1", params![id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            let Some((created, updated)) = head else { return Ok(None) };
            let mut stmt = conn.prepare("SELECT turn FROM turns WHERE conversation_id = ?1 ORDER BY seq")?;
            let turns = stmt.query_map(params![id], |r| decode(&r.get::<_, Vec<u8>>(0)?))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(Conversation { id, turns, created_at: Some(from_millis(created)), updated_at: Some(from_millis(updated)) }))
        })
        .await
    }

    async fn tail(&self, id: &str, n: usize) -> Result<Vec<ChatTurn>> {
        let id = id.to_owned();
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare("SELECT turn FROM turns WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2")?;
            let mut turns = stmt.query_map(params![id, limit], |r| decode(&r.get::<_, Vec<u8>>(0)?))?.collect::<rusqlite::Result<Vec<_>>>()?;
            turns.reverse();
            Ok(turns)
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM turns WHERE conversation_id = ?1", params![id])?;
            let deleted = tx.execute("DELETE FROM conversations WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok(deleted > 0)
        })
        .await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
