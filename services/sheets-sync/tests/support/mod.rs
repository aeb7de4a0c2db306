//! Helpers shared by the integration tests: store backends, a scripted
//! source whose reads can be held open, and a recording cache invalidator.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sheetmesh_common::testing::RedisServer;
use sheetmesh_sheets_sync::cell::Cell;
use sheetmesh_sheets_sync::error::{Error, Result};
use sheetmesh_sheets_sync::model::SourceKind;
use sheetmesh_sheets_sync::normalize::RawSheet;
use sheetmesh_sheets_sync::source::Source;
use sheetmesh_sheets_sync::store::{MemoryStore, RedisStore, SnapshotStore};
use sheetmesh_sheets_sync::sync::TagInvalidator;
use tokio::sync::Semaphore;

/// A store plus whatever must outlive it (the redis-server).
pub struct Backend {
    pub store: Arc<dyn SnapshotStore>,
    pub redis: Option<RedisServer>,
}

pub fn memory() -> Backend {
    Backend { store: Arc::new(MemoryStore::default()), redis: None }
}

pub async fn redis_store(server: &RedisServer, prefix: &str) -> RedisStore {
    let client = redis::Client::open(server.url()).expect("redis url");
    let conn = redis::aio::ConnectionManager::new(client).await.expect("connect to test redis");
    RedisStore::new(conn, prefix)
}

pub async fn redis() -> Backend {
    let server = RedisServer::start().await;
    let store = redis_store(&server, "test:sheets").await;
    Backend { store: Arc::new(store), redis: Some(server) }
}

pub fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

/// A grid from string rows; numeric-looking strings become numbers.
pub fn grid(rows: &[&[&str]]) -> Vec<Vec<Cell>> {
    rows.iter().map(|row| row.iter().map(|s| s.parse::<f64>().map(Cell::Number).unwrap_or_else(|_| text(s))).collect()).collect()
}

pub fn sheet(title: &str, rows: &[&[&str]]) -> RawSheet {
    RawSheet { title: title.to_owned(), first_row: 1, rows: grid(rows) }
}

/// A spreadsheet's version and its sheets, or the error reading it gives.
type Book = (u64, Result<Vec<RawSheet>, String>);

/// In-memory spreadsheets with a version counter per spreadsheet; counts
/// probes and reads; reads can be held until the test releases them.
#[derive(Debug, Default)]
pub struct ScriptedSource {
    books: Mutex<BTreeMap<String, Book>>,
    pub probes: AtomicUsize,
    pub reads: AtomicUsize,
    gate: Mutex<Option<Arc<Semaphore>>>,
    /// Signals that a read has started (and is waiting at the gate).
    pub read_started: tokio::sync::Notify,
}

impl ScriptedSource {
    pub fn set(&self, id: &str, sheets: Vec<RawSheet>) {
        let mut books = self.books.lock().unwrap();
        let version = books.get(id).map_or(1, |(v, _)| v + 1);
        books.insert(id.to_owned(), (version, Ok(sheets)));
    }

    /// Makes reads of `id` fail (e.g. "spreadsheet X is not shared").
    pub fn fail(&self, id: &str, message: &str) {
        let mut books = self.books.lock().unwrap();
        let version = books.get(id).map_or(1, |(v, _)| v + 1);
        books.insert(id.to_owned(), (version, Err(message.to_owned())));
    }

    /// Holds every read until the returned semaphore gets a permit.
    pub fn hold_reads(&self) -> Arc<Semaphore> {
        let gate = Arc::new(Semaphore::new(0));
        *self.gate.lock().unwrap() = Some(Arc::clone(&gate));
        gate
    }

    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Source for ScriptedSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Local
    }

    async fn spreadsheets(&self) -> Result<Vec<String>> {
        Ok(self.books.lock().unwrap().keys().cloned().collect())
    }

    async fn sheet_titles(&self, spreadsheet: &str) -> Result<Vec<String>> {
        Ok(self.read(spreadsheet).await?.into_iter().map(|s| s.title).collect())
    }

    async fn probe(&self, spreadsheet: &str) -> Result<String> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        let books = self.books.lock().unwrap();
        let (version, _) = books.get(spreadsheet).ok_or_else(|| Error::UnknownSpreadsheet { spreadsheet: spreadsheet.into() })?;
        Ok(version.to_string())
    }

    async fn read(&self, spreadsheet: &str) -> Result<Vec<RawSheet>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            self.read_started.notify_one();
            gate.acquire().await.expect("gate open").forget();
        }
        let books = self.books.lock().unwrap();
        match books.get(spreadsheet) {
            Some((_, Ok(sheets))) => Ok(sheets.clone()),
            Some((_, Err(message))) => {
                Err(Error::AccessDenied { spreadsheet: spreadsheet.into(), client_email: "sync@test.iam.gserviceaccount.com".into(), message: message.clone() })
            }
            None => Err(Error::UnknownSpreadsheet { spreadsheet: spreadsheet.into() }),
        }
    }
}

/// Records every tag it is asked to invalidate.
#[derive(Debug, Default)]
pub struct RecordingInvalidator {
    pub tags: Mutex<Vec<String>>,
}

impl RecordingInvalidator {
    pub fn tags(&self) -> Vec<String> {
        self.tags.lock().unwrap().clone()
    }
}

#[async_trait]
impl TagInvalidator for RecordingInvalidator {
    async fn invalidate(&self, tags: &[String]) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.tags.lock().unwrap().extend_from_slice(tags);
        Ok(())
    }
}
