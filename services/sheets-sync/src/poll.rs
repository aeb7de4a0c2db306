//! Background loops the service spawns: the polling fallback and, with a
//! shared store, following other replicas' change events.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::store::SnapshotStore;
use crate::sync::SyncEngine;
use crate::watch::WatchHub;

/// Syncs everything every `interval` (`SYNC_INTERVAL`, default 60 s) until
/// `shutdown` resolves: the fallback that catches what a webhook missed.
/// The first sync happens one interval after the call; the start-up sync
/// is the caller's (it gates readiness).
pub async fn poll_loop(engine: Arc<SyncEngine>, interval: Duration, shutdown: impl Future<Output = ()>) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    // A slow sync must not be followed by a burst of catch-up syncs.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {
                if let Err(error) = engine.sync_all().await {
                    tracing::warn!(%error, "periodic sync failed");
                }
            }
        }
    }
}

/// Feeds `hub` with the change events other replicas append to the shared
/// store, checking every `interval`, so a watcher connected to this replica
/// also sees changes synced elsewhere. Events already announced locally are
/// dropped by the hub (same version). Starts at the end of the stream.
pub async fn follow_events(store: Arc<dyn SnapshotStore>, hub: WatchHub, interval: Duration, shutdown: impl Future<Output = ()>) {
    let mut cursor = match last_event_id(store.as_ref()).await {
        Ok(cursor) => cursor,
        Err(error) => {
            tracing::warn!(%error, "cannot follow change events");
            None
        }
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {
                match store.events(cursor.as_deref(), 1000).await {
                    Ok(events) => {
                        for (id, event) in events {
                            hub.publish(event);
                            cursor = Some(id);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "could not read change events"),
                }
            }
        }
    }
}

async fn last_event_id(store: &dyn SnapshotStore) -> crate::error::Result<Option<String>> {
    let mut cursor = None;
    loop {
        let batch = store.events(cursor.as_deref(), 1000).await?;
        match batch.last() {
            Some((id, _)) => cursor = Some(id.clone()),
            None => return Ok(cursor),
        }
    }
}
