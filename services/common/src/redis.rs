//! A Redis connection that reconnects by itself and never hangs a caller.

use std::time::Duration;

pub use ::redis::aio::ConnectionManager;

use crate::config::RedisConfig;

/// Opens a lazily connecting, self-reconnecting, multiplexed connection.
///
/// Lazy so that start order does not matter: a component starts while Redis
/// is still down and serves degraded until Redis answers. Every command is
/// bounded by the configured response timeout; reconnection is retried with
/// backoff in the background by redis-rs.
pub fn connect(config: &RedisConfig) -> Result<ConnectionManager, ::redis::RedisError> {
    crate::install_crypto_provider();
    let client = ::redis::Client::open(config.url().expose())?;
    let manager_config = ::redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.response_timeout))
        // Few, quick retries: a request must fail fast during an outage
        // rather than queue behind a long reconnect loop.
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, manager_config)
}

/// PINGs Redis and returns the round trip.
pub async fn ping(connection: &mut ConnectionManager) -> Result<Duration, ::redis::RedisError> {
    let started = std::time::Instant::now();
    let _: String = ::redis::cmd("PING").query_async(connection).await?;
    Ok(started.elapsed())
}
