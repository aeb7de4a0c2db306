//! Keeps gRPC health in step with the backend.

use std::time::Duration;

use sheetmesh_common::grpc::Health;

use crate::{Cache, store::CacheStore};

/// Pings the backend every `interval` and reports SERVING while it answers,
/// NOT_SERVING while it does not. With the default 500 ms interval and a
/// 1 s Redis timeout, a returning Redis is SERVING again within 2 s.
pub async fn watch_backend<S: CacheStore>(cache: Cache<S>, health: Health, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = None;
    loop {
        ticker.tick().await;
        let up = cache.check_backend().await;
        if reported != Some(up) {
            if up {
                tracing::info!("cache backend reachable: SERVING");
            } else {
                tracing::warn!("cache backend unreachable: NOT_SERVING (reads miss, writes fail)");
            }
            health.set_ready(up).await;
            reported = Some(up);
        }
    }
}
