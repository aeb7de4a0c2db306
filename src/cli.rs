//! Command-line arguments.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Every environment variable sheetmesh reads, shown under `--help`.
pub const ENVIRONMENT_HELP: &str = "\
Environment variables (a bad value stops start-up with exit code 2 and a line naming the variable):
  Listening and dialing
    GRPC_ADDR          listen address of a single gRPC component   [agent 0.0.0.0:50051, sheets-sync :50052, cache :50053]
    CACHE_URL          where the cache service is dialed; `up` listens there   [http://127.0.0.1:50053]
    SHEETS_SYNC_URL    where sheets-sync is dialed (comma-separated = load-balanced)   [http://127.0.0.1:50052]
    AGENT_URL          where the agent is dialed (comma-separated = load-balanced)   [http://127.0.0.1:50051]
    HOST, PORT         gateway listen address   [up: 127.0.0.1, gateway: 0.0.0.0; 8080]
  Server behaviour
    WORKERS            Tokio worker threads   [number of CPUs]
    MAX_CONCURRENT     requests handled at once per server   [100]
    TIMEOUT            longest request, e.g. 30, 30s, 500ms   [30s]
    KEEP_ALIVE         HTTP/2 and TCP keepalive interval   [30s]
    BACKLOG            gateway listen backlog   [1024]
  Redis (unset: embedded in-process backends)
    REDIS_URL          redis://[:password@]host:port/db or rediss://…
    REDIS_HOST, REDIS_PORT [6379], REDIS_PASSWORD, REDIS_DB [0]   used when REDIS_URL is unset
    REDIS_TIMEOUT      connect and command timeout   [1s]
  Cache
    CACHE_MAX_VALUE_BYTES   largest cached value   [1048576]
    CACHE_MEMORY_BYTES      in-memory backend size bound   [268435456]
    CACHE_NAMESPACE         Redis key prefix   [sheetmesh:cache]
  Sheets
    SHEETS_DIR         local CSV/XLSX/XLS/ODS files   [./sheets]
    SYNC_INTERVAL      polling fallback interval   [60s]
    SYNC_DEBOUNCE      webhook notifications within this window cause one sync   [1s]
    GOOGLE_DRIVE_WEBHOOK_URL   public https URL of /v1/webhooks/sheets for Drive push channels   [off]
    GOOGLE_SHEETS_CREDENTIALS_PATH, GOOGLE_SHEETS_SPREADSHEET_ID, GOOGLE_SHEETS_SHEET_NAMES
    GOOGLE_SHEETS_API_URL [https://sheets.googleapis.com], GOOGLE_DRIVE_API_URL [https://www.googleapis.com]
    SHEETS_WEBHOOK_SECRET   shared secret of the webhook (unset: webhook off)
  Agent
    OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL [gpt-4o-mini]   (neither key nor URL: retrieval-only answers)
    OPENAI_EMBEDDING_MODEL   embed rows with this model and fuse with BM25 (same server and key)   [off]
    DATA_DIR           conversation memory and generated API key   [./data]
    ANSWER_CACHE_TTL   how long a cached answer lives   [1h]
    MEMORY_TTL         how long an idle conversation is kept on Redis   [30d]
  Gateway
    API_KEY            comma-separated API keys (`up` generates one into DATA_DIR when unset; `gateway` requires it)
    ALLOWED_HOSTS      comma-separated Host names accepted; others get 400   [any]
    CORS_ORIGINS       comma-separated browser origins allowed to call the API   [none]
    MAX_BODY_BYTES     largest request body; larger get 413   [1048576]
    RATE_LIMIT         requests per minute per API key; 0 = off   [1200]
    HSTS_MAX_AGE       send Strict-Transport-Security with this max-age (behind TLS)   [off]
  Telemetry
    LOG_LEVEL          error|warn|info|debug|trace or an env-filter directive   [info]
    LOG_FORMAT         pretty|json   [pretty]
    OTEL_EXPORTER_OTLP_ENDPOINT   OTLP/gRPC collector, e.g. http://localhost:4317   [off]
";

/// Ask plain-language questions about spreadsheets, with answers citing rows.
///
/// One binary, one subcommand per component. With no subcommand it runs
/// `up`: every component in one process, talking gRPC over loopback.
#[derive(Debug, Parser)]
#[command(name = "sheetmesh", version, after_help = ENVIRONMENT_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every component in one process (the default).
    #[command(after_help = ENVIRONMENT_HELP)]
    Up,
    /// The cache service alone (sheetmesh.v1.CacheService, default 0.0.0.0:50053).
    #[command(after_help = ENVIRONMENT_HELP)]
    Cache,
    /// The sheets-sync service alone (sheetmesh.v1.SheetsService, default 0.0.0.0:50052).
    #[command(name = "sheets-sync", after_help = ENVIRONMENT_HELP)]
    SheetsSync,
    /// The agent service alone (sheetmesh.v1.AgentService, default 0.0.0.0:50051).
    #[command(after_help = ENVIRONMENT_HELP)]
    Agent,
    /// The HTTP gateway alone (default 0.0.0.0:8080); requires API_KEY.
    #[command(after_help = ENVIRONMENT_HELP)]
    Gateway,
    /// Checks a gRPC server's health like grpc_health_probe: exit 0 only when
    /// SERVING; 1 bad arguments, 2 connection failure, 3 RPC failure or
    /// timeout, 4 not serving.
    HealthProbe(HealthProbeArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "target")]
pub struct HealthProbeTarget {
    /// A gRPC server, HOST:PORT.
    #[arg(long)]
    pub addr: Option<String>,
    /// An HTTP URL instead (the gateway's http://127.0.0.1:8080/healthz):
    /// 0 on a 2xx answer, same codes otherwise.
    #[arg(long)]
    pub http: Option<String>,
}

#[derive(Debug, Args)]
pub struct HealthProbeArgs {
    #[command(flatten)]
    pub target: HealthProbeTarget,
    /// The service to check; empty = the whole server.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Connect and call timeout, e.g. 1s or 500ms.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}
