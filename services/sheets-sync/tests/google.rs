//! The Google source against a stand-in for Google (a real HTTP server that
//! checks the JWT signature and follows the public API shapes): what is
//! requested, how often, and what a failure leaves behind.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sheetmesh_sheets_sync::cell::Cell;
use sheetmesh_sheets_sync::model::SheetKey;
use sheetmesh_sheets_sync::source::google::push::{PushConfig, run_push_channels};
use sheetmesh_sheets_sync::source::google::{GoogleClient, GoogleConfig, GoogleSource, RetryPolicy, ServiceAccountKey};
use sheetmesh_sheets_sync::store::SnapshotStore;
use sheetmesh_sheets_sync::sync::{SyncConfig, SyncEngine, SyncOutcome};
use sheetmesh_sheets_sync::testing::GoogleStandIn;
use support::RecordingInvalidator;

const BOOK: &str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";

fn count(c: &std::sync::atomic::AtomicUsize) -> usize {
    GoogleStandIn::count(c)
}

fn products(price: f64) -> (String, Vec<Vec<Value>>) {
    let rows = vec![
        vec![json!("sku"), json!("name"), json!("category"), json!("price"), json!("stock"), json!("")],
        vec![json!("SKU-0042"), json!("Kettle"), json!("Kitchen"), json!(price), json!(12), json!("")],
        vec![json!("SKU-0043"), json!(""), json!("Kitchen"), json!(25), json!(true)],
        vec![],
        vec![json!("SKU-0044"), json!("Mug"), json!("#N/A"), json!(3.5), json!(0), json!(""), json!("")],
        vec![json!(""), json!("")],
    ];
    ("Products".into(), rows)
}

fn stores() -> (String, Vec<Vec<Value>>) {
    ("It's here".into(), vec![vec![json!("store"), json!("opened")], vec![json!("Zürich"), json!("2024-03-01")]])
}

fn client(google: &GoogleStandIn) -> GoogleClient {
    let key = ServiceAccountKey::from_json(&google.key_json(), "test key").unwrap();
    let config = GoogleConfig {
        sheets_api_url: google.url().into(),
        drive_api_url: google.url().into(),
        retry: RetryPolicy { min_delay: Duration::from_millis(5), max_delay: Duration::from_millis(50), max_retries: 5 },
        timeout: Duration::from_secs(10),
    };
    GoogleClient::new(&key, config).unwrap()
}

struct Rig {
    google: GoogleStandIn,
    engine: SyncEngine,
    store: Arc<dyn SnapshotStore>,
    invalidator: Arc<RecordingInvalidator>,
}

async fn rig() -> Rig {
    let google = GoogleStandIn::start().await;
    google.set_spreadsheet(BOOK, vec![products(9.5), stores()]);
    let source = GoogleSource::new(client(&google), vec![BOOK.into()], vec![]);
    let store = support::memory().store;
    let invalidator = Arc::new(RecordingInvalidator::default());
    let engine = SyncEngine::new(Arc::new(source), Arc::clone(&store), invalidator.clone(), SyncConfig::default()).await.unwrap();
    Rig { google, engine, store, invalidator }
}

#[tokio::test]
async fn first_sync_reads_every_grid_sheet_in_one_batch() {
    let rig = rig().await;
    let report = rig.engine.sync_all().await.unwrap().remove(0);
    assert_eq!(report.outcome, SyncOutcome::Read);
    let names: Vec<&str> = report.results.iter().map(|r| r.key.sheet.as_str()).collect();
    assert_eq!(names, ["Products", "It's here"], "the chart sheet is skipped");
    let c = rig.google.counters();
    assert_eq!((count(&c.tokens), count(&c.probes), count(&c.gets), count(&c.batch_gets)), (1, 1, 1, 1));
    let (meta, snap) = rig.store.snapshot(&SheetKey::new(BOOK, "Products")).await.unwrap().unwrap();
    assert_eq!(meta.source.as_str(), "google");
    assert_eq!(snap.columns, ["sku", "name", "category", "price", "stock"]);
    assert_eq!(snap.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 3, 5]);
    assert_eq!(
        snap.rows[0].cells,
        [Cell::Text("SKU-0042".into()), Cell::Text("Kettle".into()), Cell::Text("Kitchen".into()), Cell::Number(9.5), Cell::Number(12.0)]
    );
    assert_eq!(snap.rows[1].cells[1], Cell::Empty);
    assert_eq!(snap.rows[1].cells[4], Cell::Bool(true));
    assert_eq!(snap.rows[2].cells[2], Cell::Text("#N/A".into()));
    let (_, quoted) = rig.store.snapshot(&SheetKey::new(BOOK, "It's here")).await.unwrap().unwrap();
    assert_eq!(quoted.rows[0].cells, [Cell::Text("Zürich".into()), Cell::Text("2024-03-01".into())]);
}

