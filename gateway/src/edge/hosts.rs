//! `ALLOWED_HOSTS`: requests whose `Host` (or HTTP/2 `:authority`) is not
//! listed get 400, which defeats DNS rebinding against a gateway bound to a
//! private address.

use axum::extract::Request;

use crate::error::Error;

/// Refuses `request` unless its host is allowed; `hosts` is `None` when any
/// host is accepted.
pub fn check(hosts: Option<&[String]>, request: &Request) -> Result<(), Error> {
    let Some(hosts) = hosts else { return Ok(()) };
    let host = request.headers().get(http::header::HOST).and_then(|value| value.to_str().ok()).or_else(|| request.uri().host()).unwrap_or_default();
    if allowed(hosts, host) { Ok(()) } else { Err(Error::HostNotAllowed) }
}

/// Whether `host` (port ignored, case-insensitive) is one of `hosts`.
pub fn allowed(hosts: &[String], host: &str) -> bool {
    let host = strip_port(host).to_ascii_lowercase();
    hosts.iter().any(|pattern| match pattern.strip_prefix("*.") {
        Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => strip_port(pattern) == host,
    })
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:8080
        return host.split_once(']').map_or(host, |(address, _)| &host[..=address.len()]);
    }
    host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|byte| byte.is_ascii_digit())).map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wildcards_and_ports() {
        let hosts = vec!["api.example.com".to_owned(), "*.example.org".to_owned(), "[::1]".to_owned()];
        assert!(allowed(&hosts, "api.example.com"));
        assert!(allowed(&hosts, "API.example.com:8080"));
        assert!(allowed(&hosts, "a.b.example.org"));
        assert!(allowed(&hosts, "[::1]:8080"));
        assert!(!allowed(&hosts, "example.org"));
        assert!(!allowed(&hosts, "evil-example.org"));
        assert!(!allowed(&hosts, "api.example.com.evil.net"));
        assert!(!allowed(&hosts, ""));
    }
}
