//! Request limits: body size (`MAX_BODY_BYTES`), concurrency
//! (`MAX_CONCURRENT`, shedding instead of queueing) and time (`TIMEOUT`).

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    body::{Body, HttpBody as _},
    extract::Request,
    response::{IntoResponse, Response},
};
use futures::StreamExt as _;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

use crate::{clients::Deadline, error::Error};

/// The body limit in force (a request extension, read by the extractors to
/// word their 413).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Refuses a declared `Content-Length` over the limit before reading a byte;
/// bodies without one are cut by the extractors at the same limit, which
/// they read from the [`BodyLimit`] extension set here.
pub fn body_limit(limit: usize, request: &mut Request) -> Result<(), Error> {
    let declared = request.headers().get(http::header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()).and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Error::PayloadTooLarge { limit });
    }
    request.extensions_mut().insert(BodyLimit(limit));
    Ok(())
}

/// `MAX_CONCURRENT`: a request that finds every slot taken is answered 503
/// with `Retry-After` at once — a queue would only turn overload into
/// timeouts. The liveness probe is never shed (`Ok(None)`), so an
/// overloaded gateway is not restarted for being busy. The permit is held
/// until the response head is ready.
pub fn shed(slots: &Arc<Semaphore>, request: &Request) -> Result<Option<OwnedSemaphorePermit>, Error> {
    if request.uri().path() == "/healthz" {
        return Ok(None);
    }
    slots.clone().try_acquire_owned().map(Some).map_err(|_| Error::Overloaded)
}

/// Keeps `slot` taken until the body of `response` has been sent, when that
/// body is a stream (an SSE answer): an open stream is a request in flight,
/// and `MAX_CONCURRENT` must bound streams too. A body of known length is
/// answered at once, and its slot freed with the response head.
pub fn hold_while_streaming(response: Response, slot: Option<OwnedSemaphorePermit>) -> Response {
    let Some(slot) = slot else { return response };
    if response.body().size_hint().exact().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The closure owns the permit: it is released when the stream ends or
    // the client goes away (either way the stream is dropped).
    let body = body.into_data_stream().map(move |chunk| {
        let _slot = &slot;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// `TIMEOUT`: the response head must be ready within it (504 otherwise).
/// The deadline is also handed to the gRPC calls as `grpc-timeout` (the
/// [`Deadline`] extension). A stream's body is not cut: it ends with its
/// source or its client.
pub async fn timeout<F, Fut>(limit: Duration, mut request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let deadline = Instant::now() + limit;
    request.extensions_mut().insert(Deadline(deadline));
    match tokio::time::timeout_at(deadline, inner(request)).await {
        Ok(response) => response,
        Err(_) => Error::Timeout.into_response(),
    }
}
