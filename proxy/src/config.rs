//! Proxy configuration: TOML with `OCTODB_*` environment overrides (for example
//! `OCTODB_LISTEN=0.0.0.0:6033`, `OCTODB_CATALOG__URL=mysql://...`,
//! `OCTODB_REDIS__URL=redis://...`). Every field needs a restart to change.

use std::fmt;

use octodb_catalog::CatalogConfig;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// The proxy's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Address the MySQL front end listens on.
    pub listen: String,
    /// Address of the Prometheus endpoint (`/metrics`); none disables it.
    pub metrics_listen: Option<String>,
    /// Largest packet payload, in bytes, accepted from a client (after reassembly). Larger
    /// packets get error 1153 and the connection is closed.
    pub max_packet_size: usize,
    /// Most backend connections per tenant pool.
    pub pool_max: usize,
    /// Seconds a client may wait for a backend connection before getting an error.
    pub pool_wait_secs: u64,
    /// Seconds an idle backend connection is kept before it is closed.
    pub pool_idle_secs: u64,
    /// Milliseconds to open a backend connection and log in (a backend that accepts but
    /// never greets is given up on after this); the session's statement then fails with an
    /// error saying so, and the next one tries again.
    pub backend_connect_timeout_ms: u64,
    /// Prepared statements cached per backend connection (the least recently used is closed
    /// first): the server holds at most `pool_max` x this per tenant.
    pub backend_stmt_cache: usize,
    /// Transaction-level multiplexing: a session borrows a backend connection per statement
    /// (autocommit) or per transaction, and its session state is replayed on whichever
    /// connection serves it. Off: each session keeps one connection for its whole life.
    pub multiplexing: bool,
    /// Server version announced to clients; by default derived from the backend's.
    pub server_version: Option<String>,
    /// Total size, in bytes of statement text, of the policy decision cache.
    pub decision_cache_bytes: u64,
    /// Seconds to let sessions finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Addresses and networks (`192.0.2.10`, `10.0.0.0/8`, `2001:db8::/32`) of load balancers
    /// that send the PROXY protocol header, version 1 or 2 (`crate::proxy_header`): a
    /// connection from them must begin with one, and the client address it carries is the
    /// session's (per-address login limits, logs). Nobody else's header is read. Empty (the
    /// default): none. Env: `OCTODB_PROXY_PROTOCOL_FROM='["10.0.0.0/8"]'`.
    pub proxy_protocol_from: Vec<String>,
    /// Threads serving sessions ("workers", `crate::workers`), each a single-thread runtime
    /// that keeps its sessions and their backend connections: no work stealing and no
    /// wake-ups across threads in a statement's round trip. Each worker accepts on a listener
    /// of its own on `listen` (SO_REUSEPORT: the kernel spreads new connections over them, and
    /// another process of the proxy's user could bind the same port); a session stays where it
    /// was accepted unless that worker runs clearly more sessions than another, when it goes
    /// to the one with the fewest. Background tasks (catalog follower, pool reaper, metrics
    /// endpoint, digest and audit writers) run on the proxy's main thread, not on a worker.
    /// 0 (the default): one per CPU. 1: all sessions on one thread, for a host where the
    /// proxy needs at most one core. Env: `OCTODB_WORKER_THREADS`.
    pub worker_threads: usize,
    /// How log lines are written: `text` (for people) or `json` (one object a line, with the
    /// session's `session_id`, `peer`, `tenant` and `user`). Env: `OCTODB_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// Milliseconds between two reads of the catalog version without Redis notifications (no
    /// `[redis] url`, or Redis unreachable): open sessions follow catalog changes (suspended
    /// tenants, dropped databases...) within about this delay.
    pub catalog_poll_ms: u64,
    /// Milliseconds between two reads of the catalog version while subscribed to Redis
    /// notifications: a safety net for a lost message, so it can be long.
    pub catalog_fallback_poll_ms: u64,
    /// Seconds between two publications of this proxy's statement digests to the catalog
    /// (served by the admin's `GET /v1/tenants/{id}/digests`); 0 turns digests off.
    pub digest_flush_secs: u64,
    /// Distinct digests one tenant may have between two flushes; more are counted together
    /// as `(digest limit reached)`.
    pub digest_max_per_tenant: usize,
    /// Distinct digests of all tenants between two flushes.
    pub digest_max_total: usize,
    /// This proxy's name in the digest table; by default host name and process id.
    pub proxy_id: Option<String>,
    /// Labels of the Prometheus metrics (`[metrics]`): tenant labels.
    pub metrics: crate::tenant_labels::MetricsConfig,
    /// Where the catalog (MetaDB) lives.
    pub catalog: CatalogConfig,
    /// Catalog change notifications (`[redis]`).
    pub redis: RedisConfig,
    /// Sampling of auth failures and refusals into the catalog's audit log (`[audit]`).
    pub audit: AuditConfig,
    /// Per-tenant limit defaults and failed-login thresholds (`[limits]`).
    pub limits: crate::limits::LimitsConfig,
    /// Bounds of the result cache tenants opt into (`[result_cache]`).
    pub result_cache: crate::result_cache::ResultCacheConfig,
}

