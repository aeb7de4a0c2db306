//! Security headers on every response. The CSP allows only this origin's
//! own scripts, styles and fetches — exactly what the chat page uses — and
//! forbids framing.

use std::time::Duration;

use axum::response::Response;
use http::{HeaderName, HeaderValue, header};

/// The Content-Security-Policy the page is written to satisfy (no inline
/// script or style, no third-party origin).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The headers added to every response; HSTS only when `hsts_max_age` is set.
pub fn security_headers(hsts_max_age: Option<Duration>) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
        (HeaderName::from_static("permissions-policy"), HeaderValue::from_static("camera=(), microphone=(), geolocation=()")),
    ];
    if let Some(max_age) = hsts_max_age {
        let value = format!("max-age={}; includeSubDomains", max_age.as_secs());
        headers.push((header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("max-age=0"))));
    }
    headers
}

/// Adds `headers` to `response` (a handler's own value wins) and removes
/// any `Server` header so the software is not advertised.
pub fn apply(headers: &[(HeaderName, HeaderValue)], response: &mut Response) {
    let map = response.headers_mut();
    for (name, value) in headers {
        if !map.contains_key(name) {
            map.insert(name.clone(), value.clone());
        }
    }
    map.remove(header::SERVER);
}
