//! The sync engine over a scripted source, on both store backends: what a
//! sync stores, announces and invalidates, and what it leaves alone.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sheetmesh_sheets_sync::model::{ChangeKind, SheetKey};
use sheetmesh_sheets_sync::notify::Debouncer;
use sheetmesh_sheets_sync::store::SnapshotStore;
use sheetmesh_sheets_sync::sync::{SyncConfig, SyncEngine, SyncOutcome};
use support::{RecordingInvalidator, ScriptedSource, sheet};

struct Rig {
    source: Arc<ScriptedSource>,
    invalidator: Arc<RecordingInvalidator>,
    engine: Arc<SyncEngine>,
    store: Arc<dyn SnapshotStore>,
}

async fn rig(store: Arc<dyn SnapshotStore>) -> Rig {
    let source = Arc::new(ScriptedSource::default());
    source.set("shop", vec![products("9.5"), sheet("Stores", &[&["store", "city"], &["S1", "Zürich"]])]);
    let invalidator = Arc::new(RecordingInvalidator::default());
    let engine = SyncEngine::new(source.clone(), Arc::clone(&store), invalidator.clone(), SyncConfig::default()).await.unwrap();
    Rig { source, invalidator, engine: Arc::new(engine), store }
}

fn products(price: &str) -> sheetmesh_sheets_sync::normalize::RawSheet {
    sheet("Products", &[&["sku", "name", "price"], &["SKU-0042", "Kettle", price], &["SKU-0043", "Toaster", "25"]])
}

async fn first_sync_stores_every_sheet_and_announces_it(store: Arc<dyn SnapshotStore>) {
    let rig = rig(store).await;
    let mut watch = rig.engine.subscribe(None);
    let reports = rig.engine.sync_all().await.unwrap();
    assert_eq!(reports[0].outcome, SyncOutcome::Read);
    assert!(reports[0].results.iter().all(|r| r.changed && r.error.is_none()));
    let metas = rig.store.list(None).await.unwrap();
    assert_eq!(metas.iter().map(|m| m.key.sheet.as_str()).collect::<Vec<_>>(), ["Products", "Stores"]);
    assert_eq!(metas[0].row_count, 2);
    assert!(rig.engine.first_sync_completed());
    for expected in ["Products", "Stores"] {
        let event = watch.next().await.unwrap();
        assert_eq!((event.kind, event.key.sheet.as_str()), (ChangeKind::Changed, expected));
    }
}

async fn unchanged_probe_reads_nothing(store: Arc<dyn SnapshotStore>) {
    let rig = rig(store).await;
    rig.engine.sync_all().await.unwrap();
    let report = rig.engine.sync_spreadsheet("shop").await.unwrap();
    assert_eq!(report.outcome, SyncOutcome::Unchanged);
    assert_eq!(rig.source.reads(), 1);
    assert!(report.results.iter().all(|r| !r.changed));
}

async fn a_change_stores_a_new_version_with_one_event_and_invalidates_its_tag(store: Arc<dyn SnapshotStore>) {
    let rig = rig(store).await;
    rig.engine.sync_all().await.unwrap();
    let before = rig.store.meta(&SheetKey::new("shop", "Products")).await.unwrap().unwrap().version;
    let events_before = rig.store.events(None, 100).await.unwrap().len();
    rig.source.set("shop", vec![products("10.5"), sheet("Stores", &[&["store", "city"], &["S1", "Zürich"]])]);
    let report = rig.engine.sync_spreadsheet("shop").await.unwrap();
    let changed: Vec<&str> = report.results.iter().filter(|r| r.changed).map(|r| r.key.sheet.as_str()).collect();
    assert_eq!(changed, ["Products"]);
    let events = rig.store.events(None, 100).await.unwrap();
    assert_eq!(events.len(), events_before + 1);
    let event = &events.last().unwrap().1;
    assert_eq!(event.previous_version, before);
    assert_ne!(event.version, before);
    assert_eq!(rig.invalidator.tags().last().unwrap(), "sheet:shop/Products");
    assert_eq!(rig.invalidator.tags().iter().filter(|t| *t == "sheet:shop/Stores").count(), 1);
}

async fn a_failed_read_keeps_the_last_good_snapshot_and_reports_why(store: Arc<dyn SnapshotStore>) {
    let rig = rig(store).await;
    rig.engine.sync_all().await.unwrap();
    let key = SheetKey::new("shop", "Products");
    let good = rig.store.meta(&key).await.unwrap().unwrap().version;
    rig.source.fail("shop", "The caller does not have permission");
    let report = rig.engine.sync_spreadsheet("shop").await.unwrap();
    assert_eq!(report.outcome, SyncOutcome::Failed);
    let error = report.results[0].error.clone().unwrap();
    assert!(error.contains("is not shared with sync@test.iam.gserviceaccount.com"), "{error}");
    assert_eq!(report.results[0].version, good);
    let (meta, snap) = rig.store.snapshot(&key).await.unwrap().unwrap();
    assert_eq!(snap.version, good);
    assert_eq!(meta.last_error.as_deref(), Some(error.as_str()));
    // Recovery clears the error.
    rig.source.set("shop", vec![products("9.5")]);
    rig.engine.sync_spreadsheet("shop").await.unwrap();
    assert_eq!(rig.store.meta(&key).await.unwrap().unwrap().last_error, None);
}

