//! Result-cache write marks shared between proxies through Redis (`[redis] url`).
//!
//! Each proxy caches results of its own (`crate::result_cache`) and marks the tables a tenant
//! writes through it. With several proxies in front of one catalog, a write made through one
//! must reach the caches of the others, or they would answer from a stale entry until its TTL
//! ran out. Every mark a proxy makes is therefore published on the catalog's writes channel
//! (`<notice channel>:writes`, so proxies of another catalog never hear it), and every proxy
//! applies the marks it hears from the others as if the write had been its own.
//!
//! **Never a stale answer for want of a message.** A proxy with Redis configured uses its
//! cache only while it is subscribed to the writes channel; each time it subscribes again,
//! every entry filled before counts as stale (writes made meanwhile were announced to
//! nobody). Each proxy numbers its messages; a receiver that sees a number skipped (a
//! message that could not be published, or was dropped because the queue to the publisher
//! was full) treats every entry as stale. The window that remains is the delivery time of a
//! message (well under a millisecond on a local Redis): a read through another proxy in that
//! window may still see the result from before the write.
//!
//! Without Redis, a proxy hears no one: run one proxy per catalog, or accept the TTL as the
//! staleness of writes made through the others (see `crate::result_cache`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use octodb_policy::TableRef;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::metrics;
use crate::server::Shared;

/// Marks waiting for the publisher; past this, marks are dropped (and their number skipped,
/// which the other proxies notice).
const QUEUE: usize = 4096;
/// Marks published in one message at most.
const BATCH: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The writes channel of the catalog whose notices come on `notice_channel`.
pub fn channel(notice_channel: &str) -> String {
    format!("{notice_channel}:writes")
}

/// One write: a tenant's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub tenant: u64,
    /// `[database, table]` pairs, as the policy names them.
    pub tables: Vec<[String; 2]>,
}

impl Written {
    pub fn new(tenant: u64, tables: &[TableRef]) -> Self {
        Written {
            tenant,
            tables: tables
                .iter()
                .map(|t| [t.db.clone(), t.table.clone()])
                .collect(),
        }
    }

    pub fn table_refs(&self) -> Vec<TableRef> {
        self.tables
            .iter()
            .map(|[db, table]| TableRef::new(db, table))
            .collect()
    }
}

/// What goes on the channel: marks `first .. first + writes.len()` of proxy `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: String,
    pub first: u64,
    pub writes: Vec<Written>,
}

/// A mark on its way to the publisher, with its number.
struct Numbered {
    n: u64,
    write: Written,
}

/// This proxy's side of the sharing, held by the result cache.
pub struct PeerLink {
    tx: mpsc::Sender<Numbered>,
    /// Numbers this proxy's marks (the first is 1).
    next: AtomicU64,
    /// Subscribed to the writes channel: the cache may be used.
    listening: AtomicBool,
}

/// The publisher's end, to hand to [`publish`].
pub struct Outbox {
    rx: mpsc::Receiver<Numbered>,
}

impl PeerLink {
    pub fn new() -> (PeerLink, Outbox) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let link = PeerLink {
            tx,
            next: AtomicU64::new(1),
            listening: AtomicBool::new(false),
        };
        (link, Outbox { rx })
    }

    /// Queues a mark for the other proxies. A full queue drops it; its number is skipped, so
    /// the others still learn that they missed something.
    pub fn send(&self, write: Written) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(Numbered { n, write }).is_err() {
            metrics::result_cache_peer_dropped();
        }
    }

    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Returns the previous value.
    pub fn set_listening(&self, on: bool) -> bool {
        self.listening.swap(on, Ordering::AcqRel)
    }
}

/// The numbers last heard from each other proxy, to notice a message missed.
#[derive(Default)]
pub struct Heard {
    last: HashMap<String, u64>,
}

impl Heard {
    /// Whether `m` follows what was heard from its sender without a gap (a sender heard for
    /// the first time since subscribing is taken as it comes: the subscription itself made
    /// every older entry stale). Messages of `me` are not for us: `None`.
    pub fn follows(&mut self, me: &str, m: &Message) -> Option<bool> {
        if m.from == me {
            return None;
        }
        let end = m.first + m.writes.len() as u64;
        let follows = match self.last.get(&m.from) {
            Some(&last) => m.first == last + 1,
            None => true,
        };
        // Taken as it is even when it goes back: a proxy that restarted numbers from 1 again.
        self.last.insert(m.from.clone(), end.saturating_sub(1));
        Some(follows)
    }

    /// A new subscription: every sender starts afresh.
    pub fn clear(&mut self) {
        self.last.clear();
    }
}

/// The subscriber's side (`crate::notify`): what it hears on the writes channel goes to the
/// result cache.
pub struct Listener {
    pub channel: String,
    /// This proxy's name on the channel.
    me: String,
    shared: Arc<Shared>,
    heard: Heard,
}

impl Listener {
    pub fn new(channel: String, me: String, shared: Arc<Shared>) -> Self {
        Listener {
            channel,
            me,
            shared,
            heard: Heard::default(),
        }
    }

    /// Subscribed to the channel: the cache may be used again, from a clean slate.
    pub fn subscribed(&mut self) {
        self.heard.clear();
        self.shared.results.hearing(true);
    }

    /// The subscription ended: the cache is not used until the next one.
    pub fn unsubscribed(&self) {
        self.shared.results.hearing(false);
    }

