//! [`TagInvalidator`] over the CacheService client.

use async_trait::async_trait;
use sheetmesh_common::grpc::GrpcChannel;
use sheetmesh_proto::v1::{InvalidateTagsRequest, cache_service_client::CacheServiceClient};

use crate::sync::TagInvalidator;

/// Invalidates through the cache service.
#[derive(Debug, Clone)]
pub struct GrpcTagInvalidator {
    client: CacheServiceClient<GrpcChannel>,
}

impl GrpcTagInvalidator {
    /// An invalidator over `channel` (from `CACHE_URL`).
    pub fn new(channel: GrpcChannel) -> Self {
        Self { client: CacheServiceClient::new(channel) }
    }
}

#[async_trait]
impl TagInvalidator for GrpcTagInvalidator {
    async fn invalidate(&self, tags: &[String]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = self.client.clone().invalidate_tags(InvalidateTagsRequest { tags: tags.to_vec() }).await?;
        tracing::debug!(?tags, deleted = response.into_inner().deleted, "cache tags invalidated");
        Ok(())
    }
}
