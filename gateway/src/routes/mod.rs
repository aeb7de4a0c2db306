//! The routes, one file per domain. Handlers validate, convert and call a
//! service; they never do the service's work.
//!
//! - [`chat`] — `POST /v1/chat`, `POST /v1/chat/stream` (SSE).
//! - [`openai`] — `POST /v1/chat/completions`, `GET /v1/models`.
//! - [`conversations`] — `GET`/`DELETE /v1/conversations/{id}`.
//! - [`search`] — `POST /v1/search`.
//! - [`sheets`] — `GET /v1/sheets`, `GET /v1/sheets/{sheet}/rows`, `POST /v1/sync`.
//! - [`webhook`] — `POST /v1/webhooks/sheets`.
//! - [`health`] — `/healthz`, `/readyz`, `/health`.
//! - [`metrics`] — `/metrics`.
//! - [`openapi`] — `/openapi.json`.
//! - [`page`] — `/` and its assets.

pub mod chat;
pub mod conversations;
pub mod health;
pub mod metrics;
pub mod openai;
pub mod openapi;
pub mod page;
pub mod search;
pub mod sheets;
pub mod webhook;

use axum::{
    Router,
    routing::{get, post},
};
use http::{Method, Uri};

use crate::{error::Error, state::AppState};

/// The routes that need an API key.
pub fn authenticated() -> Router<AppState> {
    Router::new()
        .route("/v1/chat", post(chat::chat))
        .route("/v1/chat/stream", post(chat::stream))
        .route("/v1/chat/completions", post(openai::completions))
        .route("/v1/models", get(openai::models))
        .route("/v1/conversations/{id}", get(conversations::get).delete(conversations::delete))
        .route("/v1/search", post(search::search))
        .route("/v1/sheets", get(sheets::list))
        .route("/v1/sheets/{sheet}/rows", get(sheets::rows))
        .route("/v1/sync", post(sheets::sync))
}

/// The routes open to anyone (the webhook checks its own secret).
pub fn open() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/sheets", post(webhook::receive))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/health", get(health::report))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .route("/", get(page::index))
        .route("/assets/app.js", get(page::script))
        .route("/assets/app.css", get(page::style))
}

/// Any other path: a JSON 404.
pub async fn not_found(method: Method, uri: Uri) -> Error {
    Error::NotFound(format!("no route for {method} {}", uri.path()))
}
