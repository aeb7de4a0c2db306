//! The LLM client: any OpenAI-compatible chat-completions API through
//! async-openai, with a timeout per call, retries (see [`retry`]), a
//! concurrency limit, streaming deltas and tool calls; and, with an
//! embedding model configured, batched embeddings ([`LlmClient::embed`]).

mod embed;
pub mod retry;
mod stream;
mod types;

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use serde_json::{Value as Json, json};
use tokio::sync::Semaphore;

pub use embed::EMBED_BATCH;
pub use retry::RetryPolicy;
pub use stream::{LlmStream, StreamEvent};
pub use types::{ChatMessage, Completion, FunctionCall, ToolCall};

use crate::error::{Error, Result};
use types::CompletionResponse;

/// The model used when `OPENAI_MODEL` is unset.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// The API base used when `OPENAI_BASE_URL` is unset.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How to reach the LLM.
#[derive(Clone)]
pub struct LlmConfig {
    /// Bearer key; `None` for servers that need none (Ollama, vLLM).
    pub api_key: Option<String>,
    /// API base, including the version path (`…/v1`).
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// Embedding model (`OPENAI_EMBEDDING_MODEL`), e.g.
    /// `text-embedding-3-small`; `None` = BM25-only search.
    pub embedding_model: Option<String>,
    /// Timeout of each attempt, and of each read while a response streams.
    pub timeout: Duration,
    /// Retries on 429/5xx.
    pub max_retries: usize,
    /// First backoff delay.
    pub backoff_min: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// Longest `Retry-After` worth waiting for.
    pub max_retry_after: Duration,
    /// LLM calls in flight at once (more wait for a slot).
    pub max_concurrent: usize,
}

// By hand, so that the API key can never reach a log line.
impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("embedding_model", &self.embedding_model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

impl LlmConfig {
    /// Defaults for `base_url` and `model`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, api_key: Option<String>) -> Self {
        Self {
            api_key,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            model: model.into(),
            embedding_model: None,
            timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
            max_concurrent: 16,
        }
    }

    /// `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_MODEL` from `lookup`
    /// (e.g. `|k| std::env::var(k).ok()`). `None` (offline mode) unless a key
    /// or a base URL is set: a local server may need no key.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let get = |k: &str| lookup(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let api_key = get("OPENAI_API_KEY");
        let base_url = get("OPENAI_BASE_URL");
        if api_key.is_none() && base_url.is_none() {
            return Ok(None);
        }
        let base_url = base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::LlmConfig(format!("OPENAI_BASE_URL must be an http:// or https:// URL, got {base_url:?}")));
        }
        let model = get("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        Ok(Some(Self::new(base_url, model, api_key)))
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            min_delay: self.backoff_min,
            max_delay: self.backoff_max,
            max_retry_after: self.max_retry_after,
            attempt_timeout: self.timeout,
        }
    }
}

/// A client for one model.
#[derive(Clone)]
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    model: String,
    embedding_model: Option<String>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("model", &self.model)
            .field("embedding_model", &self.embedding_model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    /// A client for `config`.
    pub fn new(config: &LlmConfig) -> Result<Self> {
        // reqwest is built without a bundled crypto provider so that we choose
        // ring (no aws-lc/cmake build); it must be the process default before
        // a client is built. Another crate installing one first is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            // Per read, not per response: a stream may run long, but a silent
            // server is a hung one.
            .read_timeout(config.timeout)
            .build()
            .map_err(|e| Error::LlmConfig(format!("building the HTTP client: {e}")))?;
        let openai = OpenAIConfig::new().with_api_base(config.base_url.clone()).with_api_key(config.api_key.clone().unwrap_or_default());
        let client = Client::build(http.clone(), openai).with_http_service(retry::RetryingTransport::new(http, config.retry_policy()));
        Ok(Self {
            client,
            model: config.model.clone(),
            embedding_model: config.embedding_model.clone(),
            permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            timeout: config.timeout,
        })
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One chat completion (not streamed). `tools` are OpenAI tool
    /// definitions; empty offers none.
    pub async fn complete(&self, messages: &[ChatMessage], tools: &[Json]) -> Result<Completion> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Llm("client closed".into()))?;
        let body = self.body(messages, tools, false);
        let response: CompletionResponse = self.client.chat().create_byot(body).await.map_err(|e| map_error(e, self.timeout))?;
        let message = response.choices.into_iter().next().ok_or_else(|| Error::Llm("the response had no choices".into()))?.message;
        Ok(Completion { content: message.content, tool_calls: message.tool_calls.unwrap_or_default() })
    }

    /// A streamed chat completion: text deltas as they arrive, then the tool
    /// calls if the model asked for any. Dropping the stream drops the HTTP
    /// response, which closes the upstream connection.
    pub async fn complete_stream(&self, messages: &[ChatMessage], tools: &[Json]) -> Result<LlmStream> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(|_| Error::Llm("client closed".into()))?;
        let body = self.body(messages, tools, true);
        let inner = self.client.chat().create_stream_byot(body).await.map_err(|e| map_error(e, self.timeout))?;
        Ok(LlmStream::new(inner, permit, self.timeout))
    }

    fn body(&self, messages: &[ChatMessage], tools: &[Json], stream: bool) -> Json {
        let mut body = json!({"model": self.model, "messages": messages});
        if !tools.is_empty() {
            body["tools"] = Json::Array(tools.to_vec());
            body["tool_choice"] = json!("auto");
        }
        if stream {
            body["stream"] = json!(true);
        }
        body
    }
}

/// async-openai's errors in our terms (the key is never part of them: it
/// travels only in a header).
pub(crate) fn map_error(err: OpenAIError, timeout: Duration) -> Error {
    match err {
        OpenAIError::ApiError(e) => {
            let mut message = e.api_error.message;
            message.truncate(300);
            Error::LlmStatus { status: e.status_code.as_u16(), message }
        }
        OpenAIError::Boxed(e) if e.is::<retry::AttemptTimedOut>() => Error::LlmTimeout(timeout),
        OpenAIError::Reqwest(e) if e.is_timeout() => Error::LlmTimeout(timeout),
        OpenAIError::StreamError(e) if e.to_string().contains("timed out") => Error::LlmTimeout(timeout),
        OpenAIError::JSONDeserialize(e, _) => Error::Llm(format!("unreadable response: {e}")),
        other => Error::Llm(other.to_string()),
    }
}
