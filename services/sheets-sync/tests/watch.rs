//! WatchChanges semantics: a subscriber that connects while changes are
//! being published gets the current version of every sheet, then every
//! later change, with no gap, no stale repeat, even when it lags.

use std::collections::HashMap;
use std::time::SystemTime;

use sheetmesh_sheets_sync::model::{ChangeEvent, ChangeKind, SheetKey};
use sheetmesh_sheets_sync::watch::WatchHub;

const SHEETS: usize = 4;
const VERSIONS: usize = 2_000;

fn change(sheet: usize, version: usize) -> ChangeEvent {
    ChangeEvent {
        kind: ChangeKind::Changed,
        key: SheetKey::new("shop", format!("sheet{sheet}")),
        version: format!("v{version}"),
        previous_version: if version == 0 { String::new() } else { format!("v{}", version - 1) },
        row_count: version as u64,
        changed_at: SystemTime::now(),
    }
}

/// Follows one subscriber until every sheet reached its last version and
/// checks that, per sheet, each event continues exactly where the last left.
async fn assert_gap_free(hub: WatchHub, capacity_note: &str) {
    let publisher = tokio::spawn({
        let hub = hub.clone();
        async move {
            for version in 0..VERSIONS {
                for sheet in 0..SHEETS {
                    hub.publish(change(sheet, version));
                }
                if version % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    // Connect mid-stream.
    while hub.current().len() < SHEETS {
        tokio::task::yield_now().await;
    }
    let mut sub = hub.subscribe(None);
    let mut last: HashMap<String, usize> = HashMap::new();
    let last_version = format!("v{}", VERSIONS - 1);
    while last.len() < SHEETS || last.values().any(|v| format!("v{v}") != last_version) {
        let event = sub.next().await.expect("hub alive");
        let version: usize = event.version[1..].parse().unwrap();
        match last.get(&event.key.sheet) {
            None => assert_eq!(event.kind, ChangeKind::Current, "{capacity_note}: first event per sheet is CURRENT"),
            Some(seen) => {
                assert!(version > *seen, "{capacity_note}: stale or repeated version {version} after {seen}");
                assert_eq!(event.previous_version, format!("v{seen}"), "{capacity_note}: gap before {version}");
            }
        }
        last.insert(event.key.sheet.clone(), version);
    }
    publisher.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_connecting_mid_stream_misses_nothing() {
    assert_gap_free(WatchHub::new(100_000), "roomy buffer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_resynchronises_without_gaps() {
    // A tiny buffer forces lag; the resync sends the difference as one
    // change whose previous version is the one this subscriber last saw.
    assert_gap_free(WatchHub::new(4), "tiny buffer").await;
}

#[tokio::test]
async fn a_filtered_subscriber_sees_only_its_spreadsheet() {
    let hub = WatchHub::default();
    hub.publish(change(0, 0));
    let mut other = change(1, 0);
    other.key.spreadsheet = "other".into();
    hub.publish(other);
    let mut sub = hub.subscribe(Some("other".into()));
    hub.publish(change(0, 1));
    let mut again = change(1, 1);
    again.key.spreadsheet = "other".into();
    hub.publish(again);
    let first = sub.next().await.unwrap();
    let second = sub.next().await.unwrap();
    assert_eq!((first.kind, first.version.as_str()), (ChangeKind::Current, "v0"));
    assert_eq!((second.key.spreadsheet.as_str(), second.version.as_str()), ("other", "v1"));
}
