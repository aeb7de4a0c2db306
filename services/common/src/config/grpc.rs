//! gRPC server and client settings shared by every component.

use std::time::Duration;

use super::{ConfigError, Env};

/// How a gRPC server treats requests and connections.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `TIMEOUT` (default 30 s): the longest a unary request may run. A
    /// shorter `grpc-timeout` from the client wins. Streams are not cut.
    pub request_timeout: Duration,
    /// `MAX_CONCURRENT` (default 100): requests handled at once per server;
    /// more wait for a slot (bounded by their deadline).
    pub max_concurrent: usize,
    /// `KEEP_ALIVE` (default 30 s): HTTP/2 and TCP keepalive interval, so dead
    /// peers are noticed and idle connections survive middleboxes.
    pub keep_alive: Duration,
    /// How long shutdown waits for in-flight calls and open streams before it
    /// closes them (default 10 s).
    pub drain_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(30), max_concurrent: 100, keep_alive: Duration::from_secs(30), drain_timeout: Duration::from_secs(10) }
    }
}

impl ServerOptions {
    /// Reads `TIMEOUT`, `MAX_CONCURRENT` and `KEEP_ALIVE`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            request_timeout: env.duration_or("TIMEOUT", defaults.request_timeout, Duration::from_millis(100), Duration::from_secs(3600))?,
            max_concurrent: env.number_or("MAX_CONCURRENT", defaults.max_concurrent, 1, 100_000)?,
            keep_alive: env.duration_or("KEEP_ALIVE", defaults.keep_alive, Duration::from_secs(1), Duration::from_secs(3600))?,
            drain_timeout: defaults.drain_timeout,
        })
    }
}

/// How a gRPC client dials and calls another component.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Give up connecting after this long (default 2 s).
    pub connect_timeout: Duration,
    /// Per-request timeout unless the call sets a shorter deadline
    /// (`TIMEOUT`, default 30 s).
    pub request_timeout: Duration,
    /// HTTP/2 keepalive ping interval (`KEEP_ALIVE`, default 30 s).
    pub keep_alive: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(2), request_timeout: Duration::from_secs(30), keep_alive: Duration::from_secs(30) }
    }
}

impl ClientOptions {
    /// Reads `TIMEOUT` and `KEEP_ALIVE`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let server = ServerOptions::from_env(env)?;
        Ok(Self { request_timeout: server.request_timeout, keep_alive: server.keep_alive, ..Self::default() })
    }
}
