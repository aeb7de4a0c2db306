//! The cache service (`sheetmesh.v1.CacheService`): key/value entries with a
//! TTL and tags, atomic tag invalidation, single-flight leases, and stats —
//! on Redis (shared by every replica) or in memory (the embedded default).
//!
//! Layout:
//! - [`config`] — [`CacheConfig`] from the environment.
//! - [`server`] — the tonic service: validates, converts, calls [`Cache`].
//! - [`cache`] — [`Cache`], the domain: input rules, hit/miss counting,
//!   outage behaviour (reads miss, writes fail fast), lease waiting.
//! - [`validate`] — the limits on keys, values, TTLs and tags.
//! - [`store`] — [`store::CacheStore`], one trait with two backends:
//!   `store::redis` and `store::memory`.
//! - [`monitor`] — the backend health loop that flips gRPC health.
//! - [`error`] — [`CacheError`] and its one mapping to `tonic::Status`.
//!
//! Start it with [`serve`].

pub mod cache;
pub mod config;
pub mod error;
pub mod monitor;
pub mod server;
pub mod store;
pub mod validate;

use std::future::Future;

use sheetmesh_common::grpc::{GrpcServer, ServeError};
use sheetmesh_proto::{service_names, v1::cache_service_server::CacheServiceServer};
use tokio::net::TcpListener;

pub use cache::Cache;
pub use config::CacheConfig;
pub use error::CacheError;

use store::{CacheStore, memory::MemoryStore, redis::RedisStore};

/// Serves the cache service on `listener` until `shutdown` resolves.
///
/// Picks the Redis backend when `config.redis` is set, the in-memory one
/// otherwise. Health is SERVING while the backend answers.
pub async fn serve(config: CacheConfig, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
    match &config.redis {
        Some(redis) => {
            let connection = sheetmesh_common::redis::connect(redis).map_err(ServeError::setup(format!("Redis at {}", redis.display_url())))?;
            let store = RedisStore::new(connection, &config.namespace);
            tracing::info!(redis = %redis.display_url(), "cache backend: redis");
            serve_with_store(config, store, listener, shutdown).await
        }
        None => {
            tracing::info!(capacity_bytes = config.memory_capacity_bytes, "cache backend: memory");
            let store = MemoryStore::new(config.memory_capacity_bytes);
            serve_with_store(config, store, listener, shutdown).await
        }
    }
}

async fn serve_with_store<S: CacheStore>(
    config: CacheConfig,
    store: S,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let cache = Cache::new(store, config.limits.clone());
    let server = GrpcServer::new(config.server.clone(), service_names::CACHE).await;
    let monitor = tokio::spawn(monitor::watch_backend(cache.clone(), server.health(), config.health_interval));
    let service = CacheServiceServer::new(server::CacheGrpc::new(cache)).max_decoding_message_size(config.limits.max_value_bytes + 64 * 1024);
    let result = server.serve(service, listener, shutdown).await;
    monitor.abort();
    result
}
