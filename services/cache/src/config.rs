//! Cache service configuration.

use std::time::Duration;

use sheetmesh_common::config::{ConfigError, Env, RedisConfig, ServerOptions};

use crate::validate::Limits;

/// Everything the cache service needs to start.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// gRPC server behaviour (`TIMEOUT`, `MAX_CONCURRENT`, `KEEP_ALIVE`).
    pub server: ServerOptions,
    /// Redis (`REDIS_URL` or `REDIS_HOST`…); `None` = in-memory backend.
    pub redis: Option<RedisConfig>,
    /// Input limits (`CACHE_MAX_VALUE_BYTES`, default 1 MiB).
    pub limits: Limits,
    /// Upper bound on the in-memory backend's size in bytes
    /// (`CACHE_MEMORY_BYTES`, default 256 MiB).
    pub memory_capacity_bytes: u64,
    /// Prefix of every Redis key the service writes (`CACHE_NAMESPACE`,
    /// default `sheetmesh:cache`).
    pub namespace: String,
    /// How often the backend is pinged for health (default 500 ms, so a
    /// returning Redis is SERVING again well within 2 s).
    pub health_interval: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            server: ServerOptions::default(),
            redis: None,
            limits: Limits::default(),
            memory_capacity_bytes: 256 * 1024 * 1024,
            namespace: "sheetmesh:cache".to_owned(),
            health_interval: Duration::from_millis(500),
        }
    }
}

impl CacheConfig {
    /// Reads the cache service's variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let max_value_bytes = env.number_or("CACHE_MAX_VALUE_BYTES", defaults.limits.max_value_bytes, 1, 64 * 1024 * 1024)?;
        let namespace = env.string_or("CACHE_NAMESPACE", &defaults.namespace);
        if namespace.chars().any(char::is_control) || namespace.len() > 100 {
            return Err(ConfigError::new("CACHE_NAMESPACE", Some(&namespace), "up to 100 printable characters"));
        }
        Ok(Self {
            server: ServerOptions::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            limits: Limits { max_value_bytes, ..defaults.limits },
            memory_capacity_bytes: env.number_or("CACHE_MEMORY_BYTES", defaults.memory_capacity_bytes, 1024 * 1024, 1 << 40)?,
            namespace,
            health_interval: defaults.health_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pick_the_memory_backend() {
        let config = CacheConfig::from_env(&Env::from_pairs([])).unwrap();
        assert!(config.redis.is_none());
        assert_eq!(config.limits.max_value_bytes, 1024 * 1024);
    }

    #[test]
    fn a_bad_value_limit_is_refused() {
        let env = Env::from_pairs([("CACHE_MAX_VALUE_BYTES", "-5")]);
        assert!(CacheConfig::from_env(&env).unwrap_err().to_string().starts_with("invalid CACHE_MAX_VALUE_BYTES"));
    }
}
