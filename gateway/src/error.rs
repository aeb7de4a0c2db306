//! The gateway's one error type and its one mapping to an HTTP response.
//!
//! Bodies follow grpc-gateway: `{"code": <gRPC code number>, "message",
//! "details": [...]}`; the HTTP status follows grpc-gateway's
//! `HTTPStatusFromCode`. Both matches are exhaustive (no `_` arm), so a new
//! variant or code cannot be forgotten.

use std::time::Duration;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tonic::Code;

use crate::clients::Service;

/// What can go wrong between a request arriving and its response.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A service answered with a gRPC error (or could not be reached).
    #[error("{}", grpc_message(*.service, .status))]
    Grpc {
        /// Which service.
        service: Service,
        /// What it said.
        status: tonic::Status,
    },
    /// The request body or query is malformed; `field` names the culprit
    /// (`message`, `sheets[0]`), when one can be named.
    #[error("{}", bad_request_message(.field.as_deref(), .message))]
    BadRequest {
        /// The JSON path of the bad field.
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
    /// No API key, or an unknown one.
    #[error("a valid API key is required: send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`")]
    Unauthenticated,
    /// A webhook whose secret, token or signature does not verify.
    #[error("{0}")]
    WebhookRefused(&'static str),
    /// No such route (or a feature that is switched off).
    #[error("{0}")]
    NotFound(String),
    /// The `Host` header is not one of `ALLOWED_HOSTS`.
    #[error("host not allowed")]
    HostNotAllowed,
    /// The request body is larger than `MAX_BODY_BYTES`.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// `MAX_CONCURRENT` requests are already in flight.
    #[error("the gateway is at its concurrency limit; retry shortly")]
    Overloaded,
    /// The API key used up its request budget.
    #[error("rate limit exceeded for this API key; retry in {} s", retry_after_secs(*.retry_after))]
    RateLimited {
        /// When a request will be accepted again.
        retry_after: Duration,
    },
    /// The request did not finish within `TIMEOUT`.
    #[error("the request did not complete within its deadline")]
    Timeout,
    /// A defect or an I/O failure (listener, socket).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// A 400 naming `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest { field: Some(field.into()), message: message.into() }
    }

    /// The gRPC code that stands for this error in the body's `code`.
    pub fn code(&self) -> Code {
        match self {
            Self::Grpc { status, .. } => status.code(),
            Self::BadRequest { .. } | Self::HostNotAllowed => Code::InvalidArgument,
            Self::Unauthenticated | Self::WebhookRefused(_) => Code::Unauthenticated,
            Self::NotFound(_) => Code::NotFound,
            Self::PayloadTooLarge { .. } | Self::RateLimited { .. } => Code::ResourceExhausted,
            Self::Overloaded => Code::Unavailable,
            Self::Timeout => Code::DeadlineExceeded,
            Self::Internal(_) => Code::Internal,
        }
    }

    /// The HTTP status, headers and body of this error.
    pub fn parts(&self) -> (StatusCode, Vec<(header::HeaderName, HeaderValue)>, Value) {
        let retry_after = |seconds: u64| (header::RETRY_AFTER, HeaderValue::from(seconds));
        let (status, headers) = match self {
            Self::Grpc { status, .. } => {
                let http = http_status(status.code());
                // A service that is down or overloaded will likely be back soon.
                let headers = match status.code() {
                    Code::Unavailable | Code::ResourceExhausted => vec![retry_after(1)],
                    _ => Vec::new(),
                };
                (http, headers)
            }
            Self::BadRequest { .. } | Self::HostNotAllowed => (StatusCode::BAD_REQUEST, Vec::new()),
            Self::Unauthenticated => {
                (StatusCode::UNAUTHORIZED, vec![(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sheetmesh\", charset=\"UTF-8\""))])
            }
            Self::WebhookRefused(_) => (StatusCode::UNAUTHORIZED, Vec::new()),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, Vec::new()),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, Vec::new()),
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, vec![retry_after(1)]),
            Self::RateLimited { retry_after: wait } => (StatusCode::TOO_MANY_REQUESTS, vec![retry_after(retry_after_secs(*wait))]),
            Self::Timeout => (StatusCode::GATEWAY_TIMEOUT, Vec::new()),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, Vec::new()),
        };
        let details = match self {
            Self::BadRequest { field: Some(field), message } => vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{ "field": field, "description": message }],
            })],
            _ => Vec::new(),
        };
        (status, headers, json!({ "code": self.code() as i32, "message": self.to_string(), "details": details }))
    }
}

/// gRPC code → HTTP status, exactly as grpc-gateway's `HTTPStatusFromCode`.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // grpc-gateway's "499 Client Closed Request".
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, headers, body) = self.parts();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        }
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().extend(headers);
        response
    }
}

fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn bad_request_message(field: Option<&str>, message: &str) -> String {
    match field {
        Some(field) => format!("invalid field `{field}`: {message}"),
        None => message.to_owned(),
    }
}

fn grpc_message(service: Service, status: &tonic::Status) -> String {
    match status.code() {
        // Transport failures carry tonic's wording ("tcp connect error");
        // say which service instead.
        Code::Unavailable if status.message().is_empty() || status.message().contains("connect") || status.message().contains("transport") => {
            format!("the {} service is unavailable; retry shortly", service.name())
        }
        _ => status.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grpc_code_maps_as_grpc_gateway_does() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, status) in expected {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn a_grpc_error_keeps_its_code_and_message_in_the_body() {
        let error = Error::Grpc { service: Service::Agent, status: tonic::Status::not_found("conversation c1 not found") };
        let (status, headers, body) = error.parts();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(headers.is_empty());
        assert_eq!(body, json!({"code": 5, "message": "conversation c1 not found", "details": []}));
    }

    #[test]
    fn an_unreachable_service_is_503_with_retry_after_and_named() {
        let error = Error::Grpc { service: Service::Sheets, status: tonic::Status::unavailable("tcp connect error") };
        let (status, headers, body) = error.parts();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.iter().any(|(name, value)| name == header::RETRY_AFTER && value == "1"));
        assert_eq!(body["message"], "the sheets-sync service is unavailable; retry shortly");
    }

    #[test]
    fn a_bad_field_is_400_and_named_in_message_and_details() {
        let (status, _, body) = Error::field("message", "is required").parts();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], 3);
        assert_eq!(body["message"], "invalid field `message`: is required");
        assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "message");
    }

    #[test]
    fn edge_errors_carry_their_headers() {
        let (status, headers, _) = Error::Unauthenticated.parts();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.iter().any(|(name, _)| name == header::WWW_AUTHENTICATE));
        let (status, headers, _) = Error::RateLimited { retry_after: Duration::from_millis(1500) }.parts();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(headers.iter().any(|(name, value)| name == header::RETRY_AFTER && value == "2"));
        assert_eq!(Error::PayloadTooLarge { limit: 10 }.parts().0, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(Error::Overloaded.parts().0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(Error::Timeout.parts().0, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(Error::HostNotAllowed.parts().0, StatusCode::BAD_REQUEST);
    }
}