    pub fn on_message(&mut self, payload: &[u8]) {
        let Some(m) = parse(payload) else {
            return;
        };
        if let Some(follows) = self.heard.follows(&self.me, &m) {
            self.shared.results.heard(&m, follows);
        }
    }
}

/// Publishes queued marks on `channel` until `shutdown`, several per message when they queue
/// up. A message that cannot be published is dropped (its numbers are then missing for the
/// others); the connection is opened again as needed.
pub async fn publish(
    client: redis::Client,
    channel: String,
    from: String,
    mut outbox: Outbox,
    shutdown: CancellationToken,
) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT);
    let mut conn: Option<ConnectionManager> = None;
    let mut reported = false;
    loop {
        let first = tokio::select! {
            m = outbox.rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = shutdown.cancelled() => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match outbox.rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        // A batch whose numbers do not follow each other (a mark dropped in between) goes out
        // in runs, so that every message's numbers are its own.
        for run in runs(batch) {
            let message = Message {
                from: from.clone(),
                first: run.first().map_or(0, |m| m.n),
                writes: run.into_iter().map(|m| m.write).collect(),
            };
            let Ok(payload) = serde_json::to_vec(&message) else {
                continue;
            };
            if conn.is_none() {
                match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        if !reported {
                            warn!(error = %e, "cannot publish result-cache writes to redis");
                            reported = true;
                        }
                        metrics::result_cache_peer_dropped();
                        tokio::time::sleep(RETRY_AFTER).await;
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else {
                continue;
            };
            let sent: Result<i64, _> = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(payload)
                .query_async(c)
                .await;
            match sent {
                Ok(_) => {
                    reported = false;
                    metrics::result_cache_peer_published();
                }
                Err(e) => {
                    debug!(error = %e, "a result-cache write message was not published");
                    metrics::result_cache_peer_dropped();
                    conn = None;
                }
            }
        }
    }
}

/// `batch` cut where its numbers stop following each other.
fn runs(batch: Vec<Numbered>) -> Vec<Vec<Numbered>> {
    let mut out: Vec<Vec<Numbered>> = Vec::new();
    for m in batch {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|l| l.n + 1 == m.n) => run.push(m),
            _ => out.push(vec![m]),
        }
    }
    out
}

/// A message from the channel; `None` (logged) for anything else.
pub fn parse(payload: &[u8]) -> Option<Message> {
    match serde_json::from_slice::<Message>(payload) {
        Ok(m) => Some(m),
        Err(e) => {
            debug!(error = %e, "ignoring a malformed result-cache write message");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn msg(from: &str, first: u64, n: usize) -> Message {
        Message {
            from: from.into(),
            first,
            writes: (0..n)
                .map(|_| Written::new(7, &[TableRef::new("t_a__app", "items")]))
                .collect(),
        }
    }

    #[test]
    fn messages_round_trip_and_junk_is_ignored() {
        let m = msg("p1", 5, 2);
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(parse(&bytes), Some(m.clone()));
        assert_eq!(
            m.writes[0].table_refs(),
            vec![TableRef::new("t_a__app", "items")]
        );
        assert_eq!(parse(b"{\"from\":\"p\"}"), None);
        assert_eq!(parse(b"\xff"), None);
        assert_eq!(channel("octodb:catalog:x"), "octodb:catalog:x:writes");
    }

    #[test]
    fn a_skipped_number_is_noticed() {
        let mut heard = Heard::default();
        assert_eq!(heard.follows("me", &msg("me", 1, 1)), None, "our own");
        assert_eq!(
            heard.follows("me", &msg("p1", 10, 2)),
            Some(true),
            "first heard"
        );
        assert_eq!(heard.follows("me", &msg("p1", 12, 1)), Some(true));
        assert_eq!(heard.follows("me", &msg("p2", 1, 1)), Some(true));
        assert_eq!(
            heard.follows("me", &msg("p1", 14, 1)),
            Some(false),
            "13 missed"
        );
        assert_eq!(heard.follows("me", &msg("p1", 15, 1)), Some(true));
        // p1 restarted: one gap, then in step again.
        assert_eq!(heard.follows("me", &msg("p1", 1, 1)), Some(false));
        assert_eq!(heard.follows("me", &msg("p1", 2, 1)), Some(true));
        heard.clear();
        assert_eq!(heard.follows("me", &msg("p1", 40, 1)), Some(true));
    }

    #[test]
    fn batches_split_where_numbers_skip() {
        let w = || Written::new(1, &[]);
        let batch = [1, 2, 3, 5, 6, 9]
            .into_iter()
            .map(|n| Numbered { n, write: w() })
            .collect();
        let lens: Vec<(u64, usize)> = runs(batch).iter().map(|r| (r[0].n, r.len())).collect();
        assert_eq!(lens, vec![(1, 3), (5, 2), (9, 1)]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_marks_but_not_their_numbers() {
        let (link, mut outbox) = PeerLink::new();
        for _ in 0..QUEUE + 2 {
            link.send(Written::new(1, &[]));
        }
        let mut got = Vec::new();
        while let Ok(m) = outbox.rx.try_recv() {
            got.push(m.n);
        }
        assert_eq!(got.len(), QUEUE);
        link.send(Written::new(1, &[]));
        let next = outbox.rx.try_recv().unwrap().n;
        assert_eq!(next, QUEUE as u64 + 3, "two numbers were skipped");
    }
}
