//! W3C trace context over gRPC metadata (which is HTTP/2 headers).
//!
//! [`GrpcTraceLayer`] sits on every server: it opens one span per call, made
//! a child of the caller's `traceparent`. [`InjectTraceContextLayer`] sits on
//! every client channel: it writes the current span's context into the
//! outgoing headers. Together they make one request one trace across
//! components.

use std::{
    task::{Context, Poll},
    time::Instant,
};

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use opentelemetry::propagation::{Extractor, Injector};
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

/// Makes `span` a child of the W3C trace context in `headers` (when the
/// caller sent one) and records the span's trace id in its `trace_id` field
/// (declare it `tracing::field::Empty`), so every log line inside the span
/// carries the id of the trace it belongs to.
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    if headers.contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
        // Errors only when no OpenTelemetry layer is installed: nothing to link.
        let _ = span.set_parent(parent);
    }
    use opentelemetry::trace::TraceContextExt as _;
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// The request id a caller passed in `x-request-id`, if any.
fn request_id(headers: &HeaderMap) -> &str {
    headers.get("x-request-id").and_then(|value| value.to_str().ok()).unwrap_or("")
}

/// Server layer: one span per gRPC call, parented on the incoming trace
/// context, carrying the method and the caller's `x-request-id`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTraceLayer;

impl<S> tower::Layer<S> for GrpcTraceLayer {
    type Service = GrpcTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTrace { inner }
    }
}

/// See [`GrpcTraceLayer`].
#[derive(Debug, Clone)]
pub struct GrpcTrace<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for GrpcTrace<S>
where
    S: tower::Service<Request<B>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %method.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %method,
            request_id = %request_id(request.headers()),
            trace_id = tracing::field::Empty,
        );
        continue_trace(&span, request.headers());
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(
            async move {
                let started = Instant::now();
                let result = future.await;
                match &result {
                    Ok(_) => tracing::debug!(elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "grpc call handled"),
                    Err(error) => tracing::warn!(%error, "grpc call failed in transport"),
                }
                result
            }
            .instrument(span),
        )
    }
}

/// Client layer: writes the current span's trace context (and the request id
/// field, if the caller set one) into outgoing request headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct InjectTraceContextLayer;

impl<S> tower::Layer<S> for InjectTraceContextLayer {
    type Service = InjectTraceContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InjectTraceContext { inner }
    }
}

/// See [`InjectTraceContextLayer`].
#[derive(Debug, Clone)]
pub struct InjectTraceContext<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for InjectTraceContext<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let context = Span::current().context();
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut HeaderInjector(request.headers_mut())));
        self.inner.call(request)
    }
}
