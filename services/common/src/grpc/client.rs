//! Client channels to other components.

use tonic::transport::{Channel, Endpoint};
use tower::Layer as _;

use crate::{
    config::{ClientOptions, ConfigError},
    telemetry::propagation::{InjectTraceContext, InjectTraceContextLayer},
};

/// The channel type every generated client in sheetmesh is built on: a
/// tonic channel that carries the caller's trace context.
pub type GrpcChannel = InjectTraceContext<Channel>;

/// A channel to the component at `urls` (the value of `var`, e.g.
/// `CACHE_URL`): one address, or several comma-separated ones across which
/// requests are load-balanced.
///
/// The channel connects lazily (start order does not matter; a component
/// that is down fails the calls made to it, not the caller's start-up) and
/// applies the connect and request timeouts and HTTP/2 keepalive from
/// `options`.
pub fn channel(var: &str, urls: &str, options: &ClientOptions) -> Result<GrpcChannel, ConfigError> {
    let endpoints = urls.split(',').map(str::trim).filter(|url| !url.is_empty()).map(|url| endpoint(var, url, options)).collect::<Result<Vec<_>, _>>()?;
    let channel = match endpoints.as_slice() {
        [] => return Err(ConfigError::new(var, Some(urls), "one or more comma-separated URLs such as http://127.0.0.1:50053")),
        [single] => single.connect_lazy(),
        _ => Channel::balance_list(endpoints.into_iter()),
    };
    Ok(InjectTraceContextLayer.layer(channel))
}

fn endpoint(var: &str, url: &str, options: &ClientOptions) -> Result<Endpoint, ConfigError> {
    let url = if url.contains("://") { url.to_owned() } else { format!("http://{url}") };
    if !url.starts_with("http://") {
        // Mesh traffic is plaintext HTTP/2 on a private network; TLS belongs
        // at the edge proxy.
        return Err(ConfigError::new(var, Some(&url), "http:// URLs (TLS is terminated at the edge)"));
    }
    let endpoint = Endpoint::from_shared(url.clone()).map_err(|_| ConfigError::new(var, Some(&url), "URLs such as http://127.0.0.1:50053"))?;
    if endpoint.uri().port_u16().is_none() {
        return Err(ConfigError::new(var, Some(&url), "URLs with a port, such as http://127.0.0.1:50053"));
    }
    Ok(endpoint
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .http2_keep_alive_interval(options.keep_alive)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_without_a_port_or_with_tls_are_refused_clearly() {
        let options = ClientOptions::default();
        let error = channel("CACHE_URL", "http://cache", &options).unwrap_err();
        assert_eq!(error.var, "CACHE_URL");
        assert!(channel("CACHE_URL", "https://cache:1", &options).is_err());
        assert!(channel("CACHE_URL", " , ", &options).is_err());
    }

    #[tokio::test]
    async fn one_or_several_addresses_build_a_lazy_channel() {
        let options = ClientOptions::default();
        assert!(channel("CACHE_URL", "127.0.0.1:1", &options).is_ok());
        assert!(channel("AGENT_URL", "http://127.0.0.1:1,http://127.0.0.1:2", &options).is_ok());
    }
}
