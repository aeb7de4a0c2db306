//! Following a rows source: initial load, changes, removal, and convergence
//! after a watch drops mid-change. The source here is an in-memory double of
//! the `SheetSource` seam (the service implements it over SheetsService).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use sheetmesh_agent::cells::{number, text};
use sheetmesh_agent::follow::{SheetMeta, SheetSnapshot, SheetSource, follow, load_all};
use sheetmesh_agent::index::SheetIndex;
use sheetmesh_agent::{Error, Result};
use sheetmesh_proto::v1::sheet_change::Kind;
use sheetmesh_proto::v1::{Row, SheetChange};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Debug, Default)]
struct MemorySource {
    sheets: Mutex<HashMap<String, (String, f64)>>,
    watches: Mutex<VecDeque<mpsc::Receiver<Result<SheetChange>>>>,
}

impl MemorySource {
    fn set(&self, sheet: &str, version: &str, price: f64) {
        self.sheets.lock().unwrap().insert(sheet.into(), (version.into(), price));
    }

    /// Queues the next watch the follower will open; returns its sender.
    fn next_watch(&self) -> mpsc::Sender<Result<SheetChange>> {
        let (tx, rx) = mpsc::channel(16);
        self.watches.lock().unwrap().push_back(rx);
        tx
    }
}

#[async_trait]
impl SheetSource for MemorySource {
    async fn list_sheets(&self) -> Result<Vec<SheetMeta>> {
        let sheets = self.sheets.lock().unwrap();
        Ok(sheets.iter().map(|(s, (v, _))| SheetMeta { spreadsheet: "inv.xlsx".into(), sheet: s.clone(), version: v.clone() }).collect())
    }

    async fn load(&self, _spreadsheet: &str, sheet: &str) -> Result<SheetSnapshot> {
        let (version, price) = self.sheets.lock().unwrap().get(sheet).cloned().ok_or_else(|| Error::Source(format!("no sheet {sheet}")))?;
        let rows = (1..=10).map(|i| Row { number: i + 1, cells: vec![text(format!("SKU-{i:04}")), number(price)] }).collect();
        Ok(SheetSnapshot { version, columns: vec!["sku".into(), "price".into()], rows })
    }

    async fn watch(&self) -> Result<BoxStream<'static, Result<SheetChange>>> {
        let rx = self.watches.lock().unwrap().pop_front().ok_or_else(|| Error::Source("watch refused".into()))?;
        Ok(ReceiverStream::new(rx).boxed())
    }
}

fn change(kind: Kind, sheet: &str, version: &str) -> SheetChange {
    SheetChange { kind: kind as i32, spreadsheet: "inv.xlsx".into(), sheet: sheet.into(), version: version.into(), ..SheetChange::default() }
}

async fn wait_until(index: &SheetIndex, done: impl Fn(&SheetIndex) -> bool) {
    let mut changes = index.subscribe();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !done(index) {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the index converges");
}

fn price_of_first_row(index: &SheetIndex) -> f64 {
    let sheet = index.sheet("Products", None).unwrap();
    sheetmesh_agent::cells::cell_number(&sheet.rows[0].cells[1]).unwrap()
}

#[tokio::test]
async fn a_watch_dropped_mid_change_still_converges() {
    let source = Arc::new(MemorySource::default());
    source.set("Products", "v1", 10.0);
    let index = Arc::new(SheetIndex::new().unwrap());
    assert_eq!(load_all(&index, source.as_ref()).await.unwrap(), 1);
    assert_eq!(index.version("inv.xlsx", "Products").as_deref(), Some("v1"));

    let first = source.next_watch();
    first.send(Ok(change(Kind::Current, "Products", "v1"))).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let follower = tokio::spawn(follow(Arc::clone(&index), source.clone(), async {
        let _ = stopped.await;
    }));
    // The sheet changes, but the watch drops before announcing it.
    source.set("Products", "v2", 20.0);
    drop(first);
    // On reopening, the server sends the CURRENT versions.
    let second = source.next_watch();
    second.send(Ok(change(Kind::Current, "Products", "v2"))).await.unwrap();

    wait_until(&index, |i| i.version("inv.xlsx", "Products").as_deref() == Some("v2")).await;
    assert_eq!(price_of_first_row(&index), 20.0);
    stop.send(()).unwrap();
    follower.await.unwrap();
}

#[tokio::test]
async fn changes_and_removals_are_applied() {
    let source = Arc::new(MemorySource::default());
    let index = Arc::new(SheetIndex::new().unwrap());
    let watch = source.next_watch();
    let follower = tokio::spawn(follow(Arc::clone(&index), source.clone(), std::future::pending()));
    source.set("Products", "v1", 5.0);
    watch.send(Ok(change(Kind::Changed, "Products", "v1"))).await.unwrap();
    wait_until(&index, |i| i.version("inv.xlsx", "Products").is_some()).await;
    assert_eq!(index.stats().rows, 10);
    watch.send(Ok(change(Kind::Removed, "Products", ""))).await.unwrap();
    wait_until(&index, |i| i.version("inv.xlsx", "Products").is_none()).await;
    assert_eq!(index.stats().rows, 0);
    follower.abort();
}