#[tokio::test]
async fn an_unchanged_drive_version_means_no_values_request() {
    let rig = rig().await;
    rig.engine.sync_all().await.unwrap();
    let report = rig.engine.sync_spreadsheet(BOOK).await.unwrap();
    assert_eq!(report.outcome, SyncOutcome::Unchanged);
    let c = rig.google.counters();
    assert_eq!((count(&c.probes), count(&c.gets), count(&c.batch_gets)), (2, 1, 1));
    assert_eq!(count(&c.tokens), 1, "the token is cached");
}

#[tokio::test]
async fn a_change_stores_a_new_version_with_one_event_and_invalidates_its_tag() {
    let rig = rig().await;
    rig.engine.sync_all().await.unwrap();
    let mut watch = rig.engine.subscribe(Some(BOOK.into()));
    let before = rig.store.events(None, 100).await.unwrap().len();
    rig.google.set_spreadsheet(BOOK, vec![products(10.5), stores()]);
    let report = rig.engine.sync_spreadsheet(BOOK).await.unwrap();
    let changed: Vec<&str> = report.results.iter().filter(|r| r.changed).map(|r| r.key.sheet.as_str()).collect();
    assert_eq!(changed, ["Products"]);
    assert_eq!(rig.store.events(None, 100).await.unwrap().len(), before + 1);
    assert_eq!(rig.invalidator.tags().last().unwrap(), &format!("sheet:{BOOK}/Products"));
    let current: Vec<_> = [watch.next().await.unwrap(), watch.next().await.unwrap()].to_vec();
    let change = watch.next().await.unwrap();
    assert_eq!(change.key.sheet, "Products");
    let products_before = current.iter().find(|e| e.key.sheet == "Products").unwrap();
    assert_eq!(change.previous_version, products_before.version);
}

#[tokio::test]
async fn rate_limited_three_times_then_succeeds() {
    let rig = rig().await;
    rig.google.rate_limit_next(3, Some(0));
    let report = rig.engine.sync_all().await.unwrap().remove(0);
    assert_eq!(report.outcome, SyncOutcome::Read);
    assert!(report.results.iter().all(|r| r.error.is_none()));
    assert_eq!(count(&rig.google.counters().batch_gets), 4);
}

#[tokio::test]
async fn rate_limited_beyond_the_retries_keeps_the_snapshot_and_says_why() {
    let rig = rig().await;
    rig.engine.sync_all().await.unwrap();
    rig.google.set_spreadsheet(BOOK, vec![products(11.0), stores()]);
    rig.google.rate_limit_next(100, None);
    let report = rig.engine.sync_spreadsheet(BOOK).await.unwrap();
    assert_eq!(report.outcome, SyncOutcome::Failed);
    let error = report.results[0].error.clone().unwrap();
    assert!(error.contains("HTTP 429") && error.contains("RESOURCE_EXHAUSTED"), "{error}");
    assert_eq!(count(&rig.google.counters().batch_gets), 1 + 6, "first sync + 1 attempt + 5 retries");
}

