//! Redis connection settings: `REDIS_URL`, or `REDIS_HOST`/`REDIS_PORT`/
//! `REDIS_PASSWORD`/`REDIS_DB`.

use std::{fmt, time::Duration};

use super::{ConfigError, Env};
use crate::Secret;

/// Where Redis is. The URL may hold a password, so it is a [`Secret`];
/// [`RedisConfig::display_url`] is the printable form.
#[derive(Clone)]
pub struct RedisConfig {
    url: Secret,
    /// Connecting gives up after this long (default 1 s).
    pub connect_timeout: Duration,
    /// A command gives up after this long (default 1 s), so an unreachable
    /// Redis never hangs a caller.
    pub response_timeout: Duration,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig").field("url", &self.display_url()).finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// A config for `url` with default timeouts.
    pub fn from_url(url: impl Into<String>) -> Result<Self, ConfigError> {
        let url = url.into();
        validate_url(&url)?;
        Ok(Self { url: Secret::new(url), connect_timeout: Duration::from_secs(1), response_timeout: Duration::from_secs(1) })
    }

    /// `None` when neither `REDIS_URL` nor `REDIS_HOST` is set: the embedded
    /// backends are used then.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let url = match (env.get("REDIS_URL"), env.get("REDIS_HOST")) {
            (Some(url), _) => url,
            (None, Some(host)) => {
                let port: u16 = env.number_or("REDIS_PORT", 6379, 1, 65535)?;
                let db: u32 = env.number_or("REDIS_DB", 0, 0, 10_000)?;
                let auth = match env.get("REDIS_PASSWORD") {
                    Some(password) => format!(":{}@", percent_encode(&password)),
                    None => String::new(),
                };
                format!("redis://{auth}{host}:{port}/{db}")
            }
            (None, None) => return Ok(None),
        };
        let mut config = Self::from_url(url)?;
        config.response_timeout = env.duration_or("REDIS_TIMEOUT", config.response_timeout, Duration::from_millis(10), Duration::from_secs(60))?;
        config.connect_timeout = config.response_timeout.max(Duration::from_millis(500));
        Ok(Some(config))
    }

    /// The URL, password included: only for opening the connection.
    pub fn url(&self) -> &Secret {
        &self.url
    }

    /// The URL with any password replaced by `***`, safe to log.
    pub fn display_url(&self) -> String {
        redact_url(self.url.expose())
    }
}

fn validate_url(url: &str) -> Result<(), ConfigError> {
    let accepts = "a URL such as redis://[:password@]host:6379/0 or rediss://host:6380/0";
    let is_redis = url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("redis+unix://") || url.starts_with("unix://");
    // The URL may contain a password: never echo it.
    if !is_redis || ::redis::Client::open(url).is_err() {
        return Err(ConfigError::new("REDIS_URL", Some(&redact_url(url)), accepts));
    }
    Ok(())
}

fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.rsplit_once('@') {
        Some((_credentials, host)) => format!("{scheme}://***@{host}"),
        None => url.to_owned(),
    }
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_redis_variables_means_embedded() {
        assert!(RedisConfig::from_env(&Env::from_pairs([])).unwrap().is_none());
    }

    #[test]
    fn host_port_password_db_build_a_url_and_the_password_never_prints() {
        let env = Env::from_pairs([("REDIS_HOST", "redis"), ("REDIS_PORT", "6380"), ("REDIS_PASSWORD", "p@ss w"), ("REDIS_DB", "2")]);
        let config = RedisConfig::from_env(&env).unwrap().unwrap();
        assert_eq!(config.url().expose(), "redis://:p%40ss%20w@redis:6380/2");
        assert_eq!(config.display_url(), "redis://***@redis:6380/2");
        assert!(!format!("{config:?}").contains("p%40ss"));
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_credentials() {
        let env = Env::from_pairs([("REDIS_URL", "http://:secret@host")]);
        let error = RedisConfig::from_env(&env).unwrap_err().to_string();
        assert!(error.starts_with("invalid REDIS_URL"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        let env = Env::from_pairs([("REDIS_PORT", "99999"), ("REDIS_HOST", "h")]);
        assert!(RedisConfig::from_env(&env).unwrap_err().to_string().contains("REDIS_PORT"));
    }

    #[test]
    fn rediss_urls_are_accepted() {
        let env = Env::from_pairs([("REDIS_URL", "rediss://:pw@cache.example:6380/0")]);
        assert!(RedisConfig::from_env(&env).unwrap().is_some());
    }
}
