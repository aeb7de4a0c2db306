//! The edge protections composed into three middlewares, in the order
//! [`crate::server::router`] explains: [`outer`] (request id, security
//! headers, metrics, trusted hosts) around CORS and compression, then
//! [`inner`] (body limit, load shedding, timeout), and [`authenticated`]
//! (API key, then that key's rate limit) on the `/v1/*` routes but the
//! webhook.
//!
//! Why three and not one middleware per concern: every `from_fn` layer
//! clones the whole stack beneath it on each request, so ten stacked layers
//! cost tens of clones (and allocations) per request; measured, that was
//! about a tenth of the gateway's CPU under load. The concerns stay in
//! their own modules as plain functions, tested there.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use http::{HeaderName, HeaderValue};
use tokio::sync::Semaphore;

use super::{
    auth::{self, ApiKeys},
    headers, hosts, limits,
    metrics::{self, Metrics},
    rate_limit::RateLimiter,
    request_id,
};
use crate::config::GatewayConfig;

/// Everything the edge checks against, built once from the configuration.
#[derive(Debug)]
pub struct Edge {
    security_headers: Vec<(HeaderName, HeaderValue)>,
    metrics: Arc<Metrics>,
    allowed_hosts: Option<Vec<String>>,
    body_limit: usize,
    slots: Arc<Semaphore>,
    timeout: Duration,
    keys: ApiKeys,
    limiter: RateLimiter,
}

impl Edge {
    /// The edge for `config`, counting into `metrics`.
    pub fn new(config: &GatewayConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            security_headers: headers::security_headers(config.hsts_max_age),
            metrics,
            allowed_hosts: config.allowed_hosts.clone(),
            body_limit: config.body_limit,
            slots: Arc::new(Semaphore::new(config.max_concurrent)),
            timeout: config.request_timeout,
            keys: ApiKeys::new(&config.api_keys),
            limiter: RateLimiter::new(config.rate_limit_per_minute),
        }
    }
}

/// Request id and span → security headers → metrics → trusted hosts.
pub async fn outer(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    let allowed_hosts = edge.allowed_hosts.as_deref();
    request_id::traced(request, |request| async {
        let mut response = metrics::measured(&edge.metrics, request, move |request| async move {
            match hosts::check(allowed_hosts, &request) {
                Ok(()) => next.run(request).await,
                Err(refused) => refused.into_response(),
            }
        })
        .await;
        headers::apply(&edge.security_headers, &mut response);
        response
    })
    .await
}

/// Body limit → load shedding → timeout.
pub async fn inner(State(edge): State<Arc<Edge>>, mut request: Request, next: Next) -> Response {
    if let Err(refused) = limits::body_limit(edge.body_limit, &mut request) {
        return refused.into_response();
    }
    let slot = match limits::shed(&edge.slots, &request) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let response = limits::timeout(edge.timeout, request, |request| next.run(request)).await;
    limits::hold_while_streaming(response, slot)
}

/// API key → the key's rate limit.
pub async fn authenticated(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    let admitted = auth::authenticate(&edge.keys, request.headers()).and_then(|key| edge.limiter.admit(key));
    match admitted {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}