async fn a_sheet_gone_from_its_source_is_removed_and_announced(store: Arc<dyn SnapshotStore>) {
    let rig = rig(store).await;
    rig.engine.sync_all().await.unwrap();
    let mut watch = rig.engine.subscribe(Some("shop".into()));
    rig.source.set("shop", vec![products("9.5")]);
    rig.engine.sync_spreadsheet("shop").await.unwrap();
    assert!(rig.store.meta(&SheetKey::new("shop", "Stores")).await.unwrap().is_none());
    let kinds: Vec<_> =
        [watch.next().await.unwrap(), watch.next().await.unwrap(), watch.next().await.unwrap()].iter().map(|e| (e.kind, e.key.sheet.clone())).collect();
    assert_eq!(kinds, [(ChangeKind::Current, "Products".into()), (ChangeKind::Current, "Stores".into()), (ChangeKind::Removed, "Stores".into())]);
}

async fn an_oversized_sheet_fails_alone(store: Arc<dyn SnapshotStore>) {
    let source = Arc::new(ScriptedSource::default());
    let huge = "x".repeat(60_000);
    source.set("shop", vec![products("1"), sheet("Notes", &[&["note"], &[huge.as_str()]])]);
    let config = SyncConfig::default();
    let engine = SyncEngine::new(source, store, Arc::new(RecordingInvalidator::default()), config).await.unwrap();
    let report = engine.sync_spreadsheet("shop").await.unwrap();
    assert_eq!(report.results[0].error, None);
    let error = report.results[1].error.clone().unwrap();
    assert_eq!(error, "the cell in row 2, column 1 has 60000 characters, more than the limit of 50000");
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::support::memory().store).await; })*
        }
        mod redis {
            $(#[tokio::test] async fn $name() {
                let backend = super::support::redis().await;
                super::$name(backend.store.clone()).await;
            })*
        }
    };
}

on_both_backends!(
    first_sync_stores_every_sheet_and_announces_it,
    unchanged_probe_reads_nothing,
    a_change_stores_a_new_version_with_one_event_and_invalidates_its_tag,
    a_failed_read_keeps_the_last_good_snapshot_and_reports_why,
    a_sheet_gone_from_its_source_is_removed_and_announced,
    an_oversized_sheet_fails_alone,
);

#[tokio::test]
async fn two_engines_on_one_redis_sync_a_spreadsheet_once() {
    let server = sheetmesh_common::testing::RedisServer::start().await;
    let source = Arc::new(ScriptedSource::default());
    source.set("shop", vec![products("1")]);
    let gate = source.hold_reads();
    let mut engines = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn SnapshotStore> = Arc::new(support::redis_store(&server, "shared").await);
        let invalidator = Arc::new(RecordingInvalidator::default());
        engines.push(Arc::new(SyncEngine::new(source.clone(), store, invalidator, SyncConfig::default()).await.unwrap()));
    }
    let first = tokio::spawn({
        let engine = Arc::clone(&engines[0]);
        async move { engine.sync_spreadsheet("shop").await.unwrap() }
    });
    // Replica A is inside its read, holding the lease.
    source.read_started.notified().await;
    let second = engines[1].sync_spreadsheet("shop").await.unwrap();
    assert_eq!(second.outcome, SyncOutcome::Busy);
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().outcome, SyncOutcome::Read);
    assert_eq!(source.reads(), 1);
    // With the lease released, replica B may sync (and finds nothing new).
    assert_eq!(engines[1].sync_spreadsheet("shop").await.unwrap().outcome, SyncOutcome::Unchanged);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_notifications_within_a_second_cause_one_sync() {
    let rig = rig(support::memory().store).await;
    let syncs = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let debouncer = Debouncer::new(Duration::from_secs(1), {
        let (engine, syncs, done) = (Arc::clone(&rig.engine), Arc::clone(&syncs), Arc::clone(&done));
        Arc::new(move |id: String| {
            let (engine, syncs, done) = (Arc::clone(&engine), Arc::clone(&syncs), Arc::clone(&done));
            Box::pin(async move {
                syncs.fetch_add(1, Ordering::SeqCst);
                let busy = engine.sync_spreadsheet(&id).await.unwrap().outcome == SyncOutcome::Busy;
                done.notify_one();
                busy
            })
        })
    });
    for _ in 0..100 {
        debouncer.notify("shop");
        tokio::time::sleep(Duration::from_millis(9)).await;
    }
    done.notified().await;
    assert_eq!(syncs.load(Ordering::SeqCst), 1);
    assert_eq!(rig.source.reads(), 1);
    // Nothing else is pending: a later notification is a new, single sync.
    while debouncer.is_pending("shop") {
        tokio::task::yield_now().await;
    }
    debouncer.notify("shop");
    done.notified().await;
    assert_eq!(syncs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_notification_during_a_sync_schedules_exactly_one_more() {
    let rig = rig(support::memory().store).await;
    let gate = rig.source.hold_reads();
    let finished = Arc::new(tokio::sync::Notify::new());
    let debouncer = Debouncer::new(Duration::from_secs(1), {
        let (engine, finished) = (Arc::clone(&rig.engine), Arc::clone(&finished));
        Arc::new(move |id: String| {
            let (engine, finished) = (Arc::clone(&engine), Arc::clone(&finished));
            Box::pin(async move {
                engine.sync_spreadsheet(&id).await.unwrap();
                finished.notify_one();
                false
            })
        })
    });
    debouncer.notify("shop");
    rig.source.read_started.notified().await;
    // The edit behind these notifications may postdate what is being read.
    rig.source.set("shop", vec![products("11")]);
    for _ in 0..10 {
        debouncer.notify("shop");
    }
    gate.add_permits(2);
    finished.notified().await;
    finished.notified().await;
    while debouncer.is_pending("shop") {
        tokio::task::yield_now().await;
    }
    assert_eq!(rig.source.reads(), 2);
}
