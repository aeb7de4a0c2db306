//! One suite, two backends: every behaviour of `SnapshotStore` is a generic
//! function run against the in-memory store and against a real Redis.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sheetmesh_sheets_sync::cell::Cell;
use sheetmesh_sheets_sync::model::{ChangeEvent, ChangeKind, SheetKey, SheetMeta, SourceKind};
use sheetmesh_sheets_sync::normalize::{Limits, normalize};
use sheetmesh_sheets_sync::store::SnapshotStore;
use support::{Backend, sheet};

fn meta_for(key: &SheetKey, position: u32, version: &str, rows: u64) -> SheetMeta {
    SheetMeta {
        columns: vec!["sku".into(), "price".into()],
        row_count: rows,
        version: version.into(),
        synced_at: Some(SystemTime::now()),
        ..SheetMeta::new(key.clone(), position, SourceKind::Local)
    }
}

fn changed(key: &SheetKey, version: &str, previous: &str) -> ChangeEvent {
    ChangeEvent {
        kind: ChangeKind::Changed,
        key: key.clone(),
        version: version.into(),
        previous_version: previous.into(),
        row_count: 1,
        changed_at: SystemTime::now(),
    }
}

async fn commit_sample(store: &dyn SnapshotStore, key: &SheetKey, price: &str) -> String {
    let snap = normalize(sheet(&key.sheet, &[&["sku", "price"], &["SKU-0001", price]]), &Limits::default()).unwrap();
    let version = snap.version.clone();
    let previous = store.meta(key).await.unwrap().map(|m| m.version).unwrap_or_default();
    store.commit(&meta_for(key, 0, &version, 1), Arc::new(snap), &changed(key, &version, &previous)).await.unwrap();
    version
}

async fn committed_snapshot_reads_back_whole(store: &dyn SnapshotStore) {
    let key = SheetKey::new("book.xlsx", "Products");
    assert!(store.snapshot(&key).await.unwrap().is_none());
    let version = commit_sample(store, &key, "9.5").await;
    let (meta, snap) = store.snapshot(&key).await.unwrap().expect("stored");
    assert_eq!(meta.version, version);
    assert_eq!(snap.version, version);
    assert_eq!(snap.columns, ["sku", "price"]);
    assert_eq!(snap.rows[0].number, 2);
    assert_eq!(snap.rows[0].cells[1], Cell::Number(9.5));
}

async fn a_new_version_replaces_the_old_one(store: &dyn SnapshotStore) {
    let key = SheetKey::new("book.xlsx", "Products");
    let first = commit_sample(store, &key, "1").await;
    let second = commit_sample(store, &key, "2").await;
    assert_ne!(first, second);
    let (meta, snap) = store.snapshot(&key).await.unwrap().unwrap();
    assert_eq!((meta.version.as_str(), snap.version.as_str()), (second.as_str(), second.as_str()));
}

async fn recording_an_error_keeps_the_snapshot(store: &dyn SnapshotStore) {
    let key = SheetKey::new("book.xlsx", "Products");
    let version = commit_sample(store, &key, "1").await;
    let mut meta = store.meta(&key).await.unwrap().unwrap();
    meta.last_error = Some("spreadsheet book.xlsx is not shared with x".into());
    store.put_meta(&meta).await.unwrap();
    let (meta, snap) = store.snapshot(&key).await.unwrap().unwrap();
    assert_eq!(meta.last_error.as_deref(), Some("spreadsheet book.xlsx is not shared with x"));
    assert_eq!(snap.version, version);
}

async fn list_orders_by_spreadsheet_then_position(store: &dyn SnapshotStore) {
    for (id, title, position) in [("b", "Zeta", 0), ("a", "Orders", 2), ("a", "Products", 0), ("a", "Stores", 1)] {
        store.put_meta(&SheetMeta::new(SheetKey::new(id, title), position, SourceKind::Google)).await.unwrap();
    }
    let names: Vec<String> = store.list(None).await.unwrap().iter().map(|m| m.key.to_string()).collect();
    assert_eq!(names, ["a/Products", "a/Stores", "a/Orders", "b/Zeta"]);
    let only_b: Vec<String> = store.list(Some("b")).await.unwrap().iter().map(|m| m.key.to_string()).collect();
    assert_eq!(only_b, ["b/Zeta"]);
}

