//! Traces across processes: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, one chat
//! request is one trace — the gateway's server span continues the caller's
//! `traceparent`, the agent's server span hangs below it, and the cache's
//! server span (the agent's answer-cache lookup) below that, though each
//! component runs as its own `sheetmesh <component>` process exporting on
//! its own. A gRPC caller that skips the gateway gets the same below the
//! agent.
//!
//! The collector is a stand-in: the OTLP/gRPC `TraceService` (the public
//! shape every collector speaks) on a loopback port, handing each received
//! span to the test over a channel.

#[allow(dead_code)] // This test uses part of the shared harness.
mod support;

use std::{collections::HashMap, net::SocketAddr, path::Path, time::Duration};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::{Span, span::SpanKind},
};
use sheetmesh_agent::testing::OpenAiStandIn;
use sheetmesh_common::testing::{free_port, loopback_listener};
use sheetmesh_proto::v1::{ChatRequest, agent_service_client::AgentServiceClient};
use support::process::Process;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

/// The caller's trace context, as the gateway would send it to the agent.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
/// The trace context a browser or proxy sends to the gateway.
const HTTP_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const HTTP_CALLER_SPAN_ID: &str = "b7ad6b7169203331";
const API_KEY: &str = "otlp-test-key";

/// One span as the collector received it, with the `service.name` of the
/// process that exported it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    fn is_server(&self) -> bool {
        self.span.kind == SpanKind::Server as i32
    }
}

impl std::fmt::Display for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} trace {} span {} parent {}", self.service, self.span.name, self.trace_id(), self.span_id(), self.parent_span_id())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The stand-in collector's OTLP trace service.
struct Collector {
    spans: mpsc::UnboundedSender<Received>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(&self, request: Request<ExportTraceServiceRequest>) -> Result<Response<ExportTraceServiceResponse>, Status> {
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| match attribute.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                // The test may have stopped listening after its assertions.
                let _ = self.spans.send(Received { service: service.clone(), span });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// Starts the collector; returns its endpoint URL, the received spans, and
/// the switch that stops it.
async fn start_collector() -> (String, mpsc::UnboundedReceiver<Received>, oneshot::Sender<()>) {
    let listener = loopback_listener().await;
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (spans, received) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector { spans }))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            })
            .await
            .expect("the stand-in collector failed");
    });
    (endpoint, received, stop)
}

/// In trace `trace_id`: the agent's server span for `Chat` and the cache's
/// server span, once both have arrived.
fn chat_trace<'a>(spans: &'a [Received], trace_id: &str) -> Option<(&'a Received, &'a Received)> {
    let in_trace: Vec<&Received> = spans.iter().filter(|span| span.trace_id() == trace_id).collect();
    let agent = in_trace.iter().find(|span| span.is_server() && span.span.name.ends_with("AgentService/Chat"))?;
    let cache = in_trace.iter().find(|span| span.is_server() && span.span.name.contains("sheetmesh.v1.CacheService/"))?;
    Some((agent, cache))
}

/// In trace `trace_id`: the gateway's server span of an HTTP request.
fn gateway_span<'a>(spans: &'a [Received], trace_id: &str) -> Option<&'a Received> {
    spans.iter().find(|span| span.trace_id() == trace_id && span.service == "sheetmesh-gateway" && span.is_server())
}

/// The chain of spans from `span` up to the root, following parent ids
/// through the spans received (possibly from several processes).
fn ancestors<'a>(span: &'a Received, spans: &'a [Received]) -> Vec<&'a Received> {
    let by_id: HashMap<String, &Received> = spans.iter().map(|span| (span.span_id(), span)).collect();
    let mut chain = vec![span];
    while let Some(parent) = by_id.get(&chain.last().unwrap().parent_span_id()) {
        if chain.len() > 64 {
            break; // a cycle would be a bug of its own; do not spin
        }
        chain.push(parent);
    }
    chain
}

fn write_products(dir: &Path) {
    let mut csv = String::from("sku,name,category,price,stock\n");
    for i in 1..=20 {
        csv.push_str(&format!("SKU-{i:04},Desk lamp {i},Office,{}.5,{}\n", 10 + i, i * 2));
    }
    std::fs::write(dir.join("products.csv"), csv).unwrap();
}

