//! The runtime every sheetmesh component shares, built once so that the
//! services stay thin.
//!
//! Layout:
//! - [`config`] — typed, validated configuration from environment variables
//!   ([`config::Env`]), with one-line errors naming the variable
//!   ([`config::ConfigError`]); Redis and gRPC server/client settings.
//! - [`secret`] — [`Secret`], a string that cannot be printed.
//! - [`telemetry`] — `tracing` set-up (`LOG_LEVEL`, `LOG_FORMAT`), OTLP export
//!   and W3C trace-context propagation layers for gRPC servers and clients.
//! - [`grpc`] — the gRPC server bootstrap used by every service (health,
//!   reflection v1 + v1alpha, timeout/concurrency/tracing layers, keepalive,
//!   graceful shutdown with a drain deadline) and the client channel builder.
//! - [`redis`] — a self-reconnecting Redis connection with timeouts.
//! - [`shutdown`] — SIGTERM/SIGINT as a future.
//! - `testing` (feature `test-util`) — a real `redis-server` for tests.

pub mod config;
pub mod grpc;
pub mod redis;
pub mod secret;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;

pub use secret::Secret;

/// Installs the process-wide rustls crypto provider (ring). Needed before any
/// TLS connection (`rediss://`); idempotent.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
