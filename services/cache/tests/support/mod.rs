//! `spawn_cache`: a real cache service on a free port, with typed clients.

use std::{net::SocketAddr, time::Duration};

use sheetmesh_cache::CacheConfig;
use sheetmesh_common::{config::RedisConfig, testing::loopback_listener};
use sheetmesh_proto::v1::cache_service_client::CacheServiceClient;
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// A running cache service.
pub struct TestCache {
    pub addr: SocketAddr,
    pub client: CacheServiceClient<Channel>,
    pub health: HealthClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), sheetmesh_common::grpc::ServeError>>,
}

impl TestCache {
    /// Triggers graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits, through the Health/Watch stream, until the server reports `status`.
    pub async fn wait_for_health(&self, status: ServingStatus, within: Duration) {
        let mut health = self.health.clone();
        let mut stream = health.watch(HealthCheckRequest { service: String::new() }).await.expect("health watch").into_inner();
        let reached = tokio::time::timeout(within, async {
            while let Some(message) = stream.message().await.expect("health stream") {
                if message.status == status as i32 {
                    return;
                }
            }
            panic!("health stream ended before {status:?}");
        })
        .await;
        assert!(reached.is_ok(), "health did not become {status:?} within {within:?}");
    }
}

/// Test configuration: short timeouts so outages are detected quickly.
pub fn config(redis_url: Option<String>) -> CacheConfig {
    let mut config = CacheConfig { namespace: "test:grpc".to_owned(), health_interval: Duration::from_millis(100), ..CacheConfig::default() };
    config.server.drain_timeout = Duration::from_secs(2);
    config.redis = redis_url.map(|url| {
        let mut redis = RedisConfig::from_url(url).unwrap();
        redis.response_timeout = Duration::from_millis(300);
        redis.connect_timeout = Duration::from_millis(300);
        redis
    });
    config
}

/// Starts the service through the same `serve` that `main` uses.
pub async fn spawn_cache(config: CacheConfig) -> TestCache {
    let listener = loopback_listener().await;
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sheetmesh_cache::serve(config, listener, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
    TestCache { addr, client: CacheServiceClient::new(channel.clone()), health: HealthClient::new(channel), stop: Some(stop), task }
}
