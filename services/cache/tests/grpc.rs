//! The cache service over a real socket: health, reflection, status codes,
//! a Redis outage and recovery, graceful shutdown, trace propagation.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    error::OTelSdkResult,
    propagation::TraceContextPropagator,
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};
use sheetmesh_common::{config::ClientOptions, grpc::channel};
use sheetmesh_proto::v1::cache_service_client::CacheServiceClient;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use sheetmesh_common::testing::RedisServer;
use sheetmesh_proto::v1::{GetRequest, InvalidateTagsRequest, LeaseRequest, SetRequest, StatsRequest, lease_response::Outcome};
use support::{config, spawn_cache};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

fn set(key: &str, value: &'static [u8], ttl_ms: u64, tags: &[&str]) -> SetRequest {
    SetRequest { key: key.to_owned(), value: value.into(), ttl_ms, tags: tags.iter().map(|t| (*t).to_owned()).collect(), lease_token: String::new() }
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_the_service() {
    let redis = RedisServer::start().await;
    let cache = spawn_cache(config(Some(redis.url()))).await;
    cache.wait_for_health(ServingStatus::Serving, Duration::from_secs(5)).await;
    let mut health = cache.health.clone();
    for service in ["", "sheetmesh.v1.CacheService"] {
        let status = health.check(HealthCheckRequest { service: service.to_owned() }).await.unwrap().into_inner().status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
    let unknown = health.check(HealthCheckRequest { service: "nope.Service".to_owned() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_services_over_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};
    let cache = spawn_cache(config(None)).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", cache.addr)).unwrap().connect().await.unwrap();

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request =
        v1::ServerReflectionRequest { host: String::new(), message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())) };
    let mut responses = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response else {
        panic!("expected a service list")
    };
    let names: Vec<_> = list.service.into_iter().map(|service| service.name).collect();
    for expected in ["sheetmesh.v1.CacheService", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|name| name == expected), "{expected} missing from {names:?}");
    }

    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol("sheetmesh.v1.CacheService".to_owned())),
    };
    let mut responses = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response = responses.next().await.unwrap().unwrap().message_response;
    assert!(
        matches!(response, Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref files)) if !files.file_descriptor_proto.is_empty())
    );
}

#[tokio::test]
async fn bad_input_answers_invalid_argument_with_a_clear_message() {
    let cache = spawn_cache(config(None)).await;
    let mut client = cache.client.clone();
    let cases = [
        (client.get(GetRequest { key: String::new() }).await.unwrap_err(), "key must not be empty"),
        (client.set(set("k", b"v", 0, &[])).await.unwrap_err(), "ttl_ms is required"),
        (client.set(set("k", b"v", 1000, &["Products"])).await.unwrap_err(), "kind:value"),
        (client.invalidate_tags(InvalidateTagsRequest { tags: vec![] }).await.unwrap_err(), "at least one tag"),
        (client.lease(LeaseRequest { key: "k".to_owned(), lease_ms: 700_000, wait_ms: 0 }).await.unwrap_err(), "lease_ms"),
    ];
    for (status, expected) in cases {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(expected), "{:?} does not say {expected:?}", status.message());
    }
    let big = SetRequest { key: "k".to_owned(), value: vec![0u8; 1024 * 1024 + 1].into(), ttl_ms: 1000, tags: vec![], lease_token: String::new() };
    let status = client.set(big).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("limit is 1048576 bytes"), "{}", status.message());
}

