//! `start_mesh`: the real cache, sheets-sync and agent services on free
//! loopback ports, wired as `sheetmesh up` wires them, each stoppable on its
//! own so tests can restart a component.

use std::{net::SocketAddr, path::Path, time::Duration};

use sheetmesh_agent::AgentServiceConfig;
use sheetmesh_cache::CacheConfig;
use sheetmesh_common::{config::Env, testing::loopback_listener};
use sheetmesh_proto::v1::{agent_service_client::AgentServiceClient, sheets_service_client::SheetsServiceClient};
use sheetmesh_sheets_sync::SheetsSyncConfig;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// One running component.
pub struct Component {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Component {
    fn spawn<F>(serve: impl FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> F) -> Self
    where
        F: std::future::Future<Output = Result<(), sheetmesh_common::grpc::ServeError>> + Send + 'static,
    {
        let stop = watch::Sender::new(false);
        let mut stopped = stop.subscribe();
        let future = serve(Box::pin(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        let task = tokio::spawn(async move { future.await.expect("component failed") });
        Self { stop, task }
    }

    /// Graceful stop, waited for.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        self.task.await.expect("component task panicked");
    }
}

/// Addresses and variables of a mesh.
pub struct Mesh {
    /// Held so the component lives as long as the mesh.
    _cache: Component,
    /// Held so the component lives as long as the mesh.
    _sheets: Component,
    pub agent: Option<Component>,
    pub agent_addr: SocketAddr,
    pub sheets_addr: SocketAddr,
    pub env: Env,
}

/// Variables every test mesh shares: tests drive syncs themselves.
pub fn base_env(sheets_dir: &Path, data_dir: &Path) -> Env {
    Env::from_pairs([("SYNC_INTERVAL", "3600"), ("SYNC_DEBOUNCE", "100ms"), ("TIMEOUT", "10s")])
        .with("SHEETS_DIR", sheets_dir.to_string_lossy())
        .with("DATA_DIR", data_dir.to_string_lossy())
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = loopback_listener().await;
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

impl Mesh {
    /// Starts cache, sheets-sync and agent with `env` (plus the URLs).
    pub async fn start(env: Env) -> Self {
        let (cache_listener, cache_addr) = listen().await;
        let (sheets_listener, sheets_addr) = listen().await;
        let (agent_listener, agent_addr) = listen().await;
        let env = env
            .with("CACHE_URL", format!("http://{cache_addr}"))
            .with("SHEETS_SYNC_URL", format!("http://{sheets_addr}"))
            .with("AGENT_URL", format!("http://{agent_addr}"));
        let cache_config = CacheConfig::from_env(&env).unwrap();
        let sheets_config = SheetsSyncConfig::from_env(&env).unwrap();
        let mut mesh = Self {
            _cache: Component::spawn(|stop| sheetmesh_cache::serve(cache_config, cache_listener, stop)),
            _sheets: Component::spawn(|stop| sheetmesh_sheets_sync::serve(sheets_config, sheets_listener, stop)),
            agent: None,
            agent_addr,
            sheets_addr,
            env,
        };
        mesh.start_agent_on(agent_listener);
        mesh
    }

    fn start_agent_on(&mut self, listener: TcpListener) {
        let config = AgentServiceConfig::from_env(&self.env).unwrap();
        self.agent = Some(Component::spawn(|stop| sheetmesh_agent::serve(config, listener, stop)));
    }

    /// Stops the agent and starts a new one on the same address.
    pub async fn restart_agent(&mut self) {
        self.agent.take().expect("agent running").stop().await;
        let listener = TcpListener::bind(self.agent_addr).await.unwrap();
        self.start_agent_on(listener);
    }

    /// A client of the agent.
    pub fn agent(&self) -> AgentServiceClient<Channel> {
        AgentServiceClient::new(channel(self.agent_addr)).max_decoding_message_size(64 << 20)
    }

    /// A client of sheets-sync.
    pub fn sheets(&self) -> SheetsServiceClient<Channel> {
        SheetsServiceClient::new(channel(self.sheets_addr)).max_decoding_message_size(64 << 20)
    }

    /// Waits (on the Health/Watch stream) until the agent is SERVING.
    pub async fn agent_ready(&self) {
        wait_serving(self.agent_addr, Duration::from_secs(20)).await;
    }
}

fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).unwrap().connect_lazy()
}

/// Waits through Health/Watch (reconnecting while the server is not up yet).
pub async fn wait_serving(addr: SocketAddr, within: Duration) {
    let reached = tokio::time::timeout(within, async {
        loop {
            let mut health = HealthClient::new(channel(addr));
            if let Ok(response) = health.watch(HealthCheckRequest { service: String::new() }).await {
                let mut stream = response.into_inner();
                while let Ok(Some(message)) = stream.message().await {
                    if message.status == ServingStatus::Serving as i32 {
                        return;
                    }
                }
            }
            // Not listening yet: the connection attempt itself is the wait.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "{addr} did not become SERVING within {within:?}");
}
