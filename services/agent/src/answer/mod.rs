//! The orchestration, transport-free: question → retrieve → (cache) → LLM
//! with tools, or a retrieval-only answer → memory. `Chat`, `ChatStream`,
//! `Search`, the conversation RPCs and `GetStatus` are thin calls into
//! [`Agent`].

mod cache;
mod flow;
mod offline;
mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message;
use sheetmesh_proto::pbjson_types::Timestamp;
use sheetmesh_proto::v1::chat_turn::Role;
use sheetmesh_proto::v1::{AgentStatus, ChatRequest, ChatResponse, ChatTurn, Citation, Conversation, SearchRequest, SearchResponse};

pub use cache::{AnswerCache, LeaseOutcome, answer_key, answer_tags, normalise_question};
pub use offline::{RETRIEVAL_MODEL, cited_refs};
pub use stream::ChatEventStream;

use crate::error::{Error, Result};
use crate::index::{Sheet, SheetIndex};
use crate::llm::LlmClient;
use crate::memory::{self, ConversationStore};
use crate::semantic::SemanticSearch;
use cache::LeaseGuard;

/// Tunables of the answer pipeline.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Rows retrieved for the prompt.
    pub top_k: usize,
    /// Prompt size budget in (estimated) tokens.
    pub prompt_budget_tokens: usize,
    /// Stored turns fed back as the conversation tail.
    pub tail_turns: usize,
    /// Tool-call rounds before the model must answer.
    pub max_tool_rounds: usize,
    /// How long a cached answer lives.
    pub cache_ttl: Duration,
    /// How long a single-flight lease lasts: more than an answer takes.
    pub lease: Duration,
    /// How long a caller waits for another caller's answer.
    pub lease_wait: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            top_k: 8,
            prompt_budget_tokens: 3_000,
            tail_turns: 6,
            max_tool_rounds: 3,
            cache_ttl: Duration::from_secs(3_600),
            lease: Duration::from_secs(90),
            lease_wait: Duration::from_secs(90),
        }
    }
}

/// One question, as `ChatRequest` carries it.
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// The question, 1 to 8,000 characters.
    pub message: String,
    /// Conversation to continue; empty starts one.
    pub conversation_id: String,
    /// Sheet titles in scope; empty = all.
    pub sheets: Vec<String>,
    /// Neither read nor write the answer cache.
    pub bypass_cache: bool,
    /// Caller-supplied tail; when non-empty, memory is neither read nor written.
    pub history: Vec<ChatTurn>,
}

impl From<ChatRequest> for Question {
    fn from(r: ChatRequest) -> Self {
        Self { message: r.message, conversation_id: r.conversation_id, sheets: r.sheets, bypass_cache: r.bypass_cache, history: r.history }
    }
}

/// A question made ready to answer.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    question: String,
    /// Where to store the turn; `None` when the caller supplied history.
    conversation_id: Option<String>,
    tail: Vec<ChatTurn>,
    /// The rows for the prompt; filled by [`Agent::retrieve_rows`] once the
    /// answer cache has missed.
    rows: Vec<Citation>,
    /// The sheet titles the question was restricted to (empty = all).
    sheet_filter: Vec<String>,
    scope: Vec<Arc<Sheet>>,
    /// `None` when the cache is not used for this question.
    key: Option<String>,
}

/// The agent: index, LLM, cache and memory together.
#[derive(Debug)]
pub struct Agent {
    index: Arc<SheetIndex>,
    llm: Option<LlmClient>,
    cache: Option<Arc<dyn AnswerCache>>,
    memory: Arc<dyn ConversationStore>,
    config: AgentConfig,
    ready: AtomicBool,
    semantic: Option<Arc<SemanticSearch>>,
}

impl Agent {
    /// An agent; `llm: None` answers retrieval-only, `cache: None` uncached.
    pub fn new(
        index: Arc<SheetIndex>,
        llm: Option<LlmClient>,
        cache: Option<Arc<dyn AnswerCache>>,
        memory: Arc<dyn ConversationStore>,
        config: AgentConfig,
    ) -> Self {
        Self { index, llm, cache, memory, config, ready: AtomicBool::new(false), semantic: None }
    }

