//! Runs one command: reads configuration, binds listeners, calls `serve`.

use std::{net::SocketAddr, process::ExitCode};

use sheetmesh_cache::CacheConfig;
use sheetmesh_common::{
    config::{ConfigError, Env, listen_addr_of_url},
    grpc::probe,
    shutdown,
    telemetry::{self, TelemetryConfig, TelemetryGuard},
};
use tokio::net::TcpListener;

use crate::cli::{Command, HealthProbeArgs};

/// Default listen address of `sheetmesh cache`.
const CACHE_GRPC_ADDR: &str = "0.0.0.0:50053";
/// Default `CACHE_URL`: where `up` listens and clients dial.
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

/// Runs `command` to completion and returns the process exit code.
pub async fn command(command: Command, env: Env) -> ExitCode {
    let result = match command {
        Command::HealthProbe(args) => return health_probe(args).await,
        Command::Up => up(env).await,
        Command::Cache => cache(env).await,
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

async fn cache(env: Env) -> Result<(), Failure> {
    let config = CacheConfig::from_env(&env)?;
    let addr = env.socket_addr_or("GRPC_ADDR", CACHE_GRPC_ADDR.parse().expect("valid default"))?;
    let _telemetry = init_telemetry(&env, "sheetmesh-cache")?;
    let listener = bind(addr, "the cache service").await?;
    tracing::info!(%addr, "cache service listening");
    sheetmesh_cache::serve(config, listener, shutdown::signal()).await.map_err(|error| Failure::Runtime(error.to_string()))
}

/// Every component that exists, in one process, each on the address its
/// `*_URL` names, talking gRPC over loopback.
async fn up(env: Env) -> Result<(), Failure> {
    let cache_url = env.string_or("CACHE_URL", CACHE_URL);
    let cache_addr = listen_addr_of_url("CACHE_URL", &cache_url)?;
    let cache_config = CacheConfig::from_env(&env)?;
    let _telemetry = init_telemetry(&env, "sheetmesh")?;

    let cache_listener = bind(cache_addr, "the cache service").await?;
    println!("sheetmesh up");
    println!("  cache service  grpc://{cache_addr}  ({})", if cache_config.redis.is_some() { "redis" } else { "in memory" });
    sheetmesh_cache::serve(cache_config, cache_listener, shutdown::signal()).await.map_err(|error| Failure::Runtime(error.to_string()))
}

async fn health_probe(args: HealthProbeArgs) -> ExitCode {
    let outcome = probe::probe(&args.addr, &args.service, args.timeout).await;
    match outcome {
        probe::ProbeOutcome::Serving => println!("{}", outcome.message()),
        _ => eprintln!("{}", outcome.message()),
    }
    ExitCode::from(u8::try_from(outcome.exit_code()).unwrap_or(1))
}
