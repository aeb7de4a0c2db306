//! Drive push channels: Google POSTs to our webhook when a watched
//! spreadsheet changes. Channels cannot be renewed, only replaced: a new
//! one is opened before the old one expires (they overlap, so no change
//! falls between), then the old one is stopped; all are stopped on shutdown.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::client::{Channel, GoogleClient};

/// Push channel settings.
#[derive(Clone)]
pub struct PushConfig {
    /// The public HTTPS webhook URL (`GOOGLE_DRIVE_WEBHOOK_URL`).
    pub address: String,
    /// Sent back by Google in `X-Goog-Channel-Token`: the webhook secret.
    pub token: String,
    /// Requested channel lifetime (Drive files allow at most one day).
    pub lifetime: Duration,
    /// How long before expiry the replacement is opened.
    pub renew_before: Duration,
    /// Wait before retrying after a failure to open channels.
    pub retry_after: Duration,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig").field("address", &self.address).field("token", &"<redacted>").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

impl PushConfig {
    /// One-hour channels renewed five minutes early.
    pub fn new(address: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            token: token.into(),
            lifetime: Duration::from_secs(3600),
            renew_before: Duration::from_secs(300),
            retry_after: Duration::from_secs(60),
        }
    }
}

/// Keeps a channel open on every spreadsheet until `shutdown` resolves,
/// then stops them. Spawn it when `GOOGLE_DRIVE_WEBHOOK_URL` is set.
pub async fn run_push_channels(client: GoogleClient, spreadsheets: Vec<String>, config: PushConfig, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut open: Vec<(String, Channel)> = Vec::new();
    loop {
        let fresh = open_all(&client, &spreadsheets, &config).await;
        let opened_all = fresh.len() == spreadsheets.len();
        // Replace only what was reopened; a channel that failed to reopen
        // stays until it expires.
        let (replaced, kept): (Vec<_>, Vec<_>) = open.into_iter().partition(|(id, _)| fresh.iter().any(|(f, _)| f == id));
        stop_all(&client, &replaced).await;
        open = kept.into_iter().chain(fresh).collect();
        let wait = if opened_all { config.lifetime.saturating_sub(config.renew_before) } else { config.retry_after };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
        }
    }
    stop_all(&client, &open).await;
}

async fn open_all(client: &GoogleClient, spreadsheets: &[String], config: &PushConfig) -> Vec<(String, Channel)> {
    let expiration = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + config.lifetime;
    let mut channels = Vec::with_capacity(spreadsheets.len());
    for id in spreadsheets {
        match client.watch(id, &config.address, &config.token, expiration.as_millis() as u64).await {
            Ok(channel) => {
                tracing::info!(spreadsheet = %id, channel = %channel.id, "push channel open");
                channels.push((id.clone(), channel));
            }
            Err(error) => tracing::warn!(spreadsheet = %id, %error, "could not open a push channel"),
        }
    }
    channels
}

async fn stop_all(client: &GoogleClient, channels: &[(String, Channel)]) {
    for (id, channel) in channels {
        if let Err(error) = client.stop_channel(id, channel).await {
            // It expires on its own; notifications until then are harmless.
            tracing::warn!(spreadsheet = %id, %error, "could not stop a push channel");
        }
    }
}
