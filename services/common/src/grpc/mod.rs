//! gRPC bootstrap shared by every service.
//!
//! - [`server`] — [`GrpcServer`]: health, reflection, layers, keepalive and
//!   graceful shutdown, the same for every service.
//! - [`health`] — [`Health`], the handle a service uses to report readiness.
//! - [`client`] — [`channel`], how a component dials another.
//! - [`deadline`] — the caller's `grpc-timeout`.
//! - [`probe`] — the `grpc_health_probe` check behind `sheetmesh health-probe`.

pub mod client;
pub mod deadline;
pub mod health;
pub mod probe;
pub mod server;

pub use client::{GrpcChannel, channel};
pub use health::Health;
pub use server::{GrpcServer, ServeError};
