//! The protections in front of the routes, one concern per file. They are
//! stacked, in order, by [`crate::server::router`], which says why each sits
//! where it sits.
//!
//! - [`request_id`] — `x-request-id` accepted or generated, echoed, in the
//!   request's span (and so in every log line and trace) and in gRPC metadata.
//! - [`hosts`] — `ALLOWED_HOSTS`.
//! - [`headers`] — security headers and the page's CSP.
//! - [`cors`] — `CORS_ORIGINS`.
//! - [`limits`] — body size, `MAX_CONCURRENT` load shedding, `TIMEOUT`.
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
