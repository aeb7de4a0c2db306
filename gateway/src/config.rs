//! Gateway configuration from environment variables.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use sheetmesh_common::{
    Secret,
    config::{ClientOptions, ConfigError, Env},
};

use crate::api_key;

/// How the gateway is run, which decides two defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `sheetmesh up`: everything on one machine. `HOST` defaults to
    /// 127.0.0.1 and, with no `API_KEY`, a key is generated and kept in
    /// `DATA_DIR`.
    Up,
    /// `sheetmesh gateway`: exposed. `HOST` defaults to 0.0.0.0 and `API_KEY`
    /// is required.
    Standalone,
}

/// Where the API keys came from (for the start-up banner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeySource {
    /// `API_KEY`.
    Env,
    /// A key `up` generated earlier, read back from this file.
    Stored(PathBuf),
    /// A key `up` generated now and saved in this file.
    Generated(PathBuf),
}

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `HOST:PORT` to listen on (`PORT` default 8080).
    pub addr: SocketAddr,
    /// Accepted API keys (`API_KEY`, comma-separated); never empty.
    pub api_keys: Vec<Secret>,
    /// Where the keys came from.
    pub api_key_source: ApiKeySource,
    /// `SHEETS_WEBHOOK_SECRET`; `None` turns the webhook off (404).
    pub webhook_secret: Option<Secret>,
    /// `AGENT_URL` (default `http://127.0.0.1:50051`).
    pub agent_url: String,
    /// `SHEETS_SYNC_URL` (default `http://127.0.0.1:50052`).
    pub sheets_url: String,
    /// `CACHE_URL` (default `http://127.0.0.1:50053`).
    pub cache_url: String,
    /// How the gRPC clients dial (`TIMEOUT`, `KEEP_ALIVE`).
    pub client: ClientOptions,
    /// `TIMEOUT` (default 30 s): the longest a request may take to produce
    /// its response head; also the deadline sent as `grpc-timeout`.
    pub request_timeout: Duration,
    /// `MAX_CONCURRENT` (default 100): requests handled at once; more are
    /// shed with 503 rather than queued.
    pub max_concurrent: usize,
    /// `KEEP_ALIVE` (default 30 s): TCP keepalive on accepted connections.
    pub keep_alive: Duration,
    /// `BACKLOG` (default 1024): the listening socket's accept queue.
    pub backlog: u32,
    /// `MAX_BODY_BYTES` (default 1 MiB): larger request bodies get 413.
    pub body_limit: usize,
    /// `RATE_LIMIT` (default 1200): requests per minute per API key, with a
    /// burst of the same size; 0 turns it off.
    pub rate_limit_per_minute: u32,
    /// `ALLOWED_HOSTS`: accepted `Host` names (`*.example.com` matches
    /// subdomains); `None` (unset or `*`) accepts any.
    pub allowed_hosts: Option<Vec<String>>,
    /// `CORS_ORIGINS`: origins allowed to call the API from a browser
    /// (`*` = any, without credentials); empty = no cross-origin access.
    pub cors_origins: Vec<String>,
    /// `HSTS_MAX_AGE`: sends `Strict-Transport-Security` when set (only
    /// behind TLS-terminating proxies).
    pub hsts_max_age: Option<Duration>,
    /// How long shutdown waits for in-flight requests and streams (10 s).
    pub drain_timeout: Duration,
    /// Deadline of each check behind `/health` and `/readyz` (default 800 ms).
    pub health_deadline: Duration,
    /// How long a `/health` result is reused (1 s).
    pub health_cache: Duration,
}

/// Default `*_URL`s: where `up` listens and clients dial.
pub const AGENT_URL: &str = "http://127.0.0.1:50051";
/// See [`AGENT_URL`].
pub const SHEETS_SYNC_URL: &str = "http://127.0.0.1:50052";
/// See [`AGENT_URL`].
pub const CACHE_URL: &str = "http://127.0.0.1:50053";

