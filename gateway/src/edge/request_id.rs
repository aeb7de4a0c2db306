//! `x-request-id`: the caller's, when it is a sane token, or a fresh UUIDv7.
//! It is returned on the response, recorded on the request's span (so every
//! log line and exported span carries it) and forwarded to the services as
//! gRPC metadata by [`crate::clients::Call`].

use std::{future::Future, time::Instant};

use axum::{extract::Request, response::Response};
use http::{HeaderMap, HeaderValue};
use tracing::Instrument as _;

/// The header's name.
pub const HEADER: &str = "x-request-id";

/// The current request's id (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Runs `inner` on `request` inside the request's span, with its id as the
/// [`RequestId`] extension and on the response, and logs the outcome.
pub async fn traced<F, Fut>(mut request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let id = accepted(request.headers()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        http.method = %request.method(),
        http.path = %request.uri().path(),
        request_id = %id,
        trace_id = tracing::field::Empty,
        http.status = tracing::field::Empty,
    );
    // A browser's or proxy's trace continues through the gateway into the services.
    sheetmesh_common::telemetry::continue_trace(&span, request.headers());
    let started = Instant::now();
    let mut response = inner(request).instrument(span.clone()).await;
    span.record("http.status", response.status().as_u16());
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request handled"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// The caller's id if it is 1–128 characters of `[A-Za-z0-9._:/+=-]`;
/// anything else (which could forge log lines) is replaced.
fn accepted(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(HEADER)?.to_str().ok()?;
    let sane = (1..=128).contains(&value.len()) && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._:/+=-".contains(&byte));
    sane.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_static("req-123_abc.def"));
        assert_eq!(accepted(&headers).as_deref(), Some("req-123_abc.def"));
        headers.insert(HEADER, HeaderValue::from_static("bad id\twith spaces"));
        assert_eq!(accepted(&headers), None);
        headers.insert(HEADER, HeaderValue::from_str(&"x".repeat(129)).unwrap());
        assert_eq!(accepted(&headers), None);
    }
}
