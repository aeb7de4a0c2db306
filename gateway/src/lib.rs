//! The sheetmesh gateway: the one HTTP face of the system. It authenticates,
//! limits, maps JSON ⇄ proto, calls the gRPC services (agent, sheets-sync,
//! cache) and maps their status codes to HTTP — it never re-implements them.
//!
//! # Layout
//! - [`config`] — [`GatewayConfig`] from the environment, per [`Mode`].
//! - [`api_key`] — the key `sheetmesh up` generates and keeps in `DATA_DIR`.
//! - [`server`] — [`serve`], [`bind`] (socket options) and the one
//!   [`server::router`] that stacks every layer.
//! - [`edge`] — the protections in front of the routes, one file each:
//!   `request_id`, `hosts`, `headers`, `cors`, `limits` (body size,
//!   concurrency, timeout), `auth`, `rate_limit`, `metrics`.
//! - [`routes`] — one file per domain: `chat`, `openai`, `conversations`,
//!   `search`, `sheets`, `webhook`, `health`, `metrics`, `openapi`, `page`.
//! - [`clients`] — the tonic clients and the per-call deadline and metadata.
//! - [`json`] — proto3 JSON in (field-naming 400s) and out (unpopulated
//!   fields emitted, as grpc-gateway does), driven by the descriptors.
//! - [`sse`] — `ChatStream` events as Server-Sent Events.
//! - [`error`] — [`Error`] and its one exhaustive mapping to HTTP.
//! - [`state`] — what every handler shares.

pub mod api_key;
pub mod clients;
pub mod config;
pub mod edge;
pub mod error;
pub mod json;
pub mod routes;
pub mod server;
pub mod sse;
pub mod state;

pub use config::{ApiKeySource, GatewayConfig, Mode};
pub use error::Error;
pub use server::{bind, serve, serve_with_state};
