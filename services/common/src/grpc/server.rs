//! The one way a sheetmesh gRPC service is served.

use std::{convert::Infallible, future::Future, time::Duration};

use http::{Request, Response};
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};

use super::Health;
use crate::{config::ServerOptions, telemetry::GrpcTraceLayer};

/// Why a server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not load the descriptors (a build defect).
    #[error("gRPC reflection could not be built: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A dependency could not be set up (the message says which; no secrets).
    #[error("{0}")]
    Setup(String),
    /// The transport failed (listener closed, I/O error).
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

impl ServeError {
    /// Maps a start-up failure of `what` (a dependency, a client, a store)
    /// to [`ServeError::Setup`], for `map_err` in a service's `serve`.
    pub fn setup<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> ServeError {
        move |error| ServeError::Setup(format!("{what}: {error}"))
    }
}

/// A gRPC server with everything every sheetmesh service needs:
///
/// - `grpc.health.v1.Health`, with the service's own status and the overall
///   `""` status (both NOT_SERVING until the service calls
///   [`Health::set_serving`]);
/// - reflection, both `grpc.reflection.v1` and `v1alpha` (older grpcurl and
///   many tools still ask for v1alpha);
/// - layers, outermost first: tracing (so a request that waits for a slot is
///   still traced), a global concurrency limit, and a per-request timeout
///   (tonic's, which honours a shorter client `grpc-timeout`);
/// - HTTP/2 and TCP keepalive;
/// - graceful shutdown: health flips to NOT_SERVING first, then the server
///   stops accepting and drains in-flight calls for at most
///   `drain_timeout` — tonic alone would wait forever on open streams.
#[derive(Debug)]
pub struct GrpcServer {
    options: ServerOptions,
    reporter: HealthReporter,
    health: Health,
}

impl GrpcServer {
    /// A server for the service named `service` (e.g.
    /// `sheetmesh.v1.CacheService`), NOT_SERVING until the service calls
    /// [`Health::set_serving`] (dependencies checked, data loaded).
    pub async fn new(options: ServerOptions, service: &'static str) -> Self {
        let reporter = HealthReporter::new();
        let health = Health::new(reporter.clone(), service);
        health.set_not_serving().await;
        Self { options, reporter, health }
    }

    /// The handle to report readiness with; clone it into background tasks.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Serves `service` on `listener` until `shutdown` resolves, then drains.
    pub async fn serve<S>(self, service: S, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError>
    where
        S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible> + NamedService + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
    {
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(sheetmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let reflection_v1 = reflection.build_v1()?;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(sheetmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let reflection_v1alpha = reflection.build_v1alpha()?;

        let options = &self.options;
        let layers = ServiceBuilder::new().layer(GrpcTraceLayer).layer(GlobalConcurrencyLimitLayer::new(options.max_concurrent)).into_inner();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true)).with_keepalive(Some(options.keep_alive));

        let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = Server::builder()
            .timeout(options.request_timeout)
            .http2_keepalive_interval(Some(options.keep_alive))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .layer(layers)
            .add_service(HealthServer::new(HealthService::from_health_reporter(self.reporter.clone())))
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(service);
        let server = router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        });
        tokio::pin!(server);

        tokio::select! {
            result = &mut server => return result.map_err(ServeError::from),
            () = shutdown => {}
        }

        // Tell load balancers and probes first, then stop taking calls.
        self.health.set_not_serving().await;
        let _ = stop_accepting.send(());
        match tokio::time::timeout(options.drain_timeout, &mut server).await {
            Ok(result) => result.map_err(ServeError::from),
            Err(_) => {
                tracing::warn!(service = self.health.service(), drain_timeout = ?options.drain_timeout, "calls still open at the drain deadline were closed");
                Ok(())
            }
        }
    }
}
