//! Announces catalog changes to proxies through Redis pub/sub (`[redis] url` configured), so
//! they follow the catalog within a second without polling it quickly themselves.
//!
//! The publisher watches the catalog version (one indexed single-row read every
//! [`WATCH_EVERY`]) and publishes a [`CatalogNotice`] on [`Catalog::notice_channel`] each time
//! it moves. Watching the committed version, rather than hooking the code that bumps it, means:
//! - a notice never runs ahead of its transaction's commit (the version is bumped inside the
//!   callers' transactions, so a hook there would fire before the change is visible, and a
//!   proxy reading at once would see nothing new and wait for its slow fallback poll);
//! - changes made by other processes (another admin, the one-shot CLI commands) are announced
//!   too;
//! - the catalog crate stays free of Redis.
//!
//! Several admins publish the same versions; proxies skip versions they already read. A lost
//! message or a Redis outage only delays a proxy until its fallback poll. Redis being down
//! never stops the admin: publishing retries with backoff.

use std::time::Duration;

use octodb_catalog::{Catalog, CatalogNotice, ConfigError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::RedisConfig;
use crate::error::AdminError;

/// How often the catalog version is read. Bounds the delay a change takes to be announced.
pub const WATCH_EVERY: Duration = Duration::from_millis(100);
/// Longest wait between two attempts while Redis or the catalog is unavailable: short, since
/// the first notice after an outage is what ends the proxies' wait (one failed connection
/// attempt a second costs nothing).
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the publisher on `tracker` when Redis is configured; it stops with `shutdown`.
/// Fails only on an invalid Redis URL.
pub fn start(
    catalog: Catalog,
    config: &RedisConfig,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<(), AdminError> {
    let Some(url) = &config.url else {
        return Ok(());
    };
    // The error never shows the URL, which may hold a password.
    let client = redis::Client::open(url.as_str()).map_err(|e| {
        AdminError::Config(ConfigError::Invalid {
            field: "redis.url".to_string(),
            env_var: "OCTODB_REDIS__URL".to_string(),
            message: format!("not a Redis URL ({:?})", e.kind()),
        })
    })?;
    tracker.spawn(publish_changes(catalog, client, shutdown));
    Ok(())
}

/// The publisher's loop: read the version, publish it when it moved (or was never published).
async fn publish_changes(catalog: Catalog, client: redis::Client, shutdown: CancellationToken) {
    let channel = catalog.notice_channel();
    let mut publisher = Publisher { client, conn: None };
    let mut published: Option<u64> = None;
    let mut wait = WATCH_EVERY;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        let version = match catalog.catalog_version().await {
            Ok(v) => v,
            Err(e) => {
                wait = backoff(wait);
                tracing::debug!(error = %e, "cannot read the catalog version to announce it");
                continue;
            }
        };
        if published == Some(version) {
            wait = WATCH_EVERY;
            continue;
        }
        match publisher.publish(&channel, CatalogNotice { version }).await {
            Ok(listeners) => {
                tracing::debug!(version, listeners, "catalog change announced");
                published = Some(version);
                wait = WATCH_EVERY;
            }
            Err(e) => {
                if wait == WATCH_EVERY {
                    tracing::warn!(error = %e, "cannot announce catalog changes; retrying");
                }
                wait = backoff(wait);
            }
        }
    }
}

/// The next wait after a failure: doubling, capped.
fn backoff(wait: Duration) -> Duration {
    (wait * 2).min(MAX_BACKOFF)
}

/// A lazily (re)opened Redis connection.
struct Publisher {
    client: redis::Client,
    conn: Option<ConnectionManager>,
}

impl Publisher {
    /// Publishes `notice`; answers how many subscribers received it.
    async fn publish(
        &mut self,
        channel: &str,
        notice: CatalogNotice,
    ) -> Result<u64, redis::RedisError> {
        let payload = serde_json::to_string(&notice).map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::TypeError,
                "cannot encode the notice",
                e.to_string(),
            ))
        })?;
        let mut conn = match &self.conn {
            Some(c) => c.clone(),
            None => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT);
                let c = ConnectionManager::new_with_config(self.client.clone(), config).await?;
                self.conn = Some(c.clone());
                c
            }
        };
        conn.publish(channel, payload).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(WATCH_EVERY), WATCH_EVERY * 2);
        assert_eq!(backoff(Duration::from_millis(800)), MAX_BACKOFF);
        assert_eq!(backoff(MAX_BACKOFF), MAX_BACKOFF);
    }
}
