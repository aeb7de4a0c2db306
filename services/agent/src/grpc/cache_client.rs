//! [`AnswerCache`] over the CacheService gRPC client.

use std::time::Duration;

use async_trait::async_trait;
use sheetmesh_common::grpc::GrpcChannel;
use sheetmesh_proto::v1::{GetRequest, LeaseRequest, ReleaseLeaseRequest, SetRequest, cache_service_client::CacheServiceClient, lease_response::Outcome};
use tonic::Request;

use crate::{
    answer::{AnswerCache, LeaseOutcome},
    error::{Error, Result},
};

/// The answer cache is the cache service.
#[derive(Debug, Clone)]
pub struct GrpcAnswerCache {
    client: CacheServiceClient<GrpcChannel>,
}

impl GrpcAnswerCache {
    /// A cache over `channel` (from `CACHE_URL`).
    pub fn new(channel: GrpcChannel) -> Self {
        Self { client: CacheServiceClient::new(channel) }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn cache_error(status: tonic::Status) -> Error {
    Error::Cache(format!("{:?}: {}", status.code(), status.message()))
}

#[async_trait]
impl AnswerCache for GrpcAnswerCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let response = self.client.clone().get(GetRequest { key: key.to_owned() }).await.map_err(cache_error)?.into_inner();
        Ok(response.found.then(|| response.value.to_vec()))
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration, tags: Vec<String>, lease_token: Option<String>) -> Result<()> {
        let request = SetRequest { key: key.to_owned(), value: value.into(), ttl_ms: millis(ttl).max(1), tags, lease_token: lease_token.unwrap_or_default() };
        self.client.clone().set(request).await.map_err(cache_error)?;
        Ok(())
    }

    async fn lease(&self, key: &str, lease: Duration, wait: Duration) -> Result<LeaseOutcome> {
        let mut request = Request::new(LeaseRequest { key: key.to_owned(), lease_ms: millis(lease), wait_ms: millis(wait) });
        // The cache answers WAIT_TIMEOUT before this deadline.
        request.set_timeout(wait + Duration::from_secs(1));
        let response = self.client.clone().lease(request).await.map_err(cache_error)?.into_inner();
        Ok(match response.outcome() {
            Outcome::Hit => LeaseOutcome::Hit(response.value.to_vec()),
            Outcome::Granted => LeaseOutcome::Granted { token: response.token },
            Outcome::WaitTimeout => LeaseOutcome::WaitTimeout,
            Outcome::Unavailable | Outcome::Unspecified => LeaseOutcome::Unavailable,
        })
    }

    async fn release_lease(&self, key: &str, token: &str) -> Result<bool> {
        let request = ReleaseLeaseRequest { key: key.to_owned(), token: token.to_owned() };
        Ok(self.client.clone().release_lease(request).await.map_err(cache_error)?.into_inner().released)
    }
}
