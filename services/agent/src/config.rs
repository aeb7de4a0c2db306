//! Agent service configuration.

use std::{path::PathBuf, time::Duration};

use sheetmesh_common::config::{ClientOptions, ConfigError, Env, RedisConfig, ServerOptions};

use crate::{answer::AgentConfig, llm::LlmConfig};

/// Default `CACHE_URL`.
pub const DEFAULT_CACHE_URL: &str = "http://127.0.0.1:50053";
/// Default `SHEETS_SYNC_URL`.
pub const DEFAULT_SHEETS_SYNC_URL: &str = "http://127.0.0.1:50052";

/// Everything the agent service needs to start.
#[derive(Debug, Clone)]
pub struct AgentServiceConfig {
    /// gRPC server behaviour (`TIMEOUT`, `MAX_CONCURRENT`, `KEEP_ALIVE`).
    pub server: ServerOptions,
    /// How the agent dials the cache and sheets-sync.
    pub client: ClientOptions,
    /// `CACHE_URL`.
    pub cache_url: String,
    /// `SHEETS_SYNC_URL`.
    pub sheets_sync_url: String,
    /// `OPENAI_API_KEY` / `OPENAI_BASE_URL` / `OPENAI_MODEL`; `None` = offline.
    /// `OPENAI_EMBEDDING_MODEL` (e.g. `text-embedding-3-small`, unset by
    /// default) turns on embeddings of every row, fused with BM25 in search,
    /// through the same server and key; it is ignored when offline.
    pub llm: Option<LlmConfig>,
    /// Redis for conversation memory (`REDIS_URL`…); `None` = SQLite.
    pub redis: Option<RedisConfig>,
    /// `DATA_DIR` (default `./data`): where `memory.db` lives.
    pub data_dir: PathBuf,
    /// `MEMORY_TTL` (default 30 days): how long an idle conversation is kept
    /// on Redis.
    pub memory_ttl: Duration,
    /// The answer pipeline's tunables (`ANSWER_CACHE_TTL`, default 1 h).
    pub answer: AgentConfig,
}

impl AgentServiceConfig {
    /// Reads the agent's variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let server = ServerOptions::from_env(env)?;
        let client = ClientOptions::from_env(env)?;
        let llm = LlmConfig::from_lookup(|name| env.get(name))
            .map_err(|_| {
                ConfigError::new("OPENAI_BASE_URL", env.get("OPENAI_BASE_URL").as_deref(), "an http:// or https:// URL such as https://api.openai.com/v1")
            })?
            .map(|mut llm| {
                // Each LLM attempt gets the request timeout; retries fit in
                // the caller's deadline or end in a degraded answer.
                llm.timeout = server.request_timeout;
                llm.embedding_model = env.get("OPENAI_EMBEDDING_MODEL").map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
                llm
            });
        if llm.is_none() && env.get("OPENAI_EMBEDDING_MODEL").is_some_and(|m| !m.trim().is_empty()) {
            tracing::warn!("OPENAI_EMBEDDING_MODEL is set but no LLM is configured (OPENAI_API_KEY / OPENAI_BASE_URL): search stays BM25-only");
        }
        let mut answer = AgentConfig {
            cache_ttl: env.duration_or("ANSWER_CACHE_TTL", Duration::from_secs(3600), Duration::from_secs(1), Duration::from_secs(30 * 24 * 3600))?,
            ..AgentConfig::default()
        };
        // A lease wait must end before the cache call's own deadline.
        answer.lease_wait = answer.lease_wait.min(client.request_timeout.saturating_sub(Duration::from_secs(1)).max(Duration::from_millis(100)));
        Ok(Self {
            server,
            client,
            cache_url: env.string_or("CACHE_URL", DEFAULT_CACHE_URL),
            sheets_sync_url: env.string_or("SHEETS_SYNC_URL", DEFAULT_SHEETS_SYNC_URL),
            llm,
            redis: RedisConfig::from_env(env)?,
            data_dir: PathBuf::from(env.string_or("DATA_DIR", "./data")),
            memory_ttl: env.duration_or("MEMORY_TTL", Duration::from_secs(30 * 24 * 3600), Duration::from_secs(60), Duration::from_secs(365 * 24 * 3600))?,
            answer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_llm_variables_mean_offline_and_sqlite_memory() {
        let config = AgentServiceConfig::from_env(&Env::from_pairs([])).unwrap();
        assert!(config.llm.is_none());
        assert!(config.redis.is_none());
        assert_eq!(config.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn a_bad_llm_url_names_the_variable_and_the_key_never_prints() {
        let env = Env::from_pairs([("OPENAI_BASE_URL", "ftp://x"), ("OPENAI_API_KEY", "sk-secret")]);
        let error = AgentServiceConfig::from_env(&env).unwrap_err().to_string();
        assert!(error.contains("OPENAI_BASE_URL") && !error.contains("sk-secret"), "{error}");
        let env = Env::from_pairs([("OPENAI_API_KEY", "sk-secret"), ("TIMEOUT", "5s")]);
        let config = AgentServiceConfig::from_env(&env).unwrap();
        assert_eq!(config.llm.as_ref().unwrap().timeout, Duration::from_secs(5));
        assert!(!format!("{config:?}").contains("sk-secret"));
    }

    #[test]
    fn an_embedding_model_needs_the_llm() {
        let env = Env::from_pairs([("OPENAI_API_KEY", "sk-secret"), ("OPENAI_EMBEDDING_MODEL", " text-embedding-3-small ")]);
        let config = AgentServiceConfig::from_env(&env).unwrap();
        assert_eq!(config.llm.unwrap().embedding_model.as_deref(), Some("text-embedding-3-small"));
        let env = Env::from_pairs([("OPENAI_API_KEY", "sk-secret")]);
        assert_eq!(AgentServiceConfig::from_env(&env).unwrap().llm.unwrap().embedding_model, None);
        let env = Env::from_pairs([("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")]);
        assert!(AgentServiceConfig::from_env(&env).unwrap().llm.is_none(), "offline: nothing to embed with");
    }
}
