//! `spawn_*` helpers: a real gateway on a free port, in front of the real
//! services (cache on a real Redis, sheets-sync on local files, agent with
//! the OpenAI stand-in) or in front of nothing at all.

#![allow(dead_code)]

pub mod schema;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use sheetmesh_agent::{AgentServiceConfig, testing::OpenAiStandIn};
use sheetmesh_cache::CacheConfig;
use sheetmesh_common::{
    Secret,
    config::Env,
    testing::{RedisServer, free_port, loopback_listener},
};
use sheetmesh_gateway::{GatewayConfig, server, state::AppState};
use sheetmesh_sheets_sync::SheetsSyncConfig;
use tokio::{sync::oneshot, task::JoinHandle};

/// The keys every test gateway accepts.
pub const KEY: &str = "test-key-alpha";
/// A second key.
pub const OTHER_KEY: &str = "test-key-beta";
/// The webhook secret of [`with_webhook`].
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// A running gateway.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), sheetmesh_gateway::Error>>,
}

impl TestGateway {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET with the API key.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).header("x-api-key", KEY)
    }

    /// A POST of `body` as JSON with the API key.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).header("x-api-key", KEY).json(body)
    }

    /// Starts graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A config whose services all point at closed ports (down), two keys.
pub fn config_without_services() -> GatewayConfig {
    let closed = |_: ()| format!("http://127.0.0.1:{}", free_port());
    let mut config = GatewayConfig::new(vec![Secret::new(KEY), Secret::new(OTHER_KEY)]);
    config.agent_url = closed(());
    config.sheets_url = closed(());
    config.cache_url = closed(());
    config.health_deadline = Duration::from_millis(500);
    config.drain_timeout = Duration::from_secs(5);
    config
}

/// `config` with the webhook on.
pub fn with_webhook(mut config: GatewayConfig) -> GatewayConfig {
    config.webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config
}

/// Starts the gateway through the same `serve` path `main` uses.
pub async fn spawn_gateway(config: GatewayConfig) -> TestGateway {
    let state = server::state(config).expect("gateway state");
    spawn_with_state(state).await
}

/// Starts the gateway with a prepared state.
pub async fn spawn_with_state(state: AppState) -> TestGateway {
    let listener = server::bind("127.0.0.1:0".parse().unwrap(), 128, Duration::from_secs(30)).expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_with_state(state, listener, async {
        let _ = stopped.await;
    }));
    // reqwest is built without a bundled TLS provider (see sheetmesh-common).
    sheetmesh_common::install_crypto_provider();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    TestGateway { addr, base: format!("http://{addr}"), http, stop: Some(stop), task }
}

/// A real cache service on a real Redis.
pub struct TestCache {
    pub url: String,
    pub redis: RedisServer,
    _stop: oneshot::Sender<()>,
}

/// Starts Redis and the cache service in front of it.
pub async fn spawn_cache() -> TestCache {
    let redis = RedisServer::start().await;
    let mut config = CacheConfig::from_env(&Env::from_pairs([("REDIS_URL", redis.url().as_str())])).unwrap();
    config.health_interval = Duration::from_millis(100);
    let listener = loopback_listener().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sheetmesh_cache::serve(config, listener, async {
        let _ = stopped.await;
    }));
    TestCache { url, redis, _stop: stop }
}

/// The whole system: Redis, cache, sheets-sync on a directory of CSV files,
/// the agent with the OpenAI stand-in, and the gateway.
pub struct Stack {
    pub gateway: TestGateway,
    pub config: GatewayConfig,
    pub cache: TestCache,
    pub openai: OpenAiStandIn,
    pub sheets_dir: tempfile::TempDir,
    _data_dir: tempfile::TempDir,
    _stops: Vec<oneshot::Sender<()>>,
}

impl Stack {
    /// The gateway's configuration (to start a second gateway in front of
    /// the same services).
    pub fn gateway_config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The CSV file `name` in the synced directory.
    pub fn sheet_path(&self, name: &str) -> PathBuf {
        self.sheets_dir.path().join(name)
    }
}

