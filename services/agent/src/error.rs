//! The crate's one error type. Messages name what failed and with which input,
//! and never carry secrets (the OpenAI API key is held by async-openai's
//! `SecretString` and never formatted).

use std::time::Duration;

/// Everything that can go wrong in the agent's domain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request argument is out of its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A conversation id that is unknown or was deleted.
    #[error("conversation {0:?} not found")]
    ConversationNotFound(String),
    /// A tool call named a sheet that is not indexed.
    #[error("unknown sheet {sheet:?}; known sheets: {known}")]
    UnknownSheet { sheet: String, known: String },
    /// A tool call named a sheet title that exists in several spreadsheets.
    #[error("sheet {sheet:?} is ambiguous; it exists in spreadsheets: {choices}")]
    AmbiguousSheet { sheet: String, choices: String },
    /// A tool call named a column the sheet does not have.
    #[error("sheet {sheet:?} has no column {column:?}; its columns are: {known}")]
    UnknownColumn { sheet: String, column: String, known: String },
    /// Tool-call arguments that do not match the tool's schema.
    #[error("bad arguments for tool {tool}: {message}")]
    ToolArguments { tool: String, message: String },
    /// The search index failed (tantivy).
    #[error("search index: {0}")]
    Index(String),
    /// The LLM did not answer within the per-call timeout.
    #[error("the language model did not answer within {0:?}")]
    LlmTimeout(Duration),
    /// The LLM answered with an error status (after any retries).
    #[error("the language model answered HTTP {status}: {message}")]
    LlmStatus { status: u16, message: String },
    /// Transport or protocol failure talking to the LLM.
    #[error("the language model request failed: {0}")]
    Llm(String),
    /// The LLM configuration is unusable.
    #[error("LLM configuration: {0}")]
    LlmConfig(String),
    /// The answer cache failed; callers answer without it.
    #[error("answer cache: {0}")]
    Cache(String),
    /// The conversation memory backend failed.
    #[error("conversation memory ({backend}): {message}")]
    Memory { backend: &'static str, message: String },
    /// The rows source (sheets-sync) failed.
    #[error("sheet source: {0}")]
    Source(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn sqlite(err: impl std::fmt::Display) -> Self {
        Self::Memory { backend: "sqlite", message: err.to_string() }
    }

    pub(crate) fn redis(err: impl std::fmt::Display) -> Self {
        Self::Memory { backend: "redis", message: err.to_string() }
    }

    pub(crate) fn index(err: impl std::fmt::Display) -> Self {
        Self::Index(err.to_string())
    }
}

/// One place maps domain errors to gRPC statuses; exhaustive on purpose so a
/// new variant cannot be forgotten.
impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        match err {
            Error::InvalidArgument(_)
            | Error::UnknownSheet { .. }
            | Error::AmbiguousSheet { .. }
            | Error::UnknownColumn { .. }
            | Error::ToolArguments { .. } => tonic::Status::invalid_argument(message),
            Error::ConversationNotFound(_) => tonic::Status::not_found(message),
            Error::LlmTimeout(_) => tonic::Status::deadline_exceeded(message),
            Error::LlmStatus { .. } | Error::Llm(_) | Error::Cache(_) | Error::Memory { .. } | Error::Source(_) => tonic::Status::unavailable(message),
            Error::Index(_) | Error::LlmConfig(_) => tonic::Status::internal(message),
        }
    }
}
