//! Per-tenant statement digests: what ran, how often, how long, with how many rows and errors.
//!
//! The policy gives every forwarded statement a digest (its normal form and hash, computed once
//! per distinct text and shared through the decision cache). Each execution adds to the entry of
//! (tenant, digest hash) in a map split into shards by key, so concurrent sessions rarely meet
//! on a lock and no lock is held across an await. The map only holds what happened since the
//! last flush: [`publish`] drains it every `digest_flush_secs` into the catalog as additive
//! deltas (`octodb_catalog::Catalog::add_digest_deltas`), where the admin serves them.
//!
//! Bounded: at most `digest_max_per_tenant` distinct digests per tenant and `digest_max_total`
//! in all between two flushes. Executions of a digest beyond that go to their tenant's
//! `(digest limit reached)` entry and are counted in `octodb_proxy_digest_overflow_total`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use octodb_catalog::{Catalog, DigestDelta, UtcTimestamp};
use octodb_policy::Digest;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::metrics;

/// Shards of the map: a power of two comfortably above the cores of a proxy host.
const SHARDS: usize = 32;

/// The hash of the overflow entry (no FNV-1a hash of a digest text is expected to be 0).
pub const OVERFLOW_HASH: u64 = 0;
/// The text of the overflow entry.
pub const OVERFLOW_TEXT: &str = "(digest limit reached)";

/// How many distinct digests are held between two flushes.
#[derive(Debug, Clone, Copy)]
pub struct DigestBounds {
    pub per_tenant: usize,
    pub total: usize,
}

/// One (tenant, digest) since the last flush.
#[derive(Debug, Clone)]
struct Entry {
    digest: Arc<Digest>,
    count: u64,
    sum_us: u64,
    min_us: u64,
    max_us: u64,
    rows: u64,
    errors: u64,
    first_seen: SystemTime,
    last_seen: SystemTime,
}

impl Entry {
    fn new(digest: Arc<Digest>, at: SystemTime) -> Self {
        Entry {
            digest,
            count: 0,
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
            rows: 0,
            errors: 0,
            first_seen: at,
            last_seen: at,
        }
    }

    fn add(&mut self, us: u64, rows: u64, error: bool, at: SystemTime) {
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
        self.rows = self.rows.saturating_add(rows);
        self.errors += u64::from(error);
        self.last_seen = self.last_seen.max(at);
    }

