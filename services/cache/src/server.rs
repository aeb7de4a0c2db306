//! The tonic service: validate, convert, call [`Cache`], map errors.

use bytes::Bytes;
use sheetmesh_common::grpc::deadline::grpc_timeout;
use sheetmesh_proto::v1::{
    CacheEntry, DeleteRequest, DeleteResponse, GetManyRequest, GetManyResponse, GetRequest, GetResponse, InvalidateTagsRequest, InvalidateTagsResponse,
    LeaseRequest, LeaseResponse, ReleaseLeaseRequest, ReleaseLeaseResponse, SetRequest, SetResponse, StatsRequest, StatsResponse,
    cache_service_server::CacheService, lease_response::Outcome,
};
use tonic::{Request, Response, Status};

use crate::{Cache, cache::LeaseOutcome, store::CacheStore};

/// `sheetmesh.v1.CacheService` over a [`Cache`].
#[derive(Debug)]
pub struct CacheGrpc<S> {
    cache: Cache<S>,
}

impl<S: CacheStore> CacheGrpc<S> {
    /// Serves `cache`.
    pub fn new(cache: Cache<S>) -> Self {
        Self { cache }
    }
}

#[tonic::async_trait]
impl<S: CacheStore> CacheService for CacheGrpc<S> {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let value = self.cache.get(&request.get_ref().key).await?;
        Ok(Response::new(GetResponse { found: value.is_some(), value: value.unwrap_or_default() }))
    }

    async fn get_many(&self, request: Request<GetManyRequest>) -> Result<Response<GetManyResponse>, Status> {
        let keys = request.into_inner().keys;
        let values = self.cache.get_many(&keys).await?;
        let entries = keys.into_iter().zip(values).map(|(key, value)| CacheEntry { key, found: value.is_some(), value: value.unwrap_or_default() }).collect();
        Ok(Response::new(GetManyResponse { entries }))
    }

    async fn set(&self, request: Request<SetRequest>) -> Result<Response<SetResponse>, Status> {
        let SetRequest { key, value, ttl_ms, tags, lease_token } = request.into_inner();
        self.cache.set(&key, value, ttl_ms, &tags, &lease_token).await?;
        Ok(Response::new(SetResponse {}))
    }

    async fn delete(&self, request: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        let deleted = self.cache.delete(&request.get_ref().keys).await?;
        Ok(Response::new(DeleteResponse { deleted }))
    }

    async fn invalidate_tags(&self, request: Request<InvalidateTagsRequest>) -> Result<Response<InvalidateTagsResponse>, Status> {
        let deleted = self.cache.invalidate_tags(&request.get_ref().tags).await?;
        Ok(Response::new(InvalidateTagsResponse { deleted }))
    }

    async fn lease(&self, request: Request<LeaseRequest>) -> Result<Response<LeaseResponse>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let LeaseRequest { key, lease_ms, wait_ms } = request.into_inner();
        let response = match self.cache.lease(&key, lease_ms, wait_ms, deadline).await? {
            LeaseOutcome::Hit(value) => LeaseResponse { outcome: Outcome::Hit.into(), value, token: String::new() },
            LeaseOutcome::Granted(token) => LeaseResponse { outcome: Outcome::Granted.into(), value: Bytes::new(), token },
            LeaseOutcome::WaitTimeout => LeaseResponse { outcome: Outcome::WaitTimeout.into(), ..LeaseResponse::default() },
            LeaseOutcome::Unavailable => LeaseResponse { outcome: Outcome::Unavailable.into(), ..LeaseResponse::default() },
        };
        Ok(Response::new(response))
    }

    async fn release_lease(&self, request: Request<ReleaseLeaseRequest>) -> Result<Response<ReleaseLeaseResponse>, Status> {
        let ReleaseLeaseRequest { key, token } = request.into_inner();
        let released = self.cache.release_lease(&key, &token).await?;
        Ok(Response::new(ReleaseLeaseResponse { released }))
    }

    async fn stats(&self, _request: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        let stats = self.cache.stats().await;
        let lookups = stats.hits + stats.misses;
        #[allow(clippy::cast_precision_loss)] // a ratio; exactness beyond 2^53 lookups does not matter
        let hit_ratio = if lookups == 0 { 0.0 } else { stats.hits as f64 / lookups as f64 };
        Ok(Response::new(StatsResponse {
            hits: stats.hits,
            misses: stats.misses,
            keys: stats.keys,
            bytes: stats.bytes,
            backend: stats.backend.to_owned(),
            backend_up: stats.backend_up,
            backend_rtt_us: u64::try_from(stats.backend_rtt.as_micros()).unwrap_or(u64::MAX),
            hit_ratio,
        }))
    }
}
