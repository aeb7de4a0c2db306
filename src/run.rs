//! Runs one command: reads configuration, binds listeners, calls `serve`.

use std::{future::Future, net::SocketAddr, process::ExitCode};

use sheetmesh_agent::AgentServiceConfig;
use sheetmesh_cache::CacheConfig;
use sheetmesh_common::{
    config::{ConfigError, Env, listen_addr_of_url},
    grpc::{ServeError, probe},
    shutdown,
    telemetry::{self, TelemetryConfig, TelemetryGuard},
};
use sheetmesh_gateway::{ApiKeySource, GatewayConfig, Mode};
use sheetmesh_sheets_sync::SheetsSyncConfig;
use tokio::{net::TcpListener, sync::watch};

use crate::cli::{Command, HealthProbeArgs};

/// Default listen addresses of the single-component commands.
const AGENT_GRPC_ADDR: &str = "0.0.0.0:50051";
const SHEETS_SYNC_GRPC_ADDR: &str = "0.0.0.0:50052";
const CACHE_GRPC_ADDR: &str = "0.0.0.0:50053";
/// Default `*_URL`s: where `up` listens and clients dial.
const AGENT_URL: &str = "http://127.0.0.1:50051";
const SHEETS_SYNC_URL: &str = "http://127.0.0.1:50052";
const CACHE_URL: &str = "http://127.0.0.1:50053";

/// The Tokio runtime, with `WORKERS` worker threads.
pub fn runtime(env: &Env) -> Result<tokio::runtime::Runtime, ConfigError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if env.get("WORKERS").is_some() {
        builder.worker_threads(env.number_or("WORKERS", 1usize, 1, 1024)?);
    }
    builder.build().map_err(|error| ConfigError::new("WORKERS", None, format!("a thread count this machine can start ({error})")))
}

/// Why a command failed, and with which exit code.
enum Failure {
    /// Bad configuration: exit 2.
    Config(ConfigError),
    /// Anything at run time: exit 1.
    Runtime(String),
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

impl From<ServeError> for Failure {
    fn from(error: ServeError) -> Self {
        Self::Runtime(error.to_string())
    }
}

impl From<sheetmesh_gateway::Error> for Failure {
    fn from(error: sheetmesh_gateway::Error) -> Self {
        Self::Runtime(error.to_string())
    }
}

/// Runs `command` to completion and returns the process exit code.
pub async fn command(command: Command, env: Env) -> ExitCode {
    let result = match command {
        Command::HealthProbe(args) => return health_probe(args).await,
        Command::Up => up(env).await,
        Command::Cache => cache(env).await,
        Command::SheetsSync => sheets_sync(env).await,
        Command::Agent => agent(env).await,
        Command::Gateway => gateway(env).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(error)) => {
            eprintln!("sheetmesh: {error}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            tracing::error!("{message}");
            eprintln!("sheetmesh: {message}");
            ExitCode::from(1)
        }
    }
}

fn init_telemetry(env: &Env, service: &str) -> Result<TelemetryGuard, Failure> {
    let config = TelemetryConfig::from_env(env)?;
    telemetry::init(&config, service).map_err(|error| Failure::Runtime(format!("telemetry could not start: {error}")))
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr).await.map_err(|error| Failure::Runtime(format!("{what} cannot listen on {addr}: {error}")))
}

async fn listen_on_grpc_addr(env: &Env, default: &str, what: &str) -> Result<TcpListener, Failure> {
    let addr = env.socket_addr_or("GRPC_ADDR", default.parse().expect("valid default address"))?;
    let listener = bind(addr, what).await?;
    tracing::info!(%addr, "{what} listening");
    Ok(listener)
}

async fn cache(env: Env) -> Result<(), Failure> {
    let config = CacheConfig::from_env(&env)?;
    let _telemetry = init_telemetry(&env, "sheetmesh-cache")?;
    let listener = listen_on_grpc_addr(&env, CACHE_GRPC_ADDR, "the cache service").await?;
    Ok(sheetmesh_cache::serve(config, listener, shutdown::signal()).await?)
}

async fn sheets_sync(env: Env) -> Result<(), Failure> {
    let config = SheetsSyncConfig::from_env(&env)?;
    let _telemetry = init_telemetry(&env, "sheetmesh-sheets-sync")?;
    let listener = listen_on_grpc_addr(&env, SHEETS_SYNC_GRPC_ADDR, "the sheets-sync service").await?;
    Ok(sheetmesh_sheets_sync::serve(config, listener, shutdown::signal()).await?)
}

