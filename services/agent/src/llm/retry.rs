//! The HTTP transport under async-openai: one attempt timeout, and retries on
//! 429/5xx and connection failures with exponential backoff (backon) that
//! honours `Retry-After` / `retry-after-ms`.
//!
//! It replaces async-openai's built-in retry layer (installed through
//! `Client::with_http_service`), whose schedule ignores `Retry-After` and
//! cannot be tuned, so that the behaviour is ours and testable.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::HeaderMap;

/// When and how often a failed LLM request is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Longest backoff delay.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails
    /// at once and the caller degrades instead of keeping the user waiting.
    pub max_retry_after: Duration,
    /// How long one attempt may wait for the response headers. A timed-out
    /// attempt is not retried: the time budget is the user's wait.
    pub attempt_timeout: Duration,
}

/// Raised (boxed in `OpenAIError::Boxed`) when an attempt times out.
#[derive(Debug, thiserror::Error)]
#[error("no response within {0:?}")]
pub struct AttemptTimedOut(pub Duration);

/// A tower service sending async-openai's requests with [`RetryPolicy`].
#[derive(Debug, Clone)]
pub struct RetryingTransport {
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl RetryingTransport {
    /// Sends through `client` with `policy`.
    pub fn new(client: reqwest::Client, policy: RetryPolicy) -> Self {
        Self { client, policy }
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for RetryingTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        Box::pin(send_with_retries(self.client.clone(), self.policy, request))
    }
}

async fn send_with_retries(client: reqwest::Client, policy: RetryPolicy, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(policy.max_retries)
        .build();
    let mut attempt = 0_usize;
    loop {
        attempt += 1;
        let request = factory.build().await?;
        let outcome = tokio::time::timeout(policy.attempt_timeout, client.execute(request)).await;
        let (retry_after, failure): (Option<Duration>, Result<reqwest::Response, OpenAIError>) = match outcome {
            Err(_) => return Err(OpenAIError::Boxed(Box::new(AttemptTimedOut(policy.attempt_timeout)))),
            Ok(Ok(response)) if is_retryable(response.status()) => (retry_after(response.headers()), Ok(response)),
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(err)) if err.is_connect() => (None, Err(OpenAIError::Reqwest(err))),
            Ok(Err(err)) => return Err(OpenAIError::Reqwest(err)),
        };
        let Some(backoff) = delays.next() else { return failure };
        let delay = match retry_after {
            Some(wait) if wait > policy.max_retry_after => return failure,
            Some(wait) => wait,
            None => backoff,
        };
        let status = failure.as_ref().map(|r| r.status().as_u16()).ok();
        tracing::warn!(attempt, ?status, ?delay, "LLM request failed; retrying");
        // Drop the failed response first so its connection is not held while
        // we sleep.
        drop(failure);
        tokio::time::sleep(delay).await;
    }
}

/// 429 (rate limited) and 5xx are worth another try; other 4xx are not.
pub fn is_retryable(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The server's requested wait: OpenAI's `retry-after-ms`, else the standard
/// `Retry-After` in (possibly fractional) seconds. HTTP-date values are
/// ignored: LLM APIs send seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    header("retry-after").and_then(|v| v.parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_prefers_milliseconds_and_reads_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
    }

    #[test]
    fn only_rate_limits_and_server_errors_retry() {
        assert!(is_retryable(reqwest::StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable(reqwest::StatusCode::BAD_GATEWAY));
        assert!(!is_retryable(reqwest::StatusCode::BAD_REQUEST));
        assert!(!is_retryable(reqwest::StatusCode::UNAUTHORIZED));
    }
}