async fn events_come_back_in_order_after_a_cursor(store: &dyn SnapshotStore) {
    let key = SheetKey::new("s", "t");
    let mut versions = Vec::new();
    for price in ["1", "2", "3"] {
        versions.push(commit_sample(store, &key, price).await);
    }
    let all = store.events(None, 100).await.unwrap();
    assert_eq!(all.iter().map(|(_, e)| e.version.clone()).collect::<Vec<_>>(), versions);
    assert_eq!(all[1].1.previous_version, versions[0]);
    let after_first = store.events(Some(&all[0].0), 1).await.unwrap();
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].1.version, versions[1]);
    assert!(store.events(Some(&all[2].0), 10).await.unwrap().is_empty());
}

async fn removing_a_sheet_forgets_it_and_records_the_event(store: &dyn SnapshotStore) {
    let key = SheetKey::new("s", "gone");
    let version = commit_sample(store, &key, "1").await;
    let removed = ChangeEvent { kind: ChangeKind::Removed, version: String::new(), ..changed(&key, "", &version) };
    store.remove(&key, Some(&removed)).await.unwrap();
    assert!(store.meta(&key).await.unwrap().is_none());
    assert!(store.snapshot(&key).await.unwrap().is_none());
    let events = store.events(None, 10).await.unwrap();
    assert_eq!(events.last().unwrap().1.kind, ChangeKind::Removed);
}

async fn probe_tokens_round_trip(store: &dyn SnapshotStore) {
    assert_eq!(store.probe_token("s").await.unwrap(), None);
    store.set_probe_token("s", "42").await.unwrap();
    assert_eq!(store.probe_token("s").await.unwrap().as_deref(), Some("42"));
}

async fn a_lease_excludes_everyone_until_released(store: &dyn SnapshotStore) {
    let ttl = Duration::from_secs(30);
    assert!(store.try_lease("s", "replica-a", ttl).await.unwrap());
    assert!(!store.try_lease("s", "replica-b", ttl).await.unwrap());
    assert!(!store.try_lease("s", "replica-a", ttl).await.unwrap(), "not re-entrant");
    assert!(store.try_lease("other", "replica-b", ttl).await.unwrap(), "leases are per spreadsheet");
    store.release_lease("s", "replica-b").await.unwrap();
    assert!(!store.try_lease("s", "replica-b", ttl).await.unwrap(), "only the holder releases");
    store.release_lease("s", "replica-a").await.unwrap();
    assert!(store.try_lease("s", "replica-b", ttl).await.unwrap());
}

async fn a_lease_expires_when_its_holder_dies(store: &dyn SnapshotStore) {
    assert!(store.try_lease("s", "crashed", Duration::from_millis(50)).await.unwrap());
    // Expiry is a matter of time passing; there is no signal to wait for.
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(store.try_lease("s", "replica-b", Duration::from_secs(30)).await.unwrap());
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let backend = super::support::memory();
                    super::$name(backend.store.as_ref()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let backend: super::Backend = super::support::redis().await;
                    super::$name(backend.store.as_ref()).await;
                }
            )*
        }
    };
}

suite!(
    committed_snapshot_reads_back_whole,
    a_new_version_replaces_the_old_one,
    recording_an_error_keeps_the_snapshot,
    list_orders_by_spreadsheet_then_position,
    events_come_back_in_order_after_a_cursor,
    removing_a_sheet_forgets_it_and_records_the_event,
    probe_tokens_round_trip,
    a_lease_excludes_everyone_until_released,
    a_lease_expires_when_its_holder_dies,
);