async fn agent(env: Env) -> Result<(), Failure> {
    let config = AgentServiceConfig::from_env(&env)?;
    let _telemetry = init_telemetry(&env, "sheetmesh-agent")?;
    let listener = listen_on_grpc_addr(&env, AGENT_GRPC_ADDR, "the agent service").await?;
    Ok(sheetmesh_agent::serve(config, listener, shutdown::signal()).await?)
}

fn bind_gateway(config: &GatewayConfig) -> Result<TcpListener, Failure> {
    sheetmesh_gateway::bind(config.addr, config.backlog, config.keep_alive)
        .map_err(|error| Failure::Runtime(format!("the gateway cannot listen on {}: {error}", config.addr)))
}

async fn gateway(env: Env) -> Result<(), Failure> {
    let config = GatewayConfig::from_env(&env, Mode::Standalone)?;
    let _telemetry = init_telemetry(&env, "sheetmesh-gateway")?;
    let listener = bind_gateway(&config)?;
    tracing::info!(addr = %config.addr, "gateway listening");
    Ok(sheetmesh_gateway::serve(config, listener, shutdown::signal()).await?)
}

/// Stops every component of `up` together: on SIGTERM/SIGINT, or as soon as
/// one component stops on its own (a failure), so the process never runs
/// half a mesh.
#[derive(Clone)]
struct StopAll(watch::Sender<bool>);

impl StopAll {
    fn new() -> Self {
        let stop = Self(watch::Sender::new(false));
        let on_signal = stop.clone();
        tokio::spawn(async move {
            shutdown::signal().await;
            on_signal.trigger();
        });
        stop
    }

    fn trigger(&self) {
        self.0.send_replace(true);
    }

    fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.0.subscribe();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    }

    /// Runs one component; its end (clean or not) stops the others.
    async fn run<E: std::fmt::Display>(&self, name: &str, component: impl Future<Output = Result<(), E>>) -> Result<(), Failure> {
        let result = component.await;
        self.trigger();
        result.map_err(|error| Failure::Runtime(format!("{name}: {error}")))
    }
}

/// Every component in one process, each on the address its `*_URL` names,
/// talking real gRPC over loopback.
async fn up(env: Env) -> Result<(), Failure> {
    // Each component dials the others where `up` makes them listen.
    let env = env
        .clone()
        .with("CACHE_URL", env.string_or("CACHE_URL", CACHE_URL))
        .with("SHEETS_SYNC_URL", env.string_or("SHEETS_SYNC_URL", SHEETS_SYNC_URL))
        .with("AGENT_URL", env.string_or("AGENT_URL", AGENT_URL));
    let cache_config = CacheConfig::from_env(&env)?;
    let sheets_config = SheetsSyncConfig::from_env(&env)?;
    let agent_config = AgentServiceConfig::from_env(&env)?;
    let gateway_config = GatewayConfig::from_env(&env, Mode::Up)?;
    let cache_addr = listen_addr_of_url("CACHE_URL", &env.string_or("CACHE_URL", CACHE_URL))?;
    let sheets_addr = listen_addr_of_url("SHEETS_SYNC_URL", &env.string_or("SHEETS_SYNC_URL", SHEETS_SYNC_URL))?;
    let agent_addr = listen_addr_of_url("AGENT_URL", &env.string_or("AGENT_URL", AGENT_URL))?;
    let _telemetry = init_telemetry(&env, "sheetmesh")?;

    let cache_listener = bind(cache_addr, "the cache service").await?;
    let sheets_listener = bind(sheets_addr, "the sheets-sync service").await?;
    let agent_listener = bind(agent_addr, "the agent service").await?;
    let gateway_listener = bind_gateway(&gateway_config)?;
    let api_key = gateway_config.api_keys[0].clone();
    let banner = Banner {
        gateway: gateway_config.addr,
        api_key: &api_key,
        api_key_source: gateway_config.api_key_source.clone(),
        llm: agent_config
            .llm
            .as_ref()
            .map_or_else(|| "offline (retrieval-only answers with citations)".to_owned(), |llm| format!("{} at {}", llm.model, llm.base_url)),
        source: describe_source(&sheets_config),
        backend: if cache_config.redis.is_some() { "Redis" } else { "embedded (in process; conversation memory in DATA_DIR)" },
        grpc: [("agent", agent_addr), ("sheets-sync", sheets_addr), ("cache", cache_addr)],
    };

    let stop = StopAll::new();
    let (cache, sheets, agent, gateway, ()) = tokio::join!(
        stop.run("cache", sheetmesh_cache::serve(cache_config, cache_listener, stop.signal())),
        stop.run("sheets-sync", sheetmesh_sheets_sync::serve(sheets_config, sheets_listener, stop.signal())),
        stop.run("agent", sheetmesh_agent::serve(agent_config, agent_listener, stop.signal())),
        stop.run("gateway", sheetmesh_gateway::serve(gateway_config, gateway_listener, stop.signal())),
        banner.print_when_ready(sheets_addr, stop.signal()),
    );
    cache?;
    sheets?;
    agent?;
    gateway?;
    Ok(())
}

