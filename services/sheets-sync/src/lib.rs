//! sheets-sync: Google Sheets and local spreadsheet files into versioned
//! snapshots, refreshed by webhook and polling, announced as a change stream.
//!
//! The domain modules are transport-free; the gRPC service
//! (`SheetsService`, in [`grpc`]) is a thin layer over [`sync::SyncEngine`],
//! the [`store`] and [`watch::Subscription`], with [`proto`] doing the
//! message mapping. [`serve`] wires it all.
//!
//! # Layout
//! - [`config`] — [`SheetsSyncConfig`] from the environment.
//! - [`grpc`] — the tonic service and the cache-invalidation client.
//! - [`query`] — `GetRows`: sheet resolution, filters, version-bound pages.
//! - [`cell`], [`normalize`] — typed cells; raw grid → [`normalize::Snapshot`]
//!   (header, unique column names, padding, limits, content-hash version).
//! - [`model`] — sheet keys, stored meta, change events, sync results.
//! - [`source`] — the [`source::Source`] trait; [`source::local`] files
//!   (CSV, XLSX, XLS, ODS) and [`source::google`] (Sheets + Drive APIs:
//!   service-account auth, probe, batch read, backoff, push channels).
//! - [`store`] — the [`store::SnapshotStore`] trait; [`store::memory`]
//!   (embedded default) and [`store::redis`] (shared by replicas).
//! - [`sync`] — the engine: lease, probe, read, normalise, store, announce,
//!   invalidate cache tags through [`sync::TagInvalidator`].
//! - [`notify`] — per-spreadsheet debounce of change notifications.
//! - [`watch`] — the change broadcast with a gap-free initial state.
//! - [`poll`] — the polling fallback and cross-replica event following.
//! - [`proto`] — domain → `sheetmesh.v1` conversions.
//! - `testing` (feature `test-util`) — a stand-in for Google's APIs.

pub mod cell;
pub mod config;
pub mod error;
pub mod grpc;
pub mod model;
pub mod normalize;
pub mod notify;
pub mod poll;
pub mod proto;
pub mod query;
pub mod source;
pub mod store;
pub mod sync;
pub mod watch;

#[cfg(feature = "test-util")]
pub mod testing;

pub use config::SheetsSyncConfig;
pub use error::{Error, Result};

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use futures::FutureExt;
use sheetmesh_common::grpc::{GrpcServer, ServeError, channel};
use sheetmesh_proto::{service_names, v1::sheets_service_server::SheetsServiceServer};
use tokio::{net::TcpListener, sync::watch as signal};

use crate::{
    config::{SAMPLE_WORKBOOK, SAMPLE_WORKBOOK_NAME, SourceConfig},
    notify::Debouncer,
    source::{
        Source,
        google::{GoogleClient, GoogleSource, ServiceAccountKey, push},
        local::LocalSource,
    },
    store::SnapshotStore,
    sync::{SyncConfig, SyncEngine, SyncOutcome},
};