/// `[redis]`: where catalog changes are announced (published by the admin), and where the
/// proxies of one catalog share the writes that invalidate their result caches
/// (`crate::peers`). Without a URL the proxy polls the catalog every `catalog_poll_ms`.
/// Redis being down never stops the proxy: it polls quickly until it can subscribe again,
/// and answers without its result cache meanwhile.
///
/// The section shares its environment variables (`OCTODB_REDIS__*`) with the admin's `[redis]`,
/// so one environment can configure both: the admin's job-queue fields are accepted here and
/// ignored.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`; give it through the environment when it holds a
    /// password. Env: `OCTODB_REDIS__URL`.
    pub url: Option<String>,
    /// The admin's (job stream name); unused by the proxy.
    pub stream_prefix: IgnoredAny,
    /// The admin's (job consumer group); unused by the proxy.
    pub group: IgnoredAny,
    /// The admin's (job claim timeout); unused by the proxy.
    pub claim_idle_ms: IgnoredAny,
    /// The admin's (job read timeout); unused by the proxy.
    pub block_ms: IgnoredAny,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// `[audit]`: proxy-side auth failures and policy refusals are written to the catalog's audit
/// log (actions `proxy.auth_failed`, `proxy.refused`), at most `max_per_window` entries per
/// tenant (or per user name when the tenant is unknown) and action in each window of
/// `window_secs`, then one entry saying how many were suppressed. Writes happen off the
/// connection path through a queue of `queue` entries; when it is full, entries are dropped
/// and counted (`octodb_proxy_audit_dropped_total`). Every event is counted in the metrics
/// whatever the sampling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Entries per key and action per window; 0 writes none. Env: `OCTODB_AUDIT__MAX_PER_WINDOW`.
    pub max_per_window: u32,
    /// Length of a sampling window, in seconds. Env: `OCTODB_AUDIT__WINDOW_SECS`.
    pub window_secs: u64,
    /// Entries waiting to be written at most. Env: `OCTODB_AUDIT__QUEUE`.
    pub queue: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            max_per_window: 10,
            window_secs: 60,
            queue: 256,
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            log_format: LogFormat::Text,
            listen: "127.0.0.1:6033".into(),
            metrics_listen: None,
            max_packet_size: 64 << 20,
            pool_max: 64,
            pool_wait_secs: 10,
            pool_idle_secs: 60,
            backend_connect_timeout_ms: 10_000,
            backend_stmt_cache: 64,
            multiplexing: true,
            server_version: None,
            decision_cache_bytes: 64 << 20,
            shutdown_grace_secs: 10,
            proxy_protocol_from: Vec::new(),
            worker_threads: 0,
            catalog_poll_ms: 250,
            catalog_fallback_poll_ms: 5_000,
            digest_flush_secs: 10,
            digest_max_per_tenant: 1_000,
            digest_max_total: 20_000,
            proxy_id: None,
            metrics: crate::tenant_labels::MetricsConfig::default(),
            catalog: CatalogConfig::default(),
            redis: RedisConfig::default(),
            audit: AuditConfig::default(),
            limits: crate::limits::LimitsConfig::default(),
            result_cache: crate::result_cache::ResultCacheConfig::default(),
        }
    }
}