impl GatewayConfig {
    /// Defaults for tests and embedding: loopback, one key, no webhook.
    pub fn new(api_keys: Vec<Secret>) -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            api_keys,
            api_key_source: ApiKeySource::Env,
            webhook_secret: None,
            agent_url: AGENT_URL.to_owned(),
            sheets_url: SHEETS_SYNC_URL.to_owned(),
            cache_url: CACHE_URL.to_owned(),
            client: ClientOptions::default(),
            request_timeout: Duration::from_secs(30),
            max_concurrent: 100,
            keep_alive: Duration::from_secs(30),
            backlog: 1024,
            body_limit: 1024 * 1024,
            rate_limit_per_minute: 1200,
            allowed_hosts: None,
            cors_origins: Vec::new(),
            hsts_max_age: None,
            drain_timeout: Duration::from_secs(10),
            health_deadline: Duration::from_millis(800),
            health_cache: Duration::from_secs(1),
        }
    }

    /// Reads the gateway's variables. In [`Mode::Up`] without `API_KEY` this
    /// loads (or creates) the key file in `DATA_DIR`; in
    /// [`Mode::Standalone`] a missing `API_KEY` is an error naming it.
    pub fn from_env(env: &Env, mode: Mode) -> Result<Self, ConfigError> {
        let default_host = match mode {
            Mode::Up => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Mode::Standalone => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let host = env.parse_or("HOST", default_host, "an IP address such as 0.0.0.0 or 127.0.0.1")?;
        let port = env.number_or("PORT", 8080u16, 0, 65535)?;

        let (api_keys, api_key_source) = match env.get("API_KEY") {
            Some(raw) => (parse_api_keys(&raw)?, ApiKeySource::Env),
            None => match mode {
                Mode::Standalone => {
                    return Err(ConfigError::new("API_KEY", None, "one or more comma-separated API keys: `sheetmesh gateway` refuses to start without one"));
                }
                Mode::Up => {
                    let dir = PathBuf::from(env.string_or("DATA_DIR", "./data"));
                    let (key, source) = api_key::load_or_generate(&dir).map_err(|error| {
                        ConfigError::new("DATA_DIR", Some(&dir.display().to_string()), format!("a writable directory for the API key ({error})"))
                    })?;
                    (vec![key], source)
                }
            },
        };

        let client = ClientOptions::from_env(env)?;
        let urls = [("AGENT_URL", AGENT_URL), ("SHEETS_SYNC_URL", SHEETS_SYNC_URL), ("CACHE_URL", CACHE_URL)].map(|(var, default)| {
            let value = env.string_or(var, default);
            check_urls(var, &value).map(|()| value)
        });
        let [agent_url, sheets_url, cache_url] = urls;
        let defaults = Self::new(Vec::new());
        Ok(Self {
            addr: SocketAddr::new(host, port),
            api_keys,
            api_key_source,
            webhook_secret: env.secret("SHEETS_WEBHOOK_SECRET"),
            agent_url: agent_url?,
            sheets_url: sheets_url?,
            cache_url: cache_url?,
            request_timeout: client.request_timeout,
            keep_alive: client.keep_alive,
            client,
            max_concurrent: env.number_or("MAX_CONCURRENT", defaults.max_concurrent, 1, 100_000)?,
            backlog: env.number_or("BACKLOG", defaults.backlog, 1, 65_535)?,
            body_limit: env.number_or("MAX_BODY_BYTES", defaults.body_limit, 1024, 64 * 1024 * 1024)?,
            rate_limit_per_minute: env.number_or("RATE_LIMIT", defaults.rate_limit_per_minute, 0, 10_000_000)?,
            allowed_hosts: allowed_hosts(env)?,
            cors_origins: cors_origins(env)?,
            hsts_max_age: match env.get("HSTS_MAX_AGE") {
                None => None,
                Some(_) => Some(env.duration_or("HSTS_MAX_AGE", Duration::ZERO, Duration::ZERO, Duration::from_secs(2 * 365 * 86_400))?),
            },
            ..defaults
        })
    }
}

fn parse_api_keys(raw: &str) -> Result<Vec<Secret>, ConfigError> {
    let keys: Vec<&str> = raw.split(',').map(str::trim).filter(|key| !key.is_empty()).collect();
    // Keys travel in headers: visible ASCII only. The value is never echoed.
    if keys.is_empty() || keys.iter().any(|key| !key.bytes().all(|byte| byte.is_ascii_graphic())) {
        return Err(ConfigError::new("API_KEY", None, "one or more comma-separated keys of visible ASCII characters"));
    }
    Ok(keys.into_iter().map(Secret::new).collect())
}

fn check_urls(var: &str, value: &str) -> Result<(), ConfigError> {
    let accepts = "one or more comma-separated http:// URLs with a port, such as http://127.0.0.1:50051";
    let urls: Vec<&str> = value.split(',').map(str::trim).filter(|url| !url.is_empty()).collect();
    let valid = !urls.is_empty()
        && urls.iter().all(|url| {
            let rest = url.strip_prefix("http://").unwrap_or(url);
            !rest.contains("://") && rest.trim_end_matches('/').rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        });
    if valid { Ok(()) } else { Err(ConfigError::new(var, Some(value), accepts)) }
}

