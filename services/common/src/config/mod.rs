//! Configuration from environment variables.
//!
//! Every component reads its settings through [`Env`], which trims values,
//! treats empty as unset, and turns a bad value into a [`ConfigError`] whose
//! one-line message names the variable and what it accepts. `main` prints
//! that line and exits with code 2.

mod grpc;
mod redis;

use std::{collections::HashMap, fmt, net::SocketAddr, str::FromStr, time::Duration};

pub use grpc::{ClientOptions, ServerOptions};
pub use redis::RedisConfig;

use crate::Secret;

/// A bad configuration value: which variable, and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}{shown}: expected {accepts}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: String,
    /// `="value"` for non-secret values (so the user sees what was read), or empty.
    shown: String,
    /// What the variable accepts, as a phrase ("a port number from 1 to 65535").
    pub accepts: String,
}

impl ConfigError {
    /// A bad value for `var`; `value` is shown unless `None` (use `None` for secrets).
    pub fn new(var: &str, value: Option<&str>, accepts: impl Into<String>) -> Self {
        let shown = match value {
            Some(value) if value.chars().count() <= 120 => format!("={value:?}"),
            Some(_) | None => String::new(),
        };
        Self { var: var.to_owned(), shown, accepts: accepts.into() }
    }
}

/// Where configuration values come from: the process environment, or a fixed
/// map (tests, `sheetmesh up` overrides).
#[derive(Clone, Default)]
pub struct Env {
    overrides: HashMap<String, String>,
    use_process: bool,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show only which names are overridden.
        let mut names: Vec<_> = self.overrides.keys().collect();
        names.sort();
        f.debug_struct("Env").field("overrides", &names).field("use_process", &self.use_process).finish()
    }
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self { overrides: HashMap::new(), use_process: true }
    }

    /// Only the given pairs (for tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let overrides = pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Self { overrides, use_process: false }
    }

    /// A copy where `name` reads as `value`, whatever the process says.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.overrides.insert(name.to_owned(), value.into());
        self
    }

    /// The trimmed value of `name`; unset and empty both read as `None`.
    pub fn get(&self, name: &str) -> Option<String> {
        let raw = match self.overrides.get(name) {
            Some(value) => Some(value.clone()),
            None if self.use_process => std::env::var(name).ok(),
            None => None,
        };
        raw.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    /// The value of `name`, or `default`.
    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// A secret value; never shown in errors.
    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).map(Secret::new)
    }

    /// A value parsed with `FromStr`, or `default` when unset.
    pub fn parse_or<T: FromStr>(&self, name: &str, default: T, accepts: &str) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| ConfigError::new(name, Some(&raw), accepts)),
        }
    }

    /// A whole number in `min..=max`, or `default` when unset.
    pub fn number_or<T>(&self, name: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let accepts = format!("a whole number from {min} to {max}");
        let value = self.parse_or(name, default, &accepts)?;
        if value < min || value > max {
            return Err(ConfigError::new(name, self.get(name).as_deref(), accepts));
        }
        Ok(value)
    }

    /// A duration: a bare number is seconds (`30`), or a number with a unit
    /// (`250ms`, `30s`, `5m`, `1h`). Must lie in `min..=max`.
    pub fn duration_or(&self, name: &str, default: Duration, min: Duration, max: Duration) -> Result<Duration, ConfigError> {
        let accepts =
            format!("a duration from {} to {} such as 30 (seconds), 500ms, 30s or 5m", humantime::format_duration(min), humantime::format_duration(max));
        let Some(raw) = self.get(name) else { return Ok(default) };
        let parsed = match raw.parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Some(Duration::from_secs_f64(seconds)),
            Ok(_) => None,
            Err(_) => humantime::parse_duration(&raw).ok(),
        };
        match parsed {
            Some(duration) if duration >= min && duration <= max => Ok(duration),
            _ => Err(ConfigError::new(name, Some(&raw), accepts)),
        }
    }

    /// `true/false/1/0/yes/no/on/off`, or `default` when unset.
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.get(name) else { return Ok(default) };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::new(name, Some(&raw), "true or false")),
        }
    }

    /// A listen address `HOST:PORT` (e.g. `0.0.0.0:50053`), or `default`.
    pub fn socket_addr_or(&self, name: &str, default: SocketAddr) -> Result<SocketAddr, ConfigError> {
        self.parse_or(name, default, "an address HOST:PORT such as 0.0.0.0:50053")
    }
}

/// The address a gRPC URL like `http://127.0.0.1:50053` points at, for
/// listening on it (`sheetmesh up` listens where the clients dial). Only the
/// first address of a comma-separated list counts.
pub fn listen_addr_of_url(var: &str, url: &str) -> Result<SocketAddr, ConfigError> {
    let first = url.split(',').next().unwrap_or_default().trim();
    let host_port = first.strip_prefix("http://").or_else(|| first.strip_prefix("https://")).unwrap_or(first);
    let host_port = host_port.trim_end_matches('/');
    let host_port = match host_port.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => host_port.to_owned(),
    };
    host_port.parse().map_err(|_| ConfigError::new(var, Some(url), "a URL with an IP address and port such as http://127.0.0.1:50053"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_empty_values_read_as_defaults() {
        let env = Env::from_pairs([("EMPTY", "  ")]);
        assert_eq!(env.get("EMPTY"), None);
        assert_eq!(env.number_or("EMPTY", 7u32, 1, 10), Ok(7));
        assert_eq!(env.string_or("UNSET", "x"), "x");
    }

    #[test]
    fn a_bad_number_names_the_variable_and_the_range() {
        let env = Env::from_pairs([("MAX_CONCURRENT", "lots")]);
        let error = env.number_or("MAX_CONCURRENT", 100usize, 1, 10_000).unwrap_err();
        assert_eq!(error.to_string(), r#"invalid MAX_CONCURRENT="lots": expected a whole number from 1 to 10000"#);
        let env = Env::from_pairs([("MAX_CONCURRENT", "0")]);
        assert!(env.number_or("MAX_CONCURRENT", 100usize, 1, 10_000).is_err());
    }

    #[test]
    fn durations_accept_bare_seconds_and_units() {
        let env = Env::from_pairs([("A", "30"), ("B", "250ms"), ("C", "2m"), ("D", "soon"), ("E", "-1")]);
        let (min, max) = (Duration::ZERO, Duration::from_secs(3600));
        let read = |name| env.duration_or(name, Duration::from_secs(1), min, max);
        assert_eq!(read("A"), Ok(Duration::from_secs(30)));
        assert_eq!(read("B"), Ok(Duration::from_millis(250)));
        assert_eq!(read("C"), Ok(Duration::from_secs(120)));
        assert!(read("D").unwrap_err().to_string().starts_with("invalid D=\"soon\": expected a duration"));
        assert!(read("E").is_err());
        assert_eq!(read("UNSET"), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn secrets_are_never_echoed_in_errors() {
        let error = ConfigError::new("REDIS_PASSWORD", None, "a password");
        assert_eq!(error.to_string(), "invalid REDIS_PASSWORD: expected a password");
    }

    #[test]
    fn listen_addresses_come_from_urls() {
        assert_eq!(listen_addr_of_url("CACHE_URL", "http://127.0.0.1:50053").unwrap(), "127.0.0.1:50053".parse().unwrap());
        assert_eq!(listen_addr_of_url("CACHE_URL", "localhost:9,http://x:1").unwrap(), "127.0.0.1:9".parse().unwrap());
        assert!(listen_addr_of_url("CACHE_URL", "http://cache:50053").is_err());
    }
}
