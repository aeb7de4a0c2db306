//! `GET /metrics`: the registry in the Prometheus/OpenMetrics text format.
//! The cache hit ratio is read from `CacheService.Stats` at scrape time
//! (bounded; a cache that does not answer leaves the last value).

use std::time::Duration;

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use sheetmesh_proto::v1::StatsRequest;

use crate::{
    clients::{Call, Service},
    state::AppState,
};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The handler.
pub async fn render(State(state): State<AppState>) -> Response {
    let call = Call::detached("metrics", Duration::from_millis(250));
    match call.run(Service::Cache, state.clients.cache.clone().stats(call.request(StatsRequest {}))).await {
        Ok(stats) => {
            state.metrics.cache_hit_ratio.set(stats.hit_ratio);
            state.metrics.cache_backend_up.set(i64::from(stats.backend_up));
        }
        Err(_) => {
            state.metrics.cache_backend_up.set(0);
        }
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
