//! Request limits: body size (`MAX_BODY_BYTES`), concurrency
//! (`MAX_CONCURRENT`, shedding instead of queueing) and time (`TIMEOUT`).

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::{sync::Semaphore, time::Instant};

use crate::{clients::Deadline, error::Error};

/// The body limit in force (a request extension, read by the extractors to
/// word their 413).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Refuses a declared `Content-Length` over the limit before reading a byte;
/// bodies without one are cut by the extractors at the same limit.
pub async fn body_limit(State(limit): State<usize>, mut request: Request, next: Next) -> Response {
    let declared = request.headers().get(http::header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()).and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Error::PayloadTooLarge { limit }.into_response();
    }
    request.extensions_mut().insert(BodyLimit(limit));
    next.run(request).await
}

/// `MAX_CONCURRENT`: a request that finds every slot taken is answered 503
/// with `Retry-After` at once — a queue would only turn overload into
/// timeouts. The liveness probe is never shed, so an overloaded gateway is
/// not restarted for being busy.
pub async fn shed(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    match slots.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => Error::Overloaded.into_response(),
    }
}

/// `TIMEOUT`: the response head must be ready within it (504 otherwise).
/// The deadline is also handed to the gRPC calls as `grpc-timeout`. A
/// stream's body is not cut: it ends with its source or its client.
pub async fn timeout(State(limit): State<Duration>, mut request: Request, next: Next) -> Response {
    let deadline = Instant::now() + limit;
    request.extensions_mut().insert(Deadline(deadline));
    match tokio::time::timeout_at(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::Timeout.into_response(),
    }
}
