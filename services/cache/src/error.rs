//! The cache service's error, and its one mapping to a gRPC status.

use tonic::Status;

/// What can go wrong in the cache service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The request breaks a documented limit; the message says which.
    #[error("{0}")]
    InvalidArgument(String),
    /// The backend (Redis) is unreachable or timed out.
    #[error("cache backend unavailable: {0}")]
    Unavailable(String),
    /// The backend answered something unexpected (a defect).
    #[error("cache backend error: {0}")]
    Internal(String),
}

impl From<CacheError> for Status {
    fn from(error: CacheError) -> Self {
        match error {
            CacheError::InvalidArgument(message) => Status::invalid_argument(message),
            CacheError::Unavailable(_) => Status::unavailable(error.to_string()),
            CacheError::Internal(_) => Status::internal(error.to_string()),
        }
    }
}

impl From<redis::RedisError> for CacheError {
    fn from(error: redis::RedisError) -> Self {
        // redis-rs error texts carry the command and the server's answer,
        // never the connection URL or password.
        if error.is_timeout() || error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() || error.is_unrecoverable_error() {
            CacheError::Unavailable(error.to_string())
        } else {
            CacheError::Internal(error.to_string())
        }
    }
}
