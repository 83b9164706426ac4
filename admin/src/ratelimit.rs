//! Rate limiting of the admin API: one token bucket per caller; an empty bucket is a 429 problem
//! with `Retry-After`.
//!
//! A caller is an API key once the key is known to be valid, and the source address otherwise
//! (IPv6 per /64, which one host usually holds whole). Requests with no key or an unknown one are
//! charged to their address *before* the key is looked up, so guessing keys is limited like any
//! other anonymous traffic and costs no catalog query once over the limit. An unknown key that
//! passes is looked up in the background (the request itself is not delayed, which matters when
//! the catalog is slow or down; the lookups are as limited as the requests), and a valid one is
//! remembered (by a keyed hash, never the secret) while in use, so its later requests use its own
//! bucket and one noisy neighbour behind the same address cannot starve it. (Behind a load
//! balancer every address is the balancer's: anonymous traffic then shares one bucket.)
//!
//! Memory is bounded: buckets and known keys live in capped `moka` caches. A bucket idle long
//! enough to have refilled is dropped, which loses nothing; one evicted early for capacity starts
//! full again, the only leniency.
//! `/healthz`, `/readyz` and `/metrics` are never limited (probes and scrapes must not fail
//! because of API traffic).

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moka::sync::Cache;
use octodb_catalog::{Catalog, ConfigError};

use crate::config::RateLimitConfig;
use crate::metrics::Metrics;
use crate::problem::ApiError;

/// Paths never limited.
pub const EXEMPT_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];
/// Most callers (keys and addresses) tracked at once.
const MAX_TRACKED_CALLERS: u64 = 100_000;
/// Most valid keys remembered at once.
const MAX_KNOWN_KEYS: u64 = 10_000;
/// How long an unused key stays known as valid. A key answered 401 (revoked) is forgotten at
/// once; authentication itself never relies on this cache.
pub const KNOWN_KEY_IDLE: Duration = Duration::from_secs(300);

/// The caller a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Subject {
    /// An API key, by id.
    Key(u64),
    /// A source address (IPv6 truncated to its /64).
    Address(IpAddr),
}

impl Subject {
    /// The `caller` metric label.
    fn label(self) -> &'static str {
        match self {
            Subject::Key(_) => crate::metrics::CALLER_KEY,
            Subject::Address(_) => crate::metrics::CALLER_ADDRESS,
        }
    }
}

/// A token bucket: `tokens` as of `at`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes one token, or says how long until one is there.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// The limiter shared by all requests of one app (cheap to clone). Disabled when configured
/// with `requests_per_second = 0`.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    rate: f64,
    burst: f64,
    buckets: Cache<Subject, Arc<Mutex<Bucket>>>,
    /// Keyed hash of a valid secret -> key id.
    known_keys: Cache<u64, u64>,
    hasher: RandomState,
    catalog: Catalog,
    metrics: Metrics,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RateLimiter");
        if let Some(i) = &self.inner {
            d.field("rate", &i.rate).field("burst", &i.burst);
        }
        d.finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter for `config` (validated: a burst of 0 would refuse everything).
    pub fn new(
        config: &RateLimitConfig,
        catalog: Catalog,
        metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        if config.requests_per_second == 0 {
            return Ok(RateLimiter { inner: None });
        }
        if config.burst == 0 {
            return Err(ConfigError::Invalid {
                field: "rate_limit.burst".to_string(),
                env_var: "OCTODB_RATE_LIMIT__BURST".to_string(),
                message: "must be at least 1 when rate limiting is on \
                          (requests_per_second = 0 turns it off)"
                    .to_string(),
            });
        }
        let rate = f64::from(config.requests_per_second);
        let burst = f64::from(config.burst);
        // Idle this long, a bucket is full again: forgetting it changes nothing.
        let refill = Duration::from_secs_f64(burst / rate) + Duration::from_secs(1);
        Ok(RateLimiter {
            inner: Some(Arc::new(Inner {
                rate,
                burst,
                buckets: Cache::builder()
                    .max_capacity(MAX_TRACKED_CALLERS)
                    .time_to_idle(refill)
                    .build(),
                known_keys: Cache::builder()
                    .max_capacity(MAX_KNOWN_KEYS)
                    .time_to_idle(KNOWN_KEY_IDLE)
                    .build(),
                hasher: RandomState::new(),
                catalog,
                metrics,
            })),
        })
    }
}

