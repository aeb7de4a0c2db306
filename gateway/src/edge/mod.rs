//! The protections in front of the routes, one concern per file, composed
//! by [`stack`] into the middlewares [`crate::server::router`] stacks (it
//! says why each sits where it sits).
//!
//! - [`stack`] — the composition, and the [`stack::Edge`] it checks against.
//! - [`request_id`] — `x-request-id` accepted or generated, echoed, in the
//!   request's span (and so in every log line and trace) and in gRPC metadata.
//! - [`hosts`] — `ALLOWED_HOSTS`.
//! - [`headers`] — security headers and the page's CSP.
//! - [`cors`] — `CORS_ORIGINS`.
//! - [`limits`] — body size, `MAX_CONCURRENT` load shedding (open streams
//!   included), `TIMEOUT`.
//! - [`auth`] — API keys.
//! - [`rate_limit`] — per-key request budget.
//! - [`metrics`] — request counters, latency, in-flight, and the registry.

pub mod auth;
pub mod cors;
pub mod headers;
pub mod hosts;
pub mod limits;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
pub mod stack;
