//! The sheetmesh agent: answers plain-language questions from the rows of
//! synced sheets, with row citations.
//!
//! The domain modules are transport-free; [`grpc`] holds the thin
//! transports and [`serve`] wires everything together.
//!
//! # Layout
//! - [`config`] — [`AgentServiceConfig`] from the environment.
//! - [`grpc`] — the tonic service, and the CacheService / SheetsService
//!   clients behind [`answer::AnswerCache`] and [`follow::SheetSource`].
//! - [`index`] — the in-memory tantivy index over every row, plus the typed
//!   rows of each sheet ([`index::Sheet`]); atomic per-sheet replacement.
//! - [`tools`] — exact `filter_rows` / `aggregate` over typed cells, their
//!   OpenAI tool definitions and execution from tool-call JSON.
//! - [`prompt`] — system instructions, one line per row, conversation tail,
//!   within a token budget; [`prompt::PROMPT_VERSION`].
//! - [`llm`] — the OpenAI-compatible client (async-openai): timeout, retries
//!   honouring `Retry-After`, a concurrency limit, streaming, tool calls,
//!   batched embeddings.
//! - [`semantic`] — with `OPENAI_EMBEDDING_MODEL`: row embeddings computed
//!   once per sheet version in the background, query embeddings, fused with
//!   BM25 by reciprocal rank fusion in the index; BM25-only on any failure.
//! - [`answer`] — the orchestration: retrieve → prompt → LLM + tools → answer
//!   with citations, or a retrieval-only answer when the LLM is absent or
//!   failing; the answer cache ([`answer::AnswerCache`]) with single-flight.
//! - [`memory`] — conversation memory: SQLite and Redis backends behind
//!   [`memory::ConversationStore`].
//! - [`follow`] — loading the index from a rows source and following its
//!   changes ([`follow::SheetSource`]).
//! - [`cells`] — reading typed cells.
//! - [`error`] — the crate's error type and its gRPC status mapping.
//! - `testing` (feature `test-util`) — an OpenAI stand-in server and an
//!   in-process `AnswerCache` with the CacheService semantics.

pub mod answer;
pub mod cells;
pub mod config;
pub mod error;
pub mod follow;
pub mod grpc;
pub mod index;
pub mod llm;
pub mod memory;
pub mod prompt;
pub mod semantic;
pub mod tools;

#[cfg(feature = "test-util")]
pub mod testing;

pub use config::AgentServiceConfig;
pub use error::{Error, Result};

use std::{future::Future, sync::Arc, time::Duration};

use sheetmesh_common::grpc::{GrpcChannel, GrpcServer, Health, ServeError, channel};
use sheetmesh_proto::{service_names, v1::agent_service_server::AgentServiceServer};
use tokio::net::TcpListener;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::{
    answer::{Agent, AnswerCache},
    follow::SheetSource,
    index::SheetIndex,
    llm::LlmClient,
    memory::ConversationStore,
    semantic::SemanticSearch,
};

/// Serves the agent on `listener` until `shutdown` resolves.
///
/// NOT_SERVING until every synced sheet is indexed (retrying while
/// sheets-sync is unreachable), then SERVING; the index follows
/// `WatchChanges` from then on.
pub async fn serve(config: AgentServiceConfig, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
    let cache_channel = channel("CACHE_URL", &config.cache_url, &config.client).map_err(ServeError::setup("CACHE_URL"))?;
    let sheets_channel = channel("SHEETS_SYNC_URL", &config.sheets_sync_url, &config.client).map_err(ServeError::setup("SHEETS_SYNC_URL"))?;

    let memory: Arc<dyn ConversationStore> = match &config.redis {
        Some(redis) => {
            let connection = sheetmesh_common::redis::connect(redis).map_err(ServeError::setup(format!("Redis at {}", redis.display_url())))?;
            Arc::new(memory::RedisStore::new(connection, "sheetmesh:agent:", config.memory_ttl))
        }
        None => Arc::new(
            memory::SqliteStore::open_in(&config.data_dir).await.map_err(ServeError::setup(format!("conversation memory in {}", config.data_dir.display())))?,
        ),
    };
    let llm = config.llm.as_ref().map(LlmClient::new).transpose().map_err(ServeError::setup("LLM client"))?;
    let cache: Arc<dyn AnswerCache> = Arc::new(grpc::GrpcAnswerCache::new(cache_channel));
    let sheets_health = HealthClient::new(sheets_channel.clone());
    let source: Arc<dyn SheetSource> = Arc::new(grpc::GrpcSheetSource::new(sheets_channel));
    let index = Arc::new(SheetIndex::new().map_err(ServeError::setup("search index"))?);
    let semantic = llm.clone().and_then(SemanticSearch::new).map(Arc::new);
    let mut agent = Agent::new(Arc::clone(&index), llm, Some(cache), memory, config.answer.clone());
    if let Some(semantic) = &semantic {
        agent = agent.with_semantic(Arc::clone(semantic));
    }
    let agent = Arc::new(agent);
    let embeddings = semantic.as_ref().map_or("off", |s| s.model());
    tracing::info!(llm = %agent.llm_mode(), embeddings, memory = agent_memory_backend(&config), "agent starting");
    // Embeds each sheet version as it enters the index, without holding up
    // loading (or SERVING): search is BM25-only for a sheet until then.
    let embedder = semantic.map(|semantic| tokio::spawn(semantic.follow(Arc::clone(&index))));

    let server = GrpcServer::new(config.server.clone(), service_names::AGENT).await;
    let loader = tokio::spawn(load_then_follow(Arc::clone(&agent), source, sheets_health, server.health()));
    let result = server.serve(AgentServiceServer::new(grpc::AgentGrpc::new(agent)), listener, shutdown).await;
    loader.abort();
    if let Some(embedder) = embedder {
        embedder.abort();
    }
    result
}

fn agent_memory_backend(config: &AgentServiceConfig) -> &'static str {
    if config.redis.is_some() { "redis" } else { "sqlite" }
}

/// Waits for sheets-sync's first sync (its health turns SERVING then),
/// indexes every synced sheet (retrying with backoff while sheets-sync is
/// down), reports SERVING, then follows changes for good.
async fn load_then_follow(agent: Arc<Agent>, source: Arc<dyn SheetSource>, mut sheets_health: HealthClient<GrpcChannel>, health: Health) {
    let mut delay = Duration::from_millis(100);
    loop {
        let request = HealthCheckRequest { service: service_names::SHEETS.to_owned() };
        let sheets_ready = matches!(sheets_health.check(request).await, Ok(response) if response.get_ref().status == ServingStatus::Serving as i32);
        let loaded = if sheets_ready {
            follow::load_all(agent.index(), source.as_ref()).await
        } else {
            Err(Error::Source("sheets-sync has not finished its first sync".to_owned()))
        };
        match loaded {
            Ok(sheets) => {
                tracing::info!(sheets, rows = agent.status().indexed_rows, "index loaded: SERVING");
                break;
            }
            Err(error) => {
                tracing::warn!(%error, ?delay, "loading the index failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    agent.mark_ready();
    health.set_serving().await;
    follow::follow(Arc::clone(agent.index()), source, std::future::pending()).await;
}