/// The synced sheet: `prices.csv`.
pub const PRICES_CSV: &str = "Product,Price,Colour\nKettle,25,Steel\nToaster,40,Red\nDesk Lamp,18,Black\n";

/// The project's sample workbook (`sheets/inventory.xlsx`: Products with
/// `SKU-0001`…`SKU-0200`, Stores, Orders), as `sheetmesh up` syncs it.
pub const SAMPLE_SHEETS: &[(&str, &[u8])] = &[(sheetmesh_sheets_sync::config::SAMPLE_WORKBOOK_NAME, sheetmesh_sheets_sync::config::SAMPLE_WORKBOOK)];

/// Starts the stack syncing `prices.csv` ([`PRICES_CSV`]) and waits until
/// `/readyz` says every service is SERVING.
pub async fn spawn_stack(adjust: impl FnOnce(&mut GatewayConfig)) -> Stack {
    spawn_stack_with_sheets(&[("prices.csv", PRICES_CSV.as_bytes())], adjust).await
}

/// Starts the stack syncing the files `sheets` (name, contents) and waits
/// until `/readyz` says every service is SERVING (so every sheet is indexed).
pub async fn spawn_stack_with_sheets(sheets: &[(&str, &[u8])], adjust: impl FnOnce(&mut GatewayConfig)) -> Stack {
    let cache = spawn_cache().await;
    let openai = OpenAiStandIn::start().await;
    let sheets_dir = tempfile::tempdir().unwrap();
    for (name, contents) in sheets {
        std::fs::write(sheets_dir.path().join(name), contents).unwrap();
    }
    let data_dir = tempfile::tempdir().unwrap();
    let mut stops = Vec::new();

    let sheets_listener = loopback_listener().await;
    let sheets_url = format!("http://{}", sheets_listener.local_addr().unwrap());
    let env = Env::from_pairs([
        ("CACHE_URL", cache.url.as_str()),
        ("SHEETS_DIR", sheets_dir.path().to_str().unwrap()),
        ("DATA_DIR", data_dir.path().to_str().unwrap()),
        ("SYNC_DEBOUNCE", "0"),
        ("SYNC_INTERVAL", "3600"),
    ]);
    let (stop, stopped) = oneshot::channel::<()>();
    stops.push(stop);
    tokio::spawn(sheetmesh_sheets_sync::serve(SheetsSyncConfig::from_env(&env).unwrap(), sheets_listener, async {
        let _ = stopped.await;
    }));

    let agent_listener = loopback_listener().await;
    let agent_url = format!("http://{}", agent_listener.local_addr().unwrap());
    let base_url = openai.base_url();
    let env = Env::from_pairs([
        ("CACHE_URL", cache.url.as_str()),
        ("SHEETS_SYNC_URL", sheets_url.as_str()),
        ("DATA_DIR", data_dir.path().to_str().unwrap()),
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_API_KEY", "sk-test"),
        ("OPENAI_MODEL", "gpt-test"),
    ]);
    let (stop, stopped) = oneshot::channel::<()>();
    stops.push(stop);
    tokio::spawn(sheetmesh_agent::serve(AgentServiceConfig::from_env(&env).unwrap(), agent_listener, async {
        let _ = stopped.await;
    }));

    let mut config = GatewayConfig::new(vec![Secret::new(KEY), Secret::new(OTHER_KEY)]);
    config.agent_url = agent_url;
    config.sheets_url = sheets_url;
    config.cache_url = cache.url.clone();
    config.webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config.health_cache = Duration::ZERO;
    adjust(&mut config);
    let gateway = spawn_gateway(config.clone()).await;
    wait_ready(&gateway).await;
    Stack { gateway, config, cache, openai, sheets_dir, _data_dir: data_dir, _stops: stops }
}

/// Polls `/readyz` (the readiness signal) until 200, for at most 30 s.
pub async fn wait_ready(gateway: &TestGateway) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = gateway.http.get(gateway.url("/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the stack did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