#[tokio::test]
async fn permission_denied_keeps_the_last_good_snapshot_and_reports_the_error() {
    let rig = rig().await;
    rig.engine.sync_all().await.unwrap();
    let key = SheetKey::new(BOOK, "Products");
    let good = rig.store.meta(&key).await.unwrap().unwrap().version;
    rig.google.deny(BOOK, true);
    let report = rig.engine.sync_spreadsheet(BOOK).await.unwrap();
    assert_eq!(report.outcome, SyncOutcome::Failed);
    let error = report.results[0].error.clone().unwrap();
    assert_eq!(
        error,
        format!(
            "spreadsheet {BOOK} is not shared with sheets-sync@sheetmesh-test.iam.gserviceaccount.com \
             (Google answered 403: PERMISSION_DENIED The user does not have sufficient permissions for this file.)"
        )
    );
    assert_eq!(count(&rig.google.counters().probes), 2, "403 is never retried");
    let (meta, snap) = rig.store.snapshot(&key).await.unwrap().unwrap();
    assert_eq!((snap.version.as_str(), meta.last_error.as_deref()), (good.as_str(), Some(error.as_str())));
    rig.google.deny(BOOK, false);
    rig.engine.sync_spreadsheet(BOOK).await.unwrap();
    assert_eq!(rig.store.meta(&key).await.unwrap().unwrap().last_error, None);
}

#[tokio::test]
async fn a_spreadsheet_never_readable_still_shows_its_error() {
    let rig = rig().await;
    rig.google.deny(BOOK, true);
    rig.engine.sync_all().await.unwrap();
    let metas = rig.store.list(None).await.unwrap();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].key.sheet, "");
    assert!(metas[0].last_error.as_deref().unwrap().contains("is not shared with"));
    assert!(rig.engine.first_sync_completed());
}

#[tokio::test]
async fn a_revoked_token_gets_one_fresh_token_and_one_retry() {
    let rig = rig().await;
    rig.engine.sync_all().await.unwrap();
    rig.google.revoke_tokens();
    rig.google.set_spreadsheet(BOOK, vec![products(12.0), stores()]);
    let report = rig.engine.sync_spreadsheet(BOOK).await.unwrap();
    assert_eq!(report.outcome, SyncOutcome::Read);
    let c = rig.google.counters();
    assert_eq!((count(&c.tokens), count(&c.unauthorized)), (2, 1));
}

#[tokio::test]
async fn two_engines_on_one_redis_read_google_once() {
    let server = sheetmesh_common::testing::RedisServer::start().await;
    let google = GoogleStandIn::start().await;
    google.set_spreadsheet(BOOK, vec![products(9.5), stores()]);
    let mut engines = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn SnapshotStore> = Arc::new(support::redis_store(&server, "shared").await);
        let source = Arc::new(GoogleSource::new(client(&google), vec![BOOK.into()], vec![]));
        engines.push(SyncEngine::new(source, store, Arc::new(RecordingInvalidator::default()), SyncConfig::default()).await.unwrap());
    }
    let (a, b) = tokio::join!(engines[0].sync_spreadsheet(BOOK), engines[1].sync_spreadsheet(BOOK));
    let outcomes = [a.unwrap().outcome, b.unwrap().outcome];
    assert!(outcomes.contains(&SyncOutcome::Read), "{outcomes:?}");
    // The other one either found the lease taken or the version unchanged.
    assert_eq!(count(&google.counters().batch_gets), 1);
}

#[tokio::test]
async fn push_channels_are_replaced_before_expiry_and_stopped_on_shutdown() {
    let google = GoogleStandIn::start().await;
    google.set_spreadsheet(BOOK, vec![stores()]);
    let mut config = PushConfig::new("https://sheetmesh.example/v1/webhooks/sheets", "webhook-secret");
    config.lifetime = Duration::from_millis(400);
    config.renew_before = Duration::from_millis(300);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_push_channels(client(&google), vec![BOOK.into()], config, async {
        let _ = stop_rx.await;
    }));
    google.wait_for_watches(2).await;
    stop_tx.send(()).unwrap();
    task.await.unwrap();
    let channels = google.channels();
    assert!(channels.iter().all(|c| c["token"] == "webhook-secret" && c["type"] == "web_hook"));
    let first = channels[0]["id"].as_str().unwrap().to_owned();
    let stopped = google.stopped();
    assert_eq!(stopped.first(), Some(&first), "the old channel is stopped once its successor is open");
    let last = channels.last().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(stopped.last(), Some(&last), "the open channel is stopped on shutdown");
}