    fn merge(&mut self, other: &Entry) {
        self.count += other.count;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
        self.rows = self.rows.saturating_add(other.rows);
        self.errors += other.errors;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

type Key = (u64, u64);
type Shard = HashMap<Key, Entry, ahash::RandomState>;

/// The proxy's digest statistics since the last flush.
#[derive(Debug)]
pub struct DigestStats {
    shards: Box<[Mutex<Shard>]>,
    bounds: DigestBounds,
    /// Distinct entries held (overflow entries excluded).
    total: AtomicUsize,
    /// Distinct entries held per tenant; touched only when an entry is created.
    per_tenant: Mutex<HashMap<u64, usize>>,
    overflow: Arc<Digest>,
}

use crate::sync::lock;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The instant as the catalog stores it; `None` outside years 0000-9999 (a clock gone mad: the
/// entry is then dropped rather than written wrong).
fn timestamp(t: SystemTime) -> Option<UtcTimestamp> {
    let us = t.duration_since(UNIX_EPOCH).ok()?.as_micros();
    UtcTimestamp::from_unix_micros(i64::try_from(us).ok()?)
}

impl DigestStats {
    pub fn new(bounds: DigestBounds) -> Self {
        DigestStats {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            bounds,
            total: AtomicUsize::new(0),
            per_tenant: Mutex::new(HashMap::new()),
            overflow: Arc::new(Digest {
                text: OVERFLOW_TEXT.to_string(),
                hash: OVERFLOW_HASH,
            }),
        }
    }

    fn shard(&self, key: Key) -> &Mutex<Shard> {
        // The digest hash is already well mixed; the tenant id spreads equal digests of
        // different tenants.
        let h = key.1 ^ key.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.shards[(h >> 32) as usize % SHARDS]
    }

    /// Counts one execution of `digest` by `tenant_id` that took `elapsed` and sent or
    /// changed `rows` rows (`error`: it ended in an error).
    pub fn record(
        &self,
        tenant_id: u64,
        digest: &Arc<Digest>,
        elapsed: Duration,
        rows: u64,
        error: bool,
    ) {
        let now = SystemTime::now();
        let us = micros(elapsed);
        let key = (tenant_id, digest.hash);
        {
            let mut shard = lock(self.shard(key));
            if let Some(e) = shard.get_mut(&key) {
                e.add(us, rows, error, now);
                return;
            }
            if self.admit(tenant_id) {
                let mut e = Entry::new(digest.clone(), now);
                e.add(us, rows, error, now);
                shard.insert(key, e);
                return;
            }
        }
        metrics::digest_overflow();
        let key = (tenant_id, OVERFLOW_HASH);
        lock(self.shard(key))
            .entry(key)
            .or_insert_with(|| Entry::new(self.overflow.clone(), now))
            .add(us, rows, error, now);
    }

    /// Whether one more distinct digest of `tenant_id` may be held (and if so, it is counted).
    fn admit(&self, tenant_id: u64) -> bool {
        if self.total.fetch_add(1, Ordering::Relaxed) >= self.bounds.total {
            self.total.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        let mut per_tenant = lock(&self.per_tenant);
        let n = per_tenant.entry(tenant_id).or_insert(0);
        if *n >= self.bounds.per_tenant {
            drop(per_tenant);
            self.total.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        *n += 1;
        true
    }

    /// Takes everything recorded since the last drain, as catalog deltas.
    pub fn drain(&self) -> Vec<DigestDelta> {
        // Bounds first: an entry created meanwhile lands in a fresh map and counts against
        // the next interval.
        lock(&self.per_tenant).clear();
        self.total.store(0, Ordering::Relaxed);
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *lock(shard));
            out.extend(taken.into_iter().filter_map(|((tenant_id, hash), e)| {
                Some(DigestDelta {
                    tenant_id,
                    digest: hash,
                    text: e.digest.text.clone(),
                    count: e.count,
                    sum_us: e.sum_us,
                    min_us: e.min_us,
                    max_us: e.max_us,
                    rows: e.rows,
                    errors: e.errors,
                    first_seen: timestamp(e.first_seen)?,
                    last_seen: timestamp(e.last_seen)?,
                })
            }));
        }
        out
    }

    /// Puts back deltas a flush could not write, merged with what arrived meanwhile (the next
    /// flush retries them). Bounds are not applied: these were admitted once already.
    fn restore(&self, deltas: Vec<DigestDelta>) {
        for d in deltas {
            let key = (d.tenant_id, d.digest);
            let to_time = |t: UtcTimestamp| {
                UNIX_EPOCH + Duration::from_micros(u64::try_from(t.unix_micros()).unwrap_or(0))
            };
            let e = Entry {
                digest: Arc::new(Digest {
                    text: d.text,
                    hash: d.digest,
                }),
                count: d.count,
                sum_us: d.sum_us,
                min_us: d.min_us,
                max_us: d.max_us,
                rows: d.rows,
                errors: d.errors,
                first_seen: to_time(d.first_seen),
                last_seen: to_time(d.last_seen),
            };
            let mut shard = lock(self.shard(key));
            match shard.get_mut(&key) {
                Some(existing) => existing.merge(&e),
                None => {
                    shard.insert(key, e);
                }
            }
        }
    }
}

/// Flushes `stats` into the catalog every `every` until `stop`, then once more (so that the
/// last statements of a stopping proxy are published).
pub async fn publish(
    stats: Arc<DigestStats>,
    catalog: Catalog,
    proxy_id: String,
    every: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        let deltas = stats.drain();
        if !deltas.is_empty() {
            match catalog.add_digest_deltas(&proxy_id, &deltas).await {
                Ok(()) => metrics::digest_flush(true),
                Err(e) => {
                    metrics::digest_flush(false);
                    warn!(error = %e, digests = deltas.len(), "digest flush failed; retrying later");
                    if !last {
                        stats.restore(deltas);
                    }
                }
            }
        }
        if last {
            return;
        }
    }
}

/// This proxy's id in the digest table: `proxy_id` when configured, else host name and
/// process id (a restarted proxy starts new rows; readers sum over proxies).
pub fn proxy_id(configured: Option<&str>) -> String {
    if let Some(id) = configured {
        return id.to_string();
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "proxy".to_string());
    let id = format!("{host}:{}", std::process::id());
    // The catalog column holds 128 characters.
    id.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn digest(text: &str, hash: u64) -> Arc<Digest> {
        Arc::new(Digest {
            text: text.into(),
            hash,
        })
    }

    fn stats(per_tenant: usize, total: usize) -> DigestStats {
        DigestStats::new(DigestBounds { per_tenant, total })
    }

    fn find(deltas: &[DigestDelta], tenant: u64, hash: u64) -> &DigestDelta {
        deltas
            .iter()
            .find(|d| d.tenant_id == tenant && d.digest == hash)
            .unwrap()
    }

    #[test]
    fn executions_add_up_per_tenant_and_digest() {
        let s = stats(10, 100);
        let a = digest("SELECT ?", 1);
        let b = digest("UPDATE t SET x = ?", 2);
        s.record(7, &a, Duration::from_micros(100), 1, false);
        s.record(7, &a, Duration::from_micros(300), 1, false);
        s.record(7, &b, Duration::from_micros(50), 4, true);
        s.record(8, &a, Duration::from_micros(10), 0, true);
        let d = s.drain();
        assert_eq!(d.len(), 3);
        let a7 = find(&d, 7, 1);
        assert_eq!(
            (a7.count, a7.sum_us, a7.min_us, a7.max_us, a7.rows, a7.errors),
            (2, 400, 100, 300, 2, 0)
        );
        assert!(a7.first_seen <= a7.last_seen);
        assert_eq!(a7.text, "SELECT ?");
        let b7 = find(&d, 7, 2);
        assert_eq!((b7.count, b7.rows, b7.errors), (1, 4, 1));
        assert_eq!(find(&d, 8, 1).errors, 1);
        assert!(s.drain().is_empty(), "a drain empties the map");
    }

    #[test]
    fn distinct_digests_are_bounded_and_the_rest_overflows() {
        let s = stats(2, 3);
        for h in 1..=4 {
            s.record(1, &digest("q", h), Duration::from_micros(1), 0, false);
        }
        // Tenant 2 gets the last place in total, then overflows too.
        s.record(2, &digest("q", 1), Duration::from_micros(1), 0, false);
        s.record(2, &digest("q", 2), Duration::from_micros(1), 0, false);
        let d = s.drain();
        let of1 = find(&d, 1, OVERFLOW_HASH);
        assert_eq!((of1.count, of1.text.as_str()), (2, OVERFLOW_TEXT));
        assert_eq!(find(&d, 2, OVERFLOW_HASH).count, 1);
        assert_eq!(d.len(), 3 + 2);
        // Bounds are per flush interval.
        for h in 1..=2 {
            s.record(1, &digest("q", h), Duration::from_micros(1), 0, false);
        }
        assert!(s.drain().iter().all(|d| d.digest != OVERFLOW_HASH));
    }

    #[test]
    fn a_failed_flush_is_merged_back() {
        let s = stats(10, 10);
        let a = digest("SELECT ?", 1);
        s.record(1, &a, Duration::from_micros(100), 1, false);
        let first = s.drain();
        s.record(1, &a, Duration::from_micros(20), 1, true);
        s.restore(first);
        let d = s.drain();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (
                d[0].count,
                d[0].sum_us,
                d[0].min_us,
                d[0].max_us,
                d[0].errors
            ),
            (2, 120, 20, 100, 1)
        );
    }

    #[test]
    fn proxy_ids() {
        assert_eq!(proxy_id(Some("p1")), "p1");
        let id = proxy_id(None);
        assert!(id.ends_with(&format!(":{}", std::process::id())), "{id}");
    }
}