async fn health_probe(args: HealthProbeArgs) -> ExitCode {
    let outcome = match (&args.target.addr, &args.target.http) {
        (_, Some(url)) => probe::probe_http(url, args.timeout).await,
        (Some(addr), None) => probe::probe(addr, &args.service, args.timeout).await,
        (None, None) => {
            eprintln!("sheetmesh health-probe: give --addr HOST:PORT or --http URL");
            return ExitCode::from(1);
        }
    };
    match outcome {
        probe::ProbeOutcome::Serving => println!("{}", outcome.message()),
        _ => eprintln!("{}", outcome.message()),
    }
    ExitCode::from(u8::try_from(outcome.exit_code()).unwrap_or(1))
}

fn describe_source(config: &SheetsSyncConfig) -> String {
    match &config.source {
        sheetmesh_sheets_sync::config::SourceConfig::Local { dir, sample_fallback } if *sample_fallback && !dir.exists() => {
            "the sample workbook built into sheetmesh (set SHEETS_DIR or GOOGLE_SHEETS_SPREADSHEET_ID for your own)".to_owned()
        }
        sheetmesh_sheets_sync::config::SourceConfig::Local { dir, .. } => format!("local files in {}", dir.display()),
        sheetmesh_sheets_sync::config::SourceConfig::Google { spreadsheets, .. } => format!("Google Sheets {}", spreadsheets.join(", ")),
    }
}

/// The start-up banner of `up`: where to go, with which key, on what data.
struct Banner<'a> {
    gateway: SocketAddr,
    api_key: &'a sheetmesh_common::Secret,
    api_key_source: ApiKeySource,
    llm: String,
    source: String,
    backend: &'static str,
    grpc: [(&'static str, SocketAddr); 3],
}

impl Banner<'_> {
    /// Prints once sheets-sync has loaded the sheets (so they can be listed),
    /// or gives up quietly if the mesh stops first.
    async fn print_when_ready(self, sheets_addr: SocketAddr, stopped: impl Future<Output = ()>) {
        let sheets = tokio::select! {
            sheets = loaded_sheets(sheets_addr) => sheets,
            () = stopped => return,
        };
        let key_note = match &self.api_key_source {
            ApiKeySource::Env => "from API_KEY".to_owned(),
            ApiKeySource::Stored(path) => format!("kept in {}", path.display()),
            ApiKeySource::Generated(path) => format!("generated now, kept in {}", path.display()),
        };
        let host = if self.gateway.ip().is_unspecified() { format!("127.0.0.1:{}", self.gateway.port()) } else { self.gateway.to_string() };
        let gateway_url = format!("http://{host}");
        // The key is printed on purpose: this banner is how a local user gets it.
        println!();
        println!("  sheetmesh is up");
        println!("  ───────────────");
        println!("  chat page     {gateway_url}/");
        println!("  API           {gateway_url}/v1  (OpenAI-compatible: {gateway_url}/v1/chat/completions)");
        println!("  API key       {}  ({key_note})", self.api_key.expose());
        println!("  LLM           {}", self.llm);
        println!("  data          {}", self.source);
        for line in sheets {
            println!("                  {line}");
        }
        println!("  storage       {}", self.backend);
        for (name, addr) in self.grpc {
            println!("  gRPC {name:<12} {addr}");
        }
        println!();
    }
}

/// One line per synced sheet, once sheets-sync reports its first sync.
async fn loaded_sheets(addr: SocketAddr) -> Vec<String> {
    use sheetmesh_proto::v1::{ListSheetsRequest, sheets_service_client::SheetsServiceClient};
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while probe::probe(&addr.to_string(), "", std::time::Duration::from_secs(1)).await != probe::ProbeOutcome::Serving {
        if tokio::time::Instant::now() > deadline {
            return vec!["(sheets-sync has not finished its first sync yet)".to_owned()];
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let Ok(mut client) = SheetsServiceClient::connect(format!("http://{addr}")).await else { return Vec::new() };
    let Ok(response) = client.list_sheets(ListSheetsRequest::default()).await else { return Vec::new() };
    response
        .into_inner()
        .sheets
        .into_iter()
        .map(|sheet| match sheet.last_error.as_str() {
            "" => format!("{} / {}: {} rows, {} columns", sheet.spreadsheet, sheet.name, sheet.row_count, sheet.columns.len()),
            error => format!("{} / {}: NOT SYNCED — {error}", sheet.spreadsheet, sheet.name),
        })
        .collect()
}
