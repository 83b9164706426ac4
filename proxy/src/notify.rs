//! Hearing catalog changes through Redis (`[redis] url`): the admin publishes a
//! `CatalogNotice` (`{"version": N}`) on the catalog's channel each time the catalog version
//! moves; this task subscribes and hands the announced versions to the watcher
//! (`crate::follow::watch_catalog`), which reads and applies the change at once.
//!
//! Redis is an accelerator, never a dependency: the proxy starts and serves without it. While
//! unsubscribed the watcher polls at `catalog_poll_ms`; once subscribed, only at the slow
//! `catalog_fallback_poll_ms` (a lost message). After every (re)subscription the watcher reads
//! the version once, since changes made meanwhile were announced to nobody. A connection that
//! stops answering pings is dropped and opened again, with backoff.

use std::time::Duration;

use futures_util::StreamExt;
use octodb_catalog::CatalogNotice;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::follow::Notices;
use crate::metrics;
use crate::peers::Listener;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A subscribed connection is pinged this often; a half-open one is noticed within about
/// `PING_EVERY + PING_TIMEOUT`, and meanwhile the fallback poll still runs.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a subscription ended (other than shutdown).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the redis connection closed")]
    Closed,
}

/// Subscribes to `channel` until `shutdown`, reconnecting with backoff; every notice and
/// (un)subscription goes to `notices`.
pub async fn listen(
    client: redis::Client,
    channel: String,
    notices: watch::Sender<Notices>,
    mut writes: Option<Listener>,
    shutdown: CancellationToken,
) {
    let mut backoff = MIN_BACKOFF;
    let mut reported = false;
    loop {
        let mut subscribed = false;
        let ended = subscription(
            &client,
            &channel,
            &notices,
            writes.as_mut(),
            &mut subscribed,
            &shutdown,
        )
        .await;
        if let Some(w) = &writes {
            w.unsubscribed();
        }
        notices.send_if_modified(|n| std::mem::replace(&mut n.subscribed, false));
        metrics::catalog_subscribed(false);
        if subscribed {
            backoff = MIN_BACKOFF;
            reported = false;
        }
        match ended {
            Ok(()) => return,
            // Once per outage, not once per attempt.
            Err(e) if !reported => {
                warn!(error = %e, "catalog notifications unavailable; polling the catalog");
                reported = true;
            }
            Err(e) => debug!(error = %e, "still no catalog notifications"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: subscribe, then pass notices (and the other proxies' result-cache writes,
/// `crate::peers`) on until it fails or `shutdown` (`Ok`).
async fn subscription(
    client: &redis::Client,
    channel: &str,
    notices: &watch::Sender<Notices>,
    mut writes: Option<&mut Listener>,
    subscribed: &mut bool,
    shutdown: &CancellationToken,
) -> Result<(), NotifyError> {
    let pubsub = timed(CONNECT_TIMEOUT, client.get_async_pubsub()).await?;
    let (mut sink, mut stream) = pubsub.split();
    timed(CONNECT_TIMEOUT, sink.subscribe(channel)).await?;
    if let Some(w) = writes.as_deref_mut() {
        timed(CONNECT_TIMEOUT, sink.subscribe(w.channel.as_str())).await?;
        w.subscribed();
    }
    info!(channel, "following the catalog through redis notifications");
    *subscribed = true;
    metrics::catalog_subscribed(true);
    notices.send_modify(|n| {
        n.subscribed = true;
        n.nudges = n.nudges.wrapping_add(1);
    });
    pass_on(&mut sink, &mut stream, notices, writes, shutdown).await
}

/// Hands each notice to the watcher; pings to find a dead connection.
async fn pass_on(
    sink: &mut PubSubSink,
    stream: &mut PubSubStream,
    notices: &watch::Sender<Notices>,
    mut writes: Option<&mut Listener>,
    shutdown: &CancellationToken,
) -> Result<(), NotifyError> {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let msg = msg.ok_or(NotifyError::Closed)?;
                if let Some(w) = writes.as_deref_mut() {
                    if msg.get_channel_name() == w.channel {
                        w.on_message(msg.get_payload_bytes());
                        continue;
                    }
                }
                if let Some(version) = notice_version(msg.get_payload_bytes()) {
                    metrics::catalog_notice();
                    notices.send_if_modified(|n| {
                        let newer = version > n.announced;
                        n.announced = n.announced.max(version);
                        newer
                    });
                }
            }
            _ = ping.tick() => {
                timed(PING_TIMEOUT, sink.ping::<redis::Value>()).await?;
            }
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
}

/// The version a message announces; `None` (logged) for anything else.
fn notice_version(payload: &[u8]) -> Option<u64> {
    match serde_json::from_slice::<CatalogNotice>(payload) {
        Ok(n) => Some(n.version),
        Err(e) => {
            debug!(error = %e, "ignoring a malformed catalog notice");
            None
        }
    }
}

async fn timed<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, NotifyError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(NotifyError::Timeout(limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_json_with_a_version() {
        assert_eq!(notice_version(br#"{"version":42}"#), Some(42));
        assert_eq!(notice_version(br#"{"version":-1}"#), None);
        assert_eq!(notice_version(b"42"), None);
        assert_eq!(notice_version(b"\xff"), None);
    }
}
