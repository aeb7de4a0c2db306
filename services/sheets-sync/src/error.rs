//! The crate's one error type. Every variant names what failed and with
//! which input, as one sentence a person can act on; none carries a secret
//! (private keys and access tokens never enter an error).

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, normalising or storing sheets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sheet has more data rows than the configured limit.
    #[error("the sheet has more than {limit} data rows (the limit)")]
    TooManyRows { limit: usize },

    /// A sheet has more columns than the configured limit.
    #[error("the sheet has {found} columns, more than the limit of {limit}")]
    TooManyColumns { found: usize, limit: usize },

    /// One cell holds more text than the configured limit.
    #[error("the cell in row {row}, column {column} has {found} characters, more than the limit of {limit}")]
    CellTooLarge { row: u32, column: usize, found: usize, limit: usize },

    /// A local spreadsheet file could not be read or parsed.
    #[error("could not read spreadsheet file {path}: {message}")]
    LocalFile { path: PathBuf, message: String },

    /// A spreadsheet id that the source does not know.
    #[error("spreadsheet {spreadsheet} is not one this service syncs")]
    UnknownSpreadsheet { spreadsheet: String },

    /// The service-account key file is missing, unreadable or malformed.
    #[error("the Google service-account key {path} is not usable: {message}")]
    Credentials { path: String, message: String },

    /// Google refused to issue an access token.
    #[error("Google refused an access token for {client_email}: {message}")]
    Auth { client_email: String, message: String },

    /// 403: the spreadsheet exists but the service account may not read it.
    #[error("spreadsheet {spreadsheet} is not shared with {client_email} (Google answered 403: {message})")]
    AccessDenied { spreadsheet: String, client_email: String, message: String },

    /// 404: no such spreadsheet (or it was deleted).
    #[error("spreadsheet {spreadsheet} was not found (Google answered 404: {message})")]
    NotFound { spreadsheet: String, message: String },

    /// 429 or 5xx that was still failing when the retries ran out.
    #[error("Google kept failing for {what} after retries (HTTP {status}: {message})")]
    Unavailable { what: String, status: u16, message: String, retry_after: Option<std::time::Duration> },

    /// Any other unexpected answer from Google (400, malformed JSON, …).
    #[error("Google answered {what} with HTTP {status}: {message}")]
    Google { what: String, status: u16, message: String },

    /// The request did not reach Google or the answer did not arrive.
    #[error("could not reach Google for {what}: {source}")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },

    /// The snapshot store (Redis) failed.
    #[error("snapshot store failed to {what}: {source}")]
    Redis {
        what: String,
        #[source]
        source: redis::RedisError,
    },

    /// Stored data could not be decoded (written by an incompatible version).
    #[error("stored {what} could not be decoded: {message}")]
    Corrupt { what: String, message: String },

    /// Another replica holds the sync lease of this spreadsheet.
    #[error("spreadsheet {spreadsheet} is being synced by another replica")]
    Busy { spreadsheet: String },

    /// A request argument is missing or out of its documented range.
    #[error("{0}")]
    InvalidArgument(String),

    /// No synced sheet has this title (in this spreadsheet).
    #[error("no synced sheet is called {sheet:?}{}; known sheets: {known}", in_spreadsheet(spreadsheet))]
    SheetNotFound { sheet: String, spreadsheet: String, known: String },

    /// A page token issued for another version of the sheet.
    #[error("sheet {sheet:?} changed while it was being paged (now version {version}); start again from the first page")]
    PageExpired { sheet: String, version: String },
}

fn in_spreadsheet(spreadsheet: &str) -> String {
    if spreadsheet.is_empty() { String::new() } else { format!(" in spreadsheet {spreadsheet:?}") }
}

/// The one mapping of this crate's errors to gRPC statuses; exhaustive, so
/// a new variant cannot be forgotten.
impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::InvalidArgument(_) => tonic::Status::invalid_argument(message),
            Error::SheetNotFound { .. } | Error::UnknownSpreadsheet { .. } | Error::NotFound { .. } => tonic::Status::not_found(message),
            Error::PageExpired { .. } | Error::TooManyRows { .. } | Error::TooManyColumns { .. } | Error::CellTooLarge { .. } | Error::Credentials { .. } => {
                tonic::Status::failed_precondition(message)
            }
            Error::AccessDenied { .. } => tonic::Status::permission_denied(message),
            Error::Busy { .. } => tonic::Status::aborted(message),
            Error::LocalFile { .. } | Error::Auth { .. } | Error::Unavailable { .. } | Error::Transport { .. } | Error::Redis { .. } => {
                tonic::Status::unavailable(message)
            }
            Error::Google { .. } | Error::Corrupt { .. } => tonic::Status::internal(message),
        }
    }
}

impl Error {
    /// True for failures worth another attempt after a pause (429, 5xx,
    /// network): the backoff loop uses it.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Transport { .. })
    }

    /// The wait Google asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn redis(what: impl Into<String>) -> impl FnOnce(redis::RedisError) -> Error {
        let what = what.into();
        move |source| Error::Redis { what, source }
    }
}
