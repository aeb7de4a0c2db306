//! Prometheus metrics: the registry, and the middleware that counts every
//! request by route (the matched pattern, so ids do not explode the label
//! space), method and status, with latency and in-flight.

use std::{future::Future, sync::atomic::AtomicU64, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// Labels of a handled request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern, e.g. `/v1/conversations/{id}`, or `unmatched`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The HTTP status code.
    pub status: u16,
}

/// Labels of a latency observation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern.
    pub route: String,
}

/// Labels of an answer.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnswerLabels {
    /// Served from the answer cache.
    pub cached: bool,
    /// Retrieval-only (no LLM, or the LLM failed).
    pub degraded: bool,
}

/// Labels of a sync request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `api` (`POST /v1/sync`), `drive` or `signed` (webhook).
    pub trigger: String,
    /// `ok` or `error`.
    pub outcome: String,
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests handled.
    pub requests: Family<RequestLabels, Counter>,
    /// Time to the response head.
    pub latency: Family<RouteLabels, Histogram>,
    /// Requests being handled now.
    pub in_flight: Gauge,
    /// Chat answers by cache and degraded state.
    pub answers: Family<AnswerLabels, Counter>,
    /// Answers produced by an LLM (not cached, not degraded).
    pub llm_calls: Counter,
    /// Latency of those answers.
    pub llm_latency: Histogram,
    /// Sync requests (API and webhook).
    pub syncs: Family<SyncLabels, Counter>,
    /// Duration of `POST /v1/sync` (which waits for the sync).
    pub sync_duration: Histogram,
    /// The cache service's hit ratio, read from `Stats` at each scrape.
    pub cache_hit_ratio: Gauge<f64, AtomicU64>,
    /// 1 while the cache backend (Redis) answers, read at each scrape.
    pub cache_backend_up: Gauge,
}

fn seconds_buckets() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sheetmesh_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(seconds_buckets as fn() -> Histogram);
        let in_flight = Gauge::default();
        let answers = Family::<AnswerLabels, Counter>::default();
        let llm_calls = Counter::default();
        let llm_latency = seconds_buckets();
        let syncs = Family::<SyncLabels, Counter>::default();
        let sync_duration = seconds_buckets();
        let cache_hit_ratio = Gauge::<f64, AtomicU64>::default();
        let cache_backend_up = Gauge::default();
        registry.register("http_requests", "HTTP requests by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to the response head, by route", latency.clone());
        registry.register("http_requests_in_flight", "HTTP requests being handled", in_flight.clone());
        registry.register("chat_answers", "Chat answers by cache hit and degraded mode", answers.clone());
        registry.register("llm_calls", "Answers produced by an LLM call (not cached, not degraded)", llm_calls.clone());
        registry.register("llm_latency_seconds", "Latency of answers produced by an LLM call", llm_latency.clone());
        registry.register("syncs", "Sync requests by trigger and outcome", syncs.clone());
        registry.register("sync_duration_seconds", "Duration of on-demand syncs", sync_duration.clone());
        registry.register("cache_hit_ratio", "Hit ratio of the cache service (from CacheService.Stats)", cache_hit_ratio.clone());
        registry.register("cache_backend_up", "1 while the cache backend answers (from CacheService.Stats)", cache_backend_up.clone());
        Self { registry, requests, latency, in_flight, answers, llm_calls, llm_latency, syncs, sync_duration, cache_hit_ratio, cache_backend_up }
    }
}

impl Metrics {
    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Counts a sync request.
    pub fn sync(&self, trigger: &str, ok: bool) {
        self.syncs.get_or_create(&SyncLabels { trigger: trigger.to_owned(), outcome: if ok { "ok" } else { "error" }.to_owned() }).inc();
    }
}

/// Decrements in-flight even when the request is dropped (client gone).
struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Runs `inner` on `request`, counting it by route, method and status, with
/// its latency and while it is in flight.
pub async fn measured<F, Fut>(metrics: &Metrics, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    metrics.in_flight.inc();
    let _in_flight = InFlight(&metrics.in_flight);
    let started = Instant::now();
    let response = inner(request).await;
    metrics.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { route, method, status: response.status().as_u16() }).inc();
    response
}