impl Inner {
    /// Takes a token from `subject`'s bucket.
    fn take(&self, subject: Subject) -> Result<(), Duration> {
        let bucket = self.buckets.get_with(subject, || {
            Arc::new(Mutex::new(Bucket {
                tokens: self.burst,
                at: Instant::now(),
            }))
        });
        // A poisoned lock only means a panic elsewhere mid-update; the numbers are still usable.
        let mut bucket = bucket.lock().unwrap_or_else(|p| p.into_inner());
        bucket.take(Instant::now(), self.rate, self.burst)
    }

    /// Remembers `secret` as key `id` if the catalog says it is valid (errors: not remembered;
    /// the handler answers for the catalog).
    async fn learn(&self, secret: &str, hash: u64) {
        match self.catalog.authenticate_key(secret).await {
            Ok(Some(key)) => self.known_keys.insert(hash, key.id),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "rate limit: cannot look the key up"),
        }
    }
}

/// Middleware: charges the request to its caller's bucket; 429 when empty.
pub async fn limit(State(limiter): State<RateLimiter>, req: Request, next: Next) -> Response {
    let Some(inner) = limiter.inner else {
        return next.run(req).await;
    };
    if EXEMPT_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let secret = bearer(&req).map(str::to_string);
    let hash = secret.as_deref().map(|s| inner.hasher.hash_one(s));
    let known = hash.and_then(|h| inner.known_keys.get(&h));
    let subject = match known {
        Some(id) => Subject::Key(id),
        None => Subject::Address(source(&req)),
    };
    if let Err(wait) = inner.take(subject) {
        inner.metrics.rate_limited(subject.label());
        return too_many(wait);
    }
    if let (None, Some(secret), Some(hash)) = (known, secret, hash) {
        let inner = inner.clone();
        tokio::spawn(async move { inner.learn(&secret, hash).await });
    }
    let response = next.run(req).await;
    if let (Some(_), Some(hash)) = (known, hash) {
        if response.status() == StatusCode::UNAUTHORIZED {
            // Revoked since it was learnt: back to the address bucket.
            inner.known_keys.invalidate(&hash);
        }
    }
    response
}

/// The bearer secret, read as the `Caller` extractor reads it.
fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The source address bucket of `req` (unknown without connect info: one shared bucket).
fn source(req: &Request) -> IpAddr {
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => address_subject(addr.ip()),
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// IPv4 as is (also when mapped into IPv6); IPv6 truncated to its /64.
fn address_subject(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// 429 with `Retry-After` in whole seconds (rounded up, at least 1).
fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests; retry in {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut b = Bucket {
            tokens: 3.0,
            at: start,
        };
        for _ in 0..3 {
            b.take(start, 2.0, 3.0).unwrap();
        }
        let wait = b.take(start, 2.0, 3.0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later: one token, then empty again.
        let later = start + Duration::from_millis(500);
        b.take(later, 2.0, 3.0).unwrap();
        assert!(b.take(later, 2.0, 3.0).is_err());
        // Long idle: full, never more than the burst.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            b.take(much_later, 2.0, 3.0).unwrap();
        }
        assert!(b.take(much_later, 2.0, 3.0).is_err());
    }

    #[test]
    fn addresses_group_ipv6_by_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_subject(a), address_subject(b));
        assert_ne!(address_subject(a), address_subject(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            address_subject(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        for (wait, expected) in [(1, "1"), (1000, "1"), (1001, "2"), (0, "1")] {
            let r = too_many(Duration::from_millis(wait));
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(r.headers()[header::RETRY_AFTER], expected);
        }
    }
}