/// Asserts, in trace `trace_id`, that the cache span's parent chain climbs
/// to the agent's Chat span and ends at `top` (the topmost span of ours),
/// and that every cache span of the trace hangs below the agent span.
fn assert_chain(spans: &[Received], trace_id: &str, agent_span: &Received, cache_span: &Received, top: &Received) {
    assert_eq!(agent_span.service, "sheetmesh-agent", "{agent_span}");
    assert_eq!(cache_span.service, "sheetmesh-cache", "{cache_span}");
    let chain = ancestors(cache_span, spans);
    let described: Vec<String> = chain.iter().map(ToString::to_string).collect();
    assert!(
        chain.iter().any(|span| span.span_id() == agent_span.span_id()),
        "the cache span's parent chain does not reach the agent's Chat span:\n{}",
        described.join("\n  ← ")
    );
    assert_eq!(chain.last().unwrap().span_id(), top.span_id(), "the chain should end at {top} (its parent is the caller):\n{}", described.join("\n  ← "));
    // Every cache call of this chat (Lease, Set, …) hangs below the agent span, none floats.
    for span in spans.iter().filter(|span| span.trace_id() == trace_id && span.service == "sheetmesh-cache") {
        assert!(ancestors(span, spans).iter().any(|ancestor| ancestor.span_id() == agent_span.span_id()), "{span} is not below the agent's Chat span");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chat_is_one_trace_across_the_gateway_agent_and_cache_processes() {
    sheetmesh_common::install_crypto_provider();
    let (endpoint, mut received, stop_collector) = start_collector().await;
    let (sheets, data, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_products(sheets.path());
    // Offline (retrieval-only) answers skip the answer cache: an LLM, here
    // the OpenAI stand-in, makes the agent consult the cache service.
    let llm = OpenAiStandIn::start().await;

    let [cache_addr, sheets_addr, agent_addr, gateway_addr]: [SocketAddr; 4] = std::array::from_fn(|_| SocketAddr::from(([127, 0, 0, 1], free_port())));
    let env = |grpc_addr: SocketAddr| {
        vec![
            ("GRPC_ADDR", grpc_addr.to_string()),
            ("CACHE_URL", format!("http://{cache_addr}")),
            ("SHEETS_SYNC_URL", format!("http://{sheets_addr}")),
            ("AGENT_URL", format!("http://{agent_addr}")),
            ("SHEETS_DIR", sheets.path().display().to_string()),
            ("DATA_DIR", data.path().display().to_string()),
            ("SYNC_INTERVAL", "3600".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
            ("LOG_LEVEL", "info".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("TIMEOUT", "10s".to_owned()),
            ("OPENAI_BASE_URL", llm.base_url()),
            ("OPENAI_API_KEY", "sk-test".to_owned()),
        ]
    };
    let cache = Process::start("cache", &env(cache_addr), logs.path());
    let sheets_sync = Process::start("sheets-sync", &env(sheets_addr), logs.path());
    let agent = Process::start("agent", &env(agent_addr), logs.path());
    let mut gateway_env = env(gateway_addr);
    gateway_env.extend([("HOST", "127.0.0.1".to_owned()), ("PORT", gateway_addr.port().to_string()), ("API_KEY", API_KEY.to_owned())]);
    let gateway = Process::start("gateway", &gateway_env, logs.path());
    // SERVING once the agent has indexed every row (through sheets-sync).
    support::mesh::wait_serving(agent_addr, Duration::from_secs(30)).await;

    // A gRPC caller that skips the gateway: the agent continues its trace.
    let mut chat = Request::new(ChatRequest { message: "What does SKU-0003 cost?".to_owned(), ..ChatRequest::default() });
    chat.metadata_mut().insert("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01").parse().unwrap());
    let mut client = AgentServiceClient::connect(format!("http://{agent_addr}")).await.unwrap();
    let answer = client.chat(chat).await.unwrap_or_else(|status| panic!("chat failed: {status}\n{}", agent.log_tail())).into_inner();
    assert!(!answer.degraded && !answer.cached, "expected a fresh LLM answer: {answer:?}");
    drop(client);

    // Through the gateway, as a browser behind a tracing proxy would.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    // The gateway gives no readiness signal but /healthz: poll it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http.get(format!("http://{gateway_addr}/healthz")).send().await.is_ok_and(|response| response.status().is_success()) {
        assert!(Instant::now() < deadline, "the gateway never answered /healthz\n{}", gateway.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = http
        .post(format!("http://{gateway_addr}/v1/chat"))
        .header("x-api-key", API_KEY)
        .header("traceparent", format!("00-{HTTP_TRACE_ID}-{HTTP_CALLER_SPAN_ID}-01"))
        .json(&serde_json::json!({ "message": "What does SKU-0007 cost?" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}\n{}\n{}", gateway.log_tail(), agent.log_tail());
    assert_eq!((answer["degraded"].as_bool(), answer["cached"].as_bool()), (Some(false), Some(false)), "expected a fresh LLM answer: {answer}");

    // Stop the processes: each flushes its spans to the collector on exit.
    let logs_on_failure = [cache.log_tail(), sheets_sync.log_tail(), agent.log_tail(), gateway.log_tail()].join("\n");
    gateway.terminate().await;
    agent.terminate().await;
    sheets_sync.terminate().await;
    cache.terminate().await;

    let mut spans = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while chat_trace(&spans, TRACE_ID).is_none() || chat_trace(&spans, HTTP_TRACE_ID).is_none() || gateway_span(&spans, HTTP_TRACE_ID).is_none() {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(span)) => spans.push(span),
            Ok(None) | Err(_) => {
                let seen: Vec<String> = spans.iter().map(ToString::to_string).collect();
                panic!(
                    "no gateway, agent Chat and cache spans in traces {TRACE_ID} and {HTTP_TRACE_ID} within 10 s; received:\n{}\n{logs_on_failure}",
                    seen.join("\n")
                );
            }
        }
    }
    let _ = stop_collector.send(());

    // gRPC caller → agent → cache.
    let (agent_span, cache_span) = chat_trace(&spans, TRACE_ID).unwrap();
    assert_eq!(agent_span.parent_span_id(), CALLER_SPAN_ID, "the agent span does not continue the caller's traceparent: {agent_span}");
    assert_chain(&spans, TRACE_ID, agent_span, cache_span, agent_span);

    // HTTP caller → gateway → agent → cache.
    let gateway_span = gateway_span(&spans, HTTP_TRACE_ID).unwrap();
    assert_eq!(gateway_span.parent_span_id(), HTTP_CALLER_SPAN_ID, "the gateway span does not continue the caller's traceparent: {gateway_span}");
    let (agent_span, cache_span) = chat_trace(&spans, HTTP_TRACE_ID).unwrap();
    assert!(
        ancestors(agent_span, &spans).iter().any(|span| span.span_id() == gateway_span.span_id()),
        "the agent's Chat span does not hang below the gateway's server span {gateway_span}: {agent_span}"
    );
    assert_chain(&spans, HTTP_TRACE_ID, agent_span, cache_span, gateway_span);
}
