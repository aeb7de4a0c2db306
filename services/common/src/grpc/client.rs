//! Client channels to other components.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tonic::transport::{Channel, Endpoint, channel::Change};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tower::Layer as _;

use crate::{
    config::{ClientOptions, ConfigError},
    telemetry::propagation::{InjectTraceContext, InjectTraceContextLayer},
};

/// The channel type every generated client in sheetmesh is built on: a
/// tonic channel that carries the caller's trace context.
pub type GrpcChannel = InjectTraceContext<Channel>;

/// How often a load-balanced address whose health cannot be watched is tried again.
const BALANCE_HEALTH_INTERVAL: Duration = Duration::from_millis(500);

/// A channel to the component at `urls` (the value of `var`, e.g.
/// `CACHE_URL`): one address, or several comma-separated ones across which
/// requests are load-balanced.
///
/// The channel connects lazily (start order does not matter; a component
/// that is down fails the calls made to it, not the caller's start-up) and
/// applies the connect and request timeouts and HTTP/2 keepalive from
/// `options`. With several addresses, each is health-checked in the
/// background and taken out of rotation while it does not answer SERVING:
/// tonic's balancer alone keeps sending to a dead lazy endpoint, because it
/// looks ready until a call fails. Must run inside a Tokio runtime.
pub fn channel(var: &str, urls: &str, options: &ClientOptions) -> Result<GrpcChannel, ConfigError> {
    let endpoints = urls.split(',').map(str::trim).filter(|url| !url.is_empty()).map(|url| endpoint(var, url, options)).collect::<Result<Vec<_>, _>>()?;
    let channel = match endpoints.as_slice() {
        [] => return Err(ConfigError::new(var, Some(urls), "one or more comma-separated URLs such as http://127.0.0.1:50053")),
        [single] => single.connect_lazy(),
        _ => balanced(endpoints),
    };
    Ok(InjectTraceContextLayer.layer(channel))
}

/// A balanced channel whose membership follows each endpoint's health.
fn balanced(endpoints: Vec<Endpoint>) -> Channel {
    let (channel, changes) = Channel::balance_channel::<usize>(endpoints.len() * 4);
    // Everyone starts in rotation, so calls made before the first check work.
    for (key, endpoint) in endpoints.iter().enumerate() {
        let _ = changes.try_send(Change::Insert(key, endpoint.clone()));
    }
    let rotation = Rotation { changes, in_rotation: Arc::new(Mutex::new(vec![true; endpoints.len()])) };
    for (key, endpoint) in endpoints.into_iter().enumerate() {
        let rotation = rotation.clone();
        tokio::spawn(async move {
            let closed = rotation.changes.clone();
            tokio::select! {
                () = follow_health(key, endpoint, rotation) => {}
                // The channel was dropped: stop watching.
                () = closed.closed() => {}
            }
        });
    }
    channel
}

/// Which endpoints of a balanced channel take calls.
#[derive(Clone)]
struct Rotation {
    changes: tokio::sync::mpsc::Sender<Change<usize, Endpoint>>,
    in_rotation: Arc<Mutex<Vec<bool>>>,
}

impl Rotation {
    async fn update(&self, key: usize, endpoint: &Endpoint, serving: bool) {
        let change = {
            let mut rotation = self.in_rotation.lock().unwrap_or_else(PoisonError::into_inner);
            let others_in_rotation = rotation.iter().enumerate().any(|(other, in_rotation)| other != key && *in_rotation);
            match (rotation[key], serving) {
                // Keep the last endpoint even when it is down: an empty
                // balancer would make calls wait for their deadline instead
                // of failing fast.
                (true, false) if others_in_rotation => {
                    rotation[key] = false;
                    Change::Remove(key)
                }
                (false, true) => {
                    rotation[key] = true;
                    Change::Insert(key, endpoint.clone())
                }
                _ => return,
            }
        };
        tracing::info!(endpoint = %endpoint.uri(), "load-balanced endpoint {}", if serving { "back in rotation" } else { "taken out of rotation" });
        let _ = self.changes.send(change).await;
    }
}

/// Follows one endpoint's `Health/Watch` stream. A killed process ends the
/// stream at once (its socket closes), so the endpoint leaves rotation
/// before more than a few calls can fail; a watch that cannot be opened is
/// retried every [`BALANCE_HEALTH_INTERVAL`].
async fn follow_health(key: usize, endpoint: Endpoint, rotation: Rotation) {
    let mut health = HealthClient::new(endpoint.connect_lazy());
    loop {
        let request = HealthCheckRequest { service: String::new() };
        if let Ok(Ok(response)) = tokio::time::timeout(BALANCE_HEALTH_INTERVAL * 2, health.watch(request)).await {
            let mut statuses = response.into_inner();
            while let Ok(Some(status)) = statuses.message().await {
                rotation.update(key, &endpoint, status.status == ServingStatus::Serving as i32).await;
            }
        }
        rotation.update(key, &endpoint, false).await;
        tokio::time::sleep(BALANCE_HEALTH_INTERVAL).await;
    }
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
