//! Test doubles (feature `test-util`), shared by this crate's tests, the
//! lead's integration tests and the benchmarks:
//! - [`OpenAiStandIn`]: a real HTTP server speaking the public OpenAI
//!   chat-completions and embeddings shapes, scripted and recording.
//! - [`MemoryAnswerCache`]: an in-process [`crate::answer::AnswerCache`] with
//!   CacheService's Get/Set/Lease/ReleaseLease semantics — a double of OUR
//!   cache contract, used only to test the agent logic in isolation.

mod cache;
mod openai;

pub use cache::MemoryAnswerCache;
pub use openai::{Behaviour, EMBEDDING_DIMS, EmbedFn, OpenAiStandIn, Reply, Responder, bag_of_words, bag_of_words_with_synonyms, default_responder};
