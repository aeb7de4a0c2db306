//! `GET /`: the web chat page, embedded in the binary (no build step, no
//! CDN). Script and style are separate files so the CSP can forbid inline
//! code.

use axum::{
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Response},
};

const INDEX: &str = include_str!("../../static/index.html");
const SCRIPT: &str = include_str!("../../static/app.js");
const STYLE: &str = include_str!("../../static/app.css");

/// The page.
pub async fn index() -> Response {
    with_cache(Html(INDEX).into_response(), "no-cache")
}

/// Its script.
pub async fn script() -> Response {
    with_cache(([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response(), "no-cache")
}

/// Its style.
pub async fn style() -> Response {
    with_cache(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response(), "no-cache")
}

fn with_cache(mut response: Response, policy: &'static str) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}