fn allowed_hosts(env: &Env) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(raw) = env.get("ALLOWED_HOSTS") else { return Ok(None) };
    let hosts: Vec<String> = raw.split(',').map(|host| host.trim().to_ascii_lowercase()).filter(|host| !host.is_empty()).collect();
    if hosts.iter().any(|host| host == "*") {
        return Ok(None);
    }
    let valid = |host: &String| {
        let name = host.strip_prefix("*.").unwrap_or(host);
        !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b':' | b'[' | b']'))
    };
    if hosts.is_empty() || !hosts.iter().all(valid) {
        return Err(ConfigError::new("ALLOWED_HOSTS", Some(&raw), "comma-separated host names such as api.example.com, *.example.com or *"));
    }
    Ok(Some(hosts))
}

fn cors_origins(env: &Env) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = env.get("CORS_ORIGINS") else { return Ok(Vec::new()) };
    let origins: Vec<String> = raw.split(',').map(|origin| origin.trim().trim_end_matches('/').to_owned()).filter(|origin| !origin.is_empty()).collect();
    let valid = |origin: &String| {
        origin == "*"
            || ((origin.starts_with("http://") || origin.starts_with("https://"))
                && http::HeaderValue::from_str(origin).is_ok()
                && origin.split_once("://").is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains('/')))
    };
    if !origins.iter().all(valid) {
        return Err(ConfigError::new("CORS_ORIGINS", Some(&raw), "comma-separated origins such as https://app.example.com, or *"));
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_refuses_to_start_without_an_api_key() {
        let error = GatewayConfig::from_env(&Env::from_pairs([]), Mode::Standalone).unwrap_err();
        assert_eq!(error.var, "API_KEY");
        assert!(error.to_string().starts_with("invalid API_KEY: expected"), "{error}");
    }

    #[test]
    fn modes_pick_their_default_host() {
        let env = Env::from_pairs([("API_KEY", "k1")]);
        assert_eq!(GatewayConfig::from_env(&env, Mode::Standalone).unwrap().addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(GatewayConfig::from_env(&env, Mode::Up).unwrap().addr, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn several_api_keys_are_read_and_never_echoed() {
        let env = Env::from_pairs([("API_KEY", "alpha, beta ,")]);
        let config = GatewayConfig::from_env(&env, Mode::Standalone).unwrap();
        assert_eq!(config.api_keys.iter().map(Secret::expose).collect::<Vec<_>>(), ["alpha", "beta"]);
        let error = GatewayConfig::from_env(&Env::from_pairs([("API_KEY", "bad key\u{7f}")]), Mode::Standalone).unwrap_err();
        assert!(!error.to_string().contains("bad key"), "{error}");
        assert!(!format!("{config:?}").contains("alpha"));
    }

    #[test]
    fn up_generates_a_key_in_data_dir_when_none_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("DATA_DIR", dir.path().to_str().unwrap())]);
        let first = GatewayConfig::from_env(&env, Mode::Up).unwrap();
        assert!(matches!(first.api_key_source, ApiKeySource::Generated(_)));
        let second = GatewayConfig::from_env(&env, Mode::Up).unwrap();
        assert!(matches!(second.api_key_source, ApiKeySource::Stored(_)));
        assert_eq!(first.api_keys, second.api_keys);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("AGENT_URL", "https://agent:1"),
            ("CACHE_URL", "http://cache"),
            ("MAX_CONCURRENT", "0"),
            ("BACKLOG", "lots"),
            ("ALLOWED_HOSTS", "bad host/"),
            ("CORS_ORIGINS", "example.com"),
            ("PORT", "99999"),
            ("HOST", "somewhere"),
        ] {
            let env = Env::from_pairs([("API_KEY", "k"), (var, value)]);
            let error = GatewayConfig::from_env(&env, Mode::Standalone).unwrap_err();
            assert_eq!(error.var, var, "{error}");
        }
    }

    #[test]
    fn lists_and_wildcards_are_understood() {
        let env = Env::from_pairs([
            ("API_KEY", "k"),
            ("ALLOWED_HOSTS", "API.example.com, *.example.org"),
            ("CORS_ORIGINS", "https://app.example.com/,http://localhost:3000"),
            ("SHEETS_SYNC_URL", "http://10.0.0.1:50052,10.0.0.2:50052"),
            ("RATE_LIMIT", "0"),
        ]);
        let config = GatewayConfig::from_env(&env, Mode::Standalone).unwrap();
        assert_eq!(config.allowed_hosts.unwrap(), ["api.example.com", "*.example.org"]);
        assert_eq!(config.cors_origins, ["https://app.example.com", "http://localhost:3000"]);
        assert_eq!(config.rate_limit_per_minute, 0);
        let any = Env::from_pairs([("API_KEY", "k"), ("ALLOWED_HOSTS", "*")]);
        assert!(GatewayConfig::from_env(&any, Mode::Standalone).unwrap().allowed_hosts.is_none());
    }
}