/// How long shutdown waits for Drive channels to be stopped.
const PUSH_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves sheets-sync on `listener` until `shutdown` resolves.
///
/// Syncs every spreadsheet at start (SERVING once that first sync has
/// completed, even if it recorded errors — they show in `ListSheets`), then
/// on `Notify` (debounced), every `SYNC_INTERVAL`, and on `Sync`.
pub async fn serve(config: SheetsSyncConfig, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
    let cache_channel = channel("CACHE_URL", &config.cache_url, &config.client).map_err(ServeError::setup("CACHE_URL"))?;
    let store: Arc<dyn SnapshotStore> = match &config.redis {
        Some(redis) => {
            let connection = sheetmesh_common::redis::connect(redis).map_err(ServeError::setup(format!("Redis at {}", redis.display_url())))?;
            Arc::new(store::RedisStore::new(connection, "sheetmesh:sheets"))
        }
        None => Arc::new(store::MemoryStore::default()),
    };
    let (source, google) = build_source(&config).await.map_err(ServeError::setup("sheet source"))?;
    let invalidator = Arc::new(grpc::GrpcTagInvalidator::new(cache_channel));
    let engine = Arc::new(SyncEngine::new(source, Arc::clone(&store), invalidator, SyncConfig::default()).await.map_err(ServeError::setup("sync engine"))?);

    let debouncer = {
        let engine = Arc::clone(&engine);
        Debouncer::new(
            config.debounce,
            Arc::new(move |spreadsheet: String| {
                let engine = Arc::clone(&engine);
                // `true` (another replica was busy syncing it) re-arms the debounce.
                async move { engine.sync_spreadsheet(&spreadsheet).await.map(|report| report.outcome == SyncOutcome::Busy).unwrap_or(false) }.boxed()
            }),
        )
    };

    let server = GrpcServer::new(config.server.clone(), service_names::SHEETS).await;
    let (stop_tx, stop_rx) = signal::channel(false);
    let stopped = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };
    let mut tasks = Vec::new();
    {
        let (engine, health, interval, stopped) = (Arc::clone(&engine), server.health(), config.sync_interval, stopped.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(error) = engine.sync_all().await {
                tracing::warn!(%error, "start-up sync failed; serving what is stored and retrying on the next poll");
            }
            health.set_serving().await;
            poll::poll_loop(engine, interval, stopped()).await;
        }));
    }
    if config.redis.is_some() {
        // Changes synced by other replicas reach this replica's watchers.
        tasks.push(tokio::spawn(poll::follow_events(Arc::clone(&store), engine.hub().clone(), Duration::from_millis(500), stopped())));
    }
    let push_task = match (google, &config.drive_webhook_url, &config.webhook_secret) {
        (Some((client, spreadsheets)), Some(address), Some(secret)) => {
            Some(tokio::spawn(push::run_push_channels(client, spreadsheets, push::PushConfig::new(address.clone(), secret.expose()), stopped())))
        }
        _ => None,
    };

    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let result =
        server.serve(SheetsServiceServer::new(grpc::SheetsGrpc::new(engine, debouncer)).max_encoding_message_size(64 * 1024 * 1024), listener, shutdown).await;
    if let Some(push_task) = push_task {
        // Let the channels be stopped at Google, within a bound.
        let _ = tokio::time::timeout(PUSH_STOP_TIMEOUT, push_task).await;
    }
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    result
}

/// The configured source, and for Google the client and ids push channels need.
async fn build_source(config: &SheetsSyncConfig) -> Result<(Arc<dyn Source>, Option<(GoogleClient, Vec<String>)>)> {
    match &config.source {
        SourceConfig::Local { dir, sample_fallback } => {
            let dir = if *sample_fallback && !dir.exists() { unpack_sample(&config.data_dir).await? } else { dir.clone() };
            if !dir.is_dir() {
                return Err(Error::LocalFile { path: dir, message: "SHEETS_DIR is not a directory".to_owned() });
            }
            tracing::info!(dir = %dir.display(), "sheet source: local files");
            Ok((Arc::new(LocalSource::new(dir)), None))
        }
        SourceConfig::Google { credentials_path, spreadsheets, sheet_names, api } => {
            let key = ServiceAccountKey::from_file(credentials_path)?;
            let client = GoogleClient::new(&key, api.clone())?;
            tracing::info!(spreadsheets = spreadsheets.len(), client_email = client.client_email(), "sheet source: Google Sheets");
            let source = GoogleSource::new(client.clone(), spreadsheets.clone(), sheet_names.clone());
            Ok((Arc::new(source), Some((client, spreadsheets.clone()))))
        }
    }
}

/// Writes the embedded sample workbook under `data_dir` and returns its folder.
async fn unpack_sample(data_dir: &std::path::Path) -> Result<PathBuf> {
    let dir = data_dir.join("sample-sheets");
    let path = dir.join(SAMPLE_WORKBOOK_NAME);
    let io = |message: std::io::Error| Error::LocalFile { path: path.clone(), message: message.to_string() };
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    tokio::fs::write(&path, SAMPLE_WORKBOOK).await.map_err(io)?;
    tracing::info!(path = %path.display(), "no SHEETS_DIR and no ./sheets: serving the embedded sample workbook");
    Ok(dir)
}
