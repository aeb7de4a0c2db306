//! What every handler shares.

use std::{
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use crate::{clients::Clients, config::GatewayConfig, edge::metrics::Metrics, routes::health::HealthCache};

/// The handlers' state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration the gateway started with.
    pub config: Arc<GatewayConfig>,
    /// The service clients.
    pub clients: Arc<Clients>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The last `/health` report, reused for a second.
    pub health: Arc<HealthCache>,
    /// When the gateway started (for `uptime`).
    pub started: Instant,
    /// Set once shutdown begins: `/readyz` turns 503 so balancers move away.
    pub draining: Arc<AtomicBool>,
    /// Interval of SSE keep-alive comments (15 s).
    pub sse_keep_alive: Duration,
}
