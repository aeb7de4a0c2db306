//! `scripts/bench sync`: a 100k-row × 10-column sheet from the Google
//! stand-in to a stored snapshot and an emitted change event. Prints wall
//! time and peak memory (VmHWM). Aim: ≤ 2 s, ≤ 200 MB.
//!
//! Run: `cargo bench -p sheetmesh-sheets-sync --bench sync`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sheetmesh_sheets_sync::source::google::{GoogleClient, GoogleConfig, GoogleSource, ServiceAccountKey};
use sheetmesh_sheets_sync::store::MemoryStore;
use sheetmesh_sheets_sync::sync::{NoCache, SyncConfig, SyncEngine, SyncOutcome};
use sheetmesh_sheets_sync::testing::GoogleStandIn;

const ROWS: usize = 100_000;
const BOOK: &str = "bench-spreadsheet";

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0.0);
    kb / 1024.0
}

fn sheet() -> Vec<Vec<Value>> {
    let mut rows = Vec::with_capacity(ROWS + 1);
    rows.push(["sku", "name", "category", "price", "stock", "store", "updated", "active", "rating", "notes"].map(|h| json!(h)).to_vec());
    for i in 0..ROWS {
        rows.push(vec![
            json!(format!("SKU-{i:06}")),
            json!(format!("Product {i}")),
            json!(["Kitchen", "Garden", "Office", "Toys"][i % 4]),
            json!((i % 1000) as f64 + 0.99),
            json!(i % 250),
            json!(format!("Store {}", i % 20)),
            json!(format!("2026-05-{:02}", i % 28 + 1)),
            json!(i % 3 != 0),
            json!((i % 50) as f64 / 10.0),
            json!(if i % 7 == 0 { "" } else { "restocked weekly" }),
        ]);
    }
    rows
}

#[tokio::main]
async fn main() {
    let google = GoogleStandIn::start().await;
    google.set_spreadsheet(BOOK, vec![("Products".into(), sheet())]);
    let key = ServiceAccountKey::from_json(&google.key_json(), "bench key").expect("stand-in key");
    let config =
        GoogleConfig { sheets_api_url: google.url().into(), drive_api_url: google.url().into(), timeout: Duration::from_secs(60), ..GoogleConfig::default() };
    let source = GoogleSource::new(GoogleClient::new(&key, config).expect("client"), vec![BOOK.into()], vec![]);
    let engine = SyncEngine::new(Arc::new(source), Arc::new(MemoryStore::default()), Arc::new(NoCache), SyncConfig::default()).await.expect("engine");
    let mut watch = engine.subscribe(None);
    let baseline = peak_rss_mb();

    let started = Instant::now();
    let report = engine.sync_spreadsheet(BOOK).await.expect("sync");
    let event = watch.next().await.expect("change event");
    let elapsed = started.elapsed();

    assert_eq!(report.outcome, SyncOutcome::Read);
    assert_eq!(event.row_count, ROWS as u64);
    println!("sync: {ROWS} rows x 10 columns, stand-in -> stored snapshot -> change event");
    println!("sync: wall time {:.3} s", elapsed.as_secs_f64());
    println!("sync: peak RSS {:.1} MB (of which the stand-in's own copy of the sheet before the sync: {baseline:.1} MB)", peak_rss_mb());
}