#[tokio::test]
async fn a_redis_outage_flips_health_fails_fast_and_recovers_without_restart() {
    let mut redis = RedisServer::start().await;
    let cache = spawn_cache(config(Some(redis.url()))).await;
    cache.wait_for_health(ServingStatus::Serving, Duration::from_secs(5)).await;
    let mut client = cache.client.clone();
    client.set(set("k", b"v", 60_000, &["sheet:a/b"])).await.unwrap();

    redis.stop().await;
    cache.wait_for_health(ServingStatus::NotServing, Duration::from_secs(5)).await;

    // Reads degrade to a miss and writes fail, both fast (bounded by the 300 ms response timeout).
    let started = Instant::now();
    let read = client.get(GetRequest { key: "k".to_owned() }).await.unwrap().into_inner();
    assert!(!read.found);
    let write = client.set(set("k", b"v2", 60_000, &[])).await.unwrap_err();
    assert_eq!(write.code(), Code::Unavailable, "{write:?}");
    assert!(!write.message().contains("redis://"), "the Redis URL leaked: {}", write.message());
    let lease = client.lease(LeaseRequest { key: "k".to_owned(), lease_ms: 1000, wait_ms: 1000 }).await.unwrap().into_inner();
    assert_eq!(lease.outcome, Outcome::Unavailable as i32);
    assert!(started.elapsed() < Duration::from_secs(3), "calls hung during the outage: {:?}", started.elapsed());
    let stats = client.stats(StatsRequest {}).await.unwrap().into_inner();
    assert!(!stats.backend_up);

    redis.restart().await;
    let back = Instant::now();
    cache.wait_for_health(ServingStatus::Serving, Duration::from_secs(2)).await;
    assert!(back.elapsed() < Duration::from_secs(2));
    client.set(set("k", b"v3", 60_000, &[])).await.unwrap();
    let read = client.get(GetRequest { key: "k".to_owned() }).await.unwrap().into_inner();
    assert_eq!((read.found, read.value.as_ref()), (true, &b"v3"[..]));
    assert!(client.stats(StatsRequest {}).await.unwrap().into_inner().backend_up);
}

#[tokio::test]
async fn stats_report_the_backend_and_hit_ratio() {
    let redis = RedisServer::start().await;
    let cache = spawn_cache(config(Some(redis.url()))).await;
    cache.wait_for_health(ServingStatus::Serving, Duration::from_secs(5)).await;
    let mut client = cache.client.clone();
    client.set(set("a", b"1", 60_000, &[])).await.unwrap();
    client.get(GetRequest { key: "a".to_owned() }).await.unwrap();
    client.get(GetRequest { key: "zzz".to_owned() }).await.unwrap();
    let stats = client.stats(StatsRequest {}).await.unwrap().into_inner();
    assert_eq!((stats.backend.as_str(), stats.keys, stats.hits, stats.misses), ("redis", 1, 1, 1));
    assert!((stats.hit_ratio - 0.5).abs() < 1e-9);
    assert!(stats.backend_rtt_us > 0);
}

#[tokio::test]
async fn shutdown_flips_health_then_stops_within_the_drain_deadline() {
    let mut cache = spawn_cache(config(None)).await;
    cache.wait_for_health(ServingStatus::Serving, Duration::from_secs(5)).await;
    let mut watch = cache.health.clone().watch(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);

    let started = Instant::now();
    cache.shutdown();
    // The open Watch stream hears NOT_SERVING before the server goes away.
    assert_eq!(watch.message().await.unwrap().map(|m| m.status), Some(ServingStatus::NotServing as i32));
    let result = tokio::time::timeout(Duration::from_secs(5), &mut cache.task).await.expect("server did not stop");
    result.unwrap().unwrap();
    // The open Watch stream would keep tonic waiting forever; the drain deadline (2 s) ends it.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

/// Collects finished spans in memory.
#[derive(Debug, Clone, Default)]
struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collected {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

// One thread, so the thread-local subscriber sees the client and the server.
#[tokio::test(flavor = "current_thread")]
async fn the_server_span_is_a_child_of_the_callers_span() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let collected = Collected::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(collected.clone()).build();
    let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let cache = spawn_cache(config(None)).await;
    let mut client = CacheServiceClient::new(channel("CACHE_URL", &format!("http://{}", cache.addr), &ClientOptions::default()).unwrap());
    async {
        client.get(GetRequest { key: "k".to_owned() }).await.unwrap();
    }
    .instrument(tracing::info_span!("caller"))
    .await;
    let _ = provider.force_flush();

    let spans = collected.0.lock().unwrap().clone();
    let caller = spans.iter().find(|span| span.name == "caller").expect("caller span exported");
    let server = spans.iter().find(|span| span.name == "sheetmesh.v1.CacheService/Get").unwrap_or_else(|| {
        panic!("server span missing; got {:?}", spans.iter().map(|span| &span.name).collect::<Vec<_>>());
    });
    assert_eq!(server.span_context.trace_id(), caller.span_context.trace_id(), "not one trace");
    assert_eq!(server.parent_span_id, caller.span_context.span_id());
    assert!(server.parent_span_is_remote, "the parent should come from the wire");
}