impl ProxyConfig {
    /// How many workers `worker_threads` asks for (0: one per CPU).
    pub fn workers(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_packet_size < 1024 || self.max_packet_size > 1 << 30 {
            return Err("max_packet_size must be between 1 KiB and 1 GiB".into());
        }
        if self.worker_threads > 1024 {
            return Err("worker_threads must be at most 1024 (0: one per CPU)".into());
        }
        if self.catalog_poll_ms < 10 || self.catalog_poll_ms > 60_000 {
            return Err("catalog_poll_ms must be between 10 and 60000".into());
        }
        if self.catalog_fallback_poll_ms < 10 || self.catalog_fallback_poll_ms > 600_000 {
            return Err("catalog_fallback_poll_ms must be between 10 and 600000".into());
        }
        if let Some(url) = &self.redis.url {
            // The message never shows the URL, which may hold a password.
            if let Err(e) = redis::Client::open(url.as_str()) {
                return Err(format!("redis.url is not a Redis URL ({:?})", e.kind()));
            }
        }
        if self.audit.window_secs == 0 || self.audit.window_secs > 86_400 {
            return Err("audit.window_secs must be between 1 and 86400".into());
        }
        if self.audit.queue == 0 {
            return Err("audit.queue must be at least 1".into());
        }
        if self.backend_stmt_cache == 0 || self.backend_stmt_cache > 4096 {
            return Err("backend_stmt_cache must be between 1 and 4096".into());
        }
        if self.pool_max == 0 {
            return Err("pool_max must be at least 1".into());
        }
        for n in &self.proxy_protocol_from {
            crate::proxy_header::Network::parse(n)
                .map_err(|e| format!("proxy_protocol_from: {e}"))?;
        }
        if !(100..=600_000).contains(&self.backend_connect_timeout_ms) {
            return Err("backend_connect_timeout_ms must be between 100 and 600000".into());
        }
        if self.digest_flush_secs > 3_600 {
            return Err("digest_flush_secs must be at most 3600 (0 turns digests off)".into());
        }
        if self.digest_max_per_tenant == 0 || self.digest_max_per_tenant > self.digest_max_total {
            return Err("digest_max_per_tenant must be between 1 and digest_max_total".into());
        }
        if self.digest_max_total > 1_000_000 {
            return Err("digest_max_total must be at most 1000000".into());
        }
        if self
            .proxy_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.chars().count() > 128)
        {
            return Err("proxy_id must be 1 to 128 characters".into());
        }
        self.metrics.validate()?;
        self.limits.validate()?;
        self.result_cache.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example shipped in `deploy/` stays loadable: every field in it exists.
    #[test]
    fn example_config_loads() -> Result<(), octodb_catalog::ConfigError> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/octodb.example.toml");
        let cfg: ProxyConfig = octodb_catalog::load_config_from(Some(&path), "octodb", Vec::new())?;
        assert_eq!(cfg.catalog_fallback_poll_ms, 5000);
        assert_eq!(cfg.audit.max_per_window, 10);
        assert_eq!(cfg.digest_flush_secs, 10);
        assert_eq!(
            cfg.metrics.tenant_labels,
            crate::tenant_labels::TenantLabelMode::Top
        );
        assert_eq!(cfg.result_cache.max_bytes, 64 << 20);
        assert_eq!(
            cfg.result_cache.invalidation,
            crate::result_cache::Scope::Database
        );
        Ok(())
    }

    fn load(vars: &[(&str, &str)]) -> Result<ProxyConfig, octodb_catalog::ConfigError> {
        octodb_catalog::config::load_config_from(
            None,
            "OCTODB",
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn the_admins_redis_settings_do_not_break_the_proxy() {
        let c = match load(&[
            ("OCTODB_REDIS__URL", "redis://:sesame@127.0.0.1:6379"),
            ("OCTODB_REDIS__STREAM_PREFIX", "jobs"),
            ("OCTODB_REDIS__GROUP", "g"),
            ("OCTODB_REDIS__CLAIM_IDLE_MS", "100"),
            ("OCTODB_REDIS__BLOCK_MS", "100"),
            ("OCTODB_AUDIT__MAX_PER_WINDOW", "3"),
        ]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            c.redis.url.as_deref(),
            Some("redis://:sesame@127.0.0.1:6379")
        );
        assert_eq!(c.audit.max_per_window, 3);
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("sesame"));
        // Still strict about names nobody knows.
        assert!(load(&[("OCTODB_REDIS__URLL", "redis://x")]).is_err());
    }

    #[test]
    fn validation() {
        let ok = ProxyConfig::default();
        assert!(ok.validate().is_ok());
        let bad_url = ProxyConfig {
            redis: RedisConfig {
                url: Some("http://:sesame@x".into()),
                ..RedisConfig::default()
            },
            ..ProxyConfig::default()
        };
        let e = bad_url.validate().err().unwrap_or_default();
        assert!(e.contains("redis.url") && !e.contains("sesame"), "{e}");
        let bad_window = ProxyConfig {
            audit: AuditConfig {
                window_secs: 0,
                ..AuditConfig::default()
            },
            ..ProxyConfig::default()
        };
        assert!(bad_window.validate().is_err());
        for ms in [0, 99, 600_001] {
            let bad_connect = ProxyConfig {
                backend_connect_timeout_ms: ms,
                ..ProxyConfig::default()
            };
            let e = bad_connect.validate().err().unwrap_or_default();
            assert!(e.contains("backend_connect_timeout_ms"), "{ms}: {e}");
        }
        let c = load(&[("OCTODB_BACKEND_CONNECT_TIMEOUT_MS", "1500")]).unwrap_or_default();
        assert_eq!(c.backend_connect_timeout_ms, 1500);
        let c = load(&[(
            "OCTODB_PROXY_PROTOCOL_FROM",
            r#"["10.0.0.0/8", "2001:db8::7"]"#,
        )])
        .unwrap_or_default();
        assert_eq!(c.proxy_protocol_from, ["10.0.0.0/8", "2001:db8::7"]);
        assert!(c.validate().is_ok());
        let bad_network = ProxyConfig {
            proxy_protocol_from: vec!["10.0.0.0/8".into(), "10.0.0.0/40".into()],
            ..ProxyConfig::default()
        };
        let e = bad_network.validate().err().unwrap_or_default();
        assert!(
            e.contains("proxy_protocol_from") && e.contains("10.0.0.0/40"),
            "{e}"
        );
        let bad_fallback = ProxyConfig {
            catalog_fallback_poll_ms: 0,
            ..ProxyConfig::default()
        };
        assert!(bad_fallback.validate().is_err());
    }
}