    /// Fuses embeddings with BM25 wherever rows are retrieved (`Search`, and
    /// the rows of a `Chat` prompt). Someone must run
    /// [`SemanticSearch::follow`] on the index for rows to get embeddings.
    pub fn with_semantic(mut self, semantic: Arc<SemanticSearch>) -> Self {
        self.semantic = Some(semantic);
        self
    }

    /// The semantic search, when embeddings are configured.
    pub fn semantic(&self) -> Option<&Arc<SemanticSearch>> {
        self.semantic.as_ref()
    }

    /// The row index (for loading and following sheets).
    pub fn index(&self) -> &Arc<SheetIndex> {
        &self.index
    }

    /// Marks the initial index load as done (health turns SERVING).
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the initial index load finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// `openai:<model>` or `offline`.
    pub fn llm_mode(&self) -> String {
        self.llm.as_ref().map_or_else(|| "offline".to_owned(), |l| format!("openai:{}", l.model()))
    }

    /// `GetStatus`.
    pub fn status(&self) -> AgentStatus {
        let stats = self.index.stats();
        AgentStatus {
            llm_mode: self.llm_mode(),
            indexed_rows: stats.rows,
            indexed_sheets: stats.sheets,
            last_index_update: stats.last_update.map(|t| {
                let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                Timestamp { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
            }),
            ready: self.is_ready(),
            embedding_model: self.semantic.as_ref().map(|semantic| semantic.model().to_owned()).unwrap_or_default(),
            // Only semantic search stores vectors: without it this is 0.
            embedded_sheets: self.index.embedded_sheets(),
        }
    }

    /// `Search`: ranked rows without the chat model.
    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResponse> {
        let chars = request.query.chars().count();
        if !(1..=2_000).contains(&chars) || request.query.trim().is_empty() {
            return Err(Error::InvalidArgument(format!("query must be 1 to 2,000 characters, got {chars}")));
        }
        let limit = match request.limit {
            0 => 10,
            n @ 1..=100 => n as usize,
            n => return Err(Error::InvalidArgument(format!("limit must be 1 to 100, got {n}"))),
        };
        Ok(SearchResponse { hits: self.retrieve(&request.query, &request.sheets, limit).await? })
    }

    /// The best `limit` rows for `query`: BM25, fused with embeddings when
    /// the sheets in scope have them and the query could be embedded.
    async fn retrieve(&self, query: &str, sheets: &[String], limit: usize) -> Result<Vec<Citation>> {
        let vector = match &self.semantic {
            Some(semantic) => semantic.query_vector(&self.index, query, sheets).await,
            None => None,
        };
        let (index, query, sheets) = (Arc::clone(&self.index), query.to_owned(), sheets.to_vec());
        // Ranking is CPU work over the index; keep it off the async workers.
        tokio::task::spawn_blocking(move || match vector {
            Some(vector) => index.search_hybrid(&query, &vector, &sheets, limit),
            None => index.search(&query, &sheets, limit),
        })
        .await
        .map_err(|error| Error::Index(format!("search task failed: {error}")))?
    }

    /// `GetConversation`.
    pub async fn get_conversation(&self, id: &str) -> Result<Conversation> {
        memory::validate_conversation_id(id)?;
        self.memory.get(id).await?.ok_or_else(|| Error::ConversationNotFound(id.to_owned()))
    }

    /// `DeleteConversation`.
    pub async fn delete_conversation(&self, id: &str) -> Result<()> {
        memory::validate_conversation_id(id)?;
        if self.memory.delete(id).await? { Ok(()) } else { Err(Error::ConversationNotFound(id.to_owned())) }
    }

    /// `Chat`. Fails only on invalid arguments: an absent or failing LLM,
    /// cache or memory degrades the answer instead.
    pub async fn chat(&self, question: Question) -> Result<ChatResponse> {
        let mut prepared = self.prepare(question).await?;
        let response = match (prepared.key.clone(), &self.cache) {
            (Some(key), Some(cache)) => self.answer_single_flight(&mut prepared, &key, Arc::clone(cache)).await,
            _ => {
                self.retrieve_rows(&mut prepared).await;
                self.compute(&prepared).await
            }
        };
        Ok(self.remember(&prepared, response).await)
    }

    async fn answer_single_flight(&self, p: &mut Prepared, key: &str, cache: Arc<dyn AnswerCache>) -> ChatResponse {
        match cache.lease(key, self.config.lease, self.config.lease_wait).await {
            Ok(LeaseOutcome::Hit(bytes)) => match decode_cached(&bytes) {
                Some(response) => return response,
                None => tracing::warn!(key, "unreadable cached answer; recomputing"),
            },
            Ok(LeaseOutcome::Granted { token }) => {
                let guard = LeaseGuard::new(Arc::clone(&cache), key.to_owned(), token);
                self.retrieve_rows(p).await;
                let response = self.compute(p).await;
                self.settle(guard, p, &response).await;
                return response;
            }
            Ok(LeaseOutcome::WaitTimeout | LeaseOutcome::Unavailable) => {}
            Err(err) => tracing::warn!(error = %err, "answer cache unavailable; answering uncached"),
        }
        self.retrieve_rows(p).await;
        self.compute(p).await
    }

    /// Retrieves the rows for the prompt. Done only once the answer cache
    /// has missed: the key depends on the versions of the sheets in scope,
    /// not on the rows, so a cache hit never pays for a search.
    pub(crate) async fn retrieve_rows(&self, p: &mut Prepared) {
        p.rows = self.retrieve(&p.question, &p.sheet_filter, self.config.top_k).await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "search failed; answering without retrieved rows");
            Vec::new()
        });
    }

    /// Stores a good answer under the lease; gives the lease up otherwise (a
    /// degraded answer reflects a passing failure and must not be served).
    async fn settle(&self, guard: LeaseGuard, p: &Prepared, response: &ChatResponse) {
        if response.degraded {
            guard.release().await;
        } else {
            let mut stored = response.clone();
            stored.conversation_id.clear();
            guard.fulfil(stored.encode_to_vec(), self.config.cache_ttl, answer_tags(&p.scope)).await;
        }
    }

    async fn prepare(&self, q: Question) -> Result<Prepared> {
        let chars = q.message.chars().count();
        if !(1..=8_000).contains(&chars) || q.message.trim().is_empty() {
            return Err(Error::InvalidArgument(format!("message must be 1 to 8,000 characters, got {chars}")));
        }
        let (conversation_id, tail) = if !q.history.is_empty() {
            let skip = q.history.len().saturating_sub(self.config.tail_turns);
            (None, q.history[skip..].to_vec())
        } else if q.conversation_id.is_empty() {
            (Some(memory::new_conversation_id()), Vec::new())
        } else {
            memory::validate_conversation_id(&q.conversation_id)?;
            let tail = self.memory.tail(&q.conversation_id, self.config.tail_turns).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "reading conversation memory failed; answering without the tail");
                Vec::new()
            });
            (Some(q.conversation_id), tail)
        };
        let scope = self.index.scope(&q.sheets);
        // Retrieval-only answers are cheap and deterministic: caching them
        // would only add a round trip.
        let key = match (&self.llm, &self.cache) {
            (Some(llm), Some(_)) if !q.bypass_cache => Some(answer_key(&q.message, &tail, &scope, llm.model())),
            _ => None,
        };
        Ok(Prepared { question: q.message, conversation_id, tail, rows: Vec::new(), sheet_filter: q.sheets, scope, key })
    }

    /// Appends the turn to memory (when the conversation is stored) and sets
    /// the response's conversation id. A memory failure is logged, not
    /// returned: the answer is already there.
    async fn remember(&self, p: &Prepared, mut response: ChatResponse) -> ChatResponse {
        let Some(id) = &p.conversation_id else {
            response.conversation_id.clear();
            return response;
        };
        let now = memory::now();
        let turns = [
            ChatTurn { role: Role::User as i32, content: p.question.clone(), citations: vec![], created_at: Some(now) },
            ChatTurn { role: Role::Assistant as i32, content: response.answer.clone(), citations: response.citations.clone(), created_at: Some(now) },
        ];
        if let Err(err) = self.memory.append(id, &turns).await {
            tracing::warn!(error = %err, conversation = %id, "storing the turn failed");
        }
        response.conversation_id = id.clone();
        response
    }
}

fn decode_cached(bytes: &[u8]) -> Option<ChatResponse> {
    let mut response = ChatResponse::decode(bytes).ok()?;
    response.cached = true;
    Some(response)
}

#[cfg(test)]
mod tests;
