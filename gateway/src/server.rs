//! The listening socket ([`bind`]), the one router with every layer
//! ([`router`]), and [`serve`] with a bounded graceful shutdown.

use std::{
    future::{Future, IntoFuture as _},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::DefaultBodyLimit, middleware::from_fn_with_state, serve::ListenerExt as _};
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;

use crate::{
    clients::Clients,
    config::GatewayConfig,
    edge::{
        cors,
        stack::{self, Edge},
    },
    error::Error,
    routes,
    state::AppState,
};

/// A listening socket on `addr` with an accept queue of `backlog` and TCP
/// keepalive (`keep_alive` idle time and probe interval), which accepted
/// connections inherit. Must run inside a Tokio runtime.
pub fn bind(addr: SocketAddr, backlog: u32, keep_alive: Duration) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restarted gateway can rebind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(keep_alive).with_interval(keep_alive))?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// The whole application: routes and every edge layer.
///
/// Outermost first, and why:
/// 1. request id — every response, even a refusal, carries one, and every
///    log line below runs in its span;
/// 2. security headers — on every response, refusals included;
/// 3. metrics — counts refusals too, by the route they were aimed at;
/// 4. trusted hosts — a forged `Host` learns nothing else;
/// 5. CORS — answers preflights before any limit or key check (a preflight
///    carries no key) and decorates every response for allowed origins;
/// 6. compression;
/// 7. body limit — refuses a declared oversize body before it is read;
/// 8. load shedding — after the cheap refusals, so they cannot take slots;
/// 9. timeout — bounds what is left, and sets the gRPC deadline;
/// 10. on `/v1/*` but the webhook: API key, then the key's rate limit.
///
/// 1–4 are [`stack::outer`], 7–9 [`stack::inner`] and 10
/// [`stack::authenticated`]: one middleware per group, not per concern (see
/// [`stack`] for why).
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let edge = Arc::new(Edge::new(&config, state.metrics.clone()));
    let authenticated = routes::authenticated().route_layer(from_fn_with_state(edge.clone(), stack::authenticated));
    let layers = ServiceBuilder::new()
        .layer(from_fn_with_state(edge.clone(), stack::outer))
        .layer(cors::layer(&config.cors_origins))
        .layer(CompressionLayer::new())
        .layer(from_fn_with_state(edge, stack::inner))
        .layer(DefaultBodyLimit::max(config.body_limit));
    authenticated.merge(routes::open()).fallback(routes::not_found).layer(layers).with_state(state)
}

/// The handlers' state for `config`. Must run inside a Tokio runtime.
pub fn state(config: GatewayConfig) -> Result<AppState, Error> {
    Ok(AppState {
        clients: Arc::new(Clients::new(&config)?),
        config: Arc::new(config),
        metrics: Arc::default(),
        health: Arc::default(),
        started: Instant::now(),
        draining: Arc::new(AtomicBool::new(false)),
        sse_keep_alive: Duration::from_secs(15),
    })
}

/// Serves the gateway on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests and streams finish for at most
/// `drain_timeout`, and returns.
pub async fn serve(config: GatewayConfig, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), Error> {
    serve_with_state(state(config)?, listener, shutdown).await
}

/// [`serve`] with a prepared state (tests shorten the SSE keep-alive).
pub async fn serve_with_state(state: AppState, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), Error> {
    let drain_timeout = state.config.drain_timeout;
    let draining = state.draining.clone();
    let app = router(state);
    let listener = listener.tap_io(|stream| {
        // Small SSE frames must leave at once.
        let _ = stream.set_nodelay(true);
    });
    let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .into_future();
    tokio::pin!(server);
    tokio::pin!(shutdown);
    tokio::select! {
        result = &mut server => return result.map_err(|error| Error::Internal(format!("the gateway stopped: {error}"))),
        () = &mut shutdown => {}
    }
    draining.store(true, Ordering::Relaxed);
    let _ = stop_accepting.send(());
    match tokio::time::timeout(drain_timeout, &mut server).await {
        Ok(result) => result.map_err(|error| Error::Internal(format!("the gateway stopped: {error}"))),
        Err(_) => {
            tracing::warn!(?drain_timeout, "requests and streams still open at the drain deadline were closed");
            Ok(())
        }
    }
}
