//! `octodb-admin` configuration: TOML file (optional) plus `OCTODB_*` environment overrides,
//! loaded with [`octodb_catalog::load_config`]. All fields need a restart to change.

use std::fmt;
use std::net::SocketAddr;

use octodb_catalog::{BackendAdmin, CatalogConfig};
use serde::Deserialize;

/// The whole admin configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address the HTTP API listens on. Env: `OCTODB_LISTEN`.
    pub listen: SocketAddr,
    /// The MetaDB (`[catalog]`; env `OCTODB_CATALOG__URL`, `OCTODB_CATALOG__KEY`,
    /// `OCTODB_CATALOG__KEY_FILE`).
    pub catalog: CatalogConfig,
    /// The backend server new tenants are placed on, and its administrative user
    /// (`[backend]`; env `OCTODB_BACKEND__HOST`, `..._PORT`, `..._ADMIN_USER`, `..._ADMIN_PASSWORD`).
    pub backend: BackendConfig,
    /// Largest request body accepted, in bytes (larger: 413). Env: `OCTODB_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// The job queue (`[jobs]`; env `OCTODB_JOBS__MAX_ATTEMPTS`, ...).
    pub jobs: JobsConfig,
    /// Redis Streams job dispatch (`[redis]`; env `OCTODB_REDIS__URL`, ...). Without a URL, jobs
    /// run through the in-process queue.
    pub redis: RedisConfig,
    /// Per-caller request rate limits (`[rate_limit]`; env `OCTODB_RATE_LIMIT__REQUESTS_PER_SECOND`,
    /// `OCTODB_RATE_LIMIT__BURST`).
    pub rate_limit: RateLimitConfig,
    /// Tenant webhook deliveries (`[webhooks]`; env `OCTODB_WEBHOOKS__MAX_ATTEMPTS`, ...).
    pub webhooks: WebhooksConfig,
    /// Periodic schema drift checks (`[drift]`; env `OCTODB_DRIFT__INTERVAL_SECS`,
    /// `OCTODB_DRIFT__CONCURRENCY`).
    pub drift: DriftConfig,
    /// How log lines (on stderr) are written: `text` or `json` (one object a line). Env:
    /// `OCTODB_LOG_FORMAT`.
    pub log_format: LogFormat,
}

impl AdminConfig {
    /// Whether logs are JSON lines (`log_format = "json"`).
    pub fn json_logs(&self) -> bool {
        self.log_format == LogFormat::Json
    }
}

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

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            log_format: LogFormat::Text,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            catalog: CatalogConfig::default(),
            backend: BackendConfig::default(),
            max_body_bytes: 64 * 1024,
            jobs: JobsConfig::default(),
            redis: RedisConfig::default(),
            rate_limit: RateLimitConfig::default(),
            webhooks: WebhooksConfig::default(),
            drift: DriftConfig::default(),
        }
    }
}

/// `[drift]`: the periodic check of every template-bound database's live schema against the
/// schema its recorded version promises. Each database's latest result is kept in the catalog
/// (`GET /v1/drift`); a database that newly drifted is audited (`schema.drift_detected`) and
/// its tenant's webhook told. `GET /v1/tenants/{id}/databases/{db}/drift` checks one database
/// at any time, whatever this says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    /// Seconds between two runs (the first comes one interval after start); `0` turns periodic
    /// checks off. Env: `OCTODB_DRIFT__INTERVAL_SECS`.
    pub interval_secs: u64,
    /// Databases checked at once, each on its own backend connection (at least 1). Checks only
    /// read (information_schema, SHOW CREATE TABLE) and build shared scratch workspaces.
    /// Env: `OCTODB_DRIFT__CONCURRENCY`.
    pub concurrency: usize,
}

impl Default for DriftConfig {
    /// Hourly, two at a time: drift is rare, and a check must not compete with migrations.
    fn default() -> Self {
        DriftConfig {
            interval_secs: 3600,
            concurrency: 2,
        }
    }
}

/// `[webhooks]`: how events are delivered to tenants' webhook URLs (signed JSON POSTs). A
/// delivery that does not get a 2xx answer is retried with exponential backoff and jitter, then
/// marked failed with its last error. Pending deliveries are kept in the catalog and resume at
/// start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Attempts per delivery before it is marked failed (at least 1).
    /// Env: `OCTODB_WEBHOOKS__MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with each attempt (a random 50-100% of it is used).
    /// Env: `OCTODB_WEBHOOKS__BACKOFF_BASE_MS`.
    pub backoff_base_ms: u64,
    /// Longest delay between two attempts. Env: `OCTODB_WEBHOOKS__BACKOFF_MAX_MS`.
    pub backoff_max_ms: u64,
    /// Time allowed for one attempt: connect, send, and the receiver's answer (at least 1).
    /// Env: `OCTODB_WEBHOOKS__TIMEOUT_MS`.
    pub timeout_ms: u64,
    /// Whether webhook URLs may point at loopback, private, link-local (cloud metadata),
    /// shared or otherwise non-public addresses. Off by default: a tenant-supplied URL must not
    /// reach the operator's own network. Checked when the URL is set and again on every attempt,
    /// against the addresses the host resolves to. Env: `OCTODB_WEBHOOKS__ALLOW_PRIVATE`.
    pub allow_private: bool,
}

impl Default for WebhooksConfig {
    /// About an hour of retries in all (1 s doubling up to 10 min, 10 attempts).
    fn default() -> Self {
        WebhooksConfig {
            max_attempts: 10,
            backoff_base_ms: 1_000,
            backoff_max_ms: 600_000,
            timeout_ms: 5_000,
            allow_private: false,
        }
    }
}

/// `[rate_limit]`: a token bucket per caller (an API key; without a valid key, the source address,
/// IPv6 per /64). An empty bucket answers 429 with `Retry-After`. `/healthz`, `/readyz` and
/// `/metrics` are never limited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second allowed to one caller (the bucket's refill rate); `0` turns
    /// rate limiting off. Env: `OCTODB_RATE_LIMIT__REQUESTS_PER_SECOND`.
    pub requests_per_second: u32,
    /// Requests one caller may make in a row after being idle (the bucket's size); at least 1
    /// when limiting is on. Env: `OCTODB_RATE_LIMIT__BURST`.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    /// Generous for people and scripts (a job poll loop makes about 20 requests per second), low
    /// enough to stop a runaway client or a key-guessing flood from loading the catalog.
    fn default() -> Self {
        RateLimitConfig {
            requests_per_second: 50,
            burst: 100,
        }
    }
}

/// `[jobs]`: retries and concurrency of the job queue (in-process or Redis). Unfinished jobs are
/// resumed at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Attempts before a job fails for good (retryable errors only). Env: `OCTODB_JOBS__MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt (with jitter). Env: `..._BACKOFF_BASE_MS`.
    pub backoff_base_ms: u64,
    /// Longest retry delay. Env: `OCTODB_JOBS__BACKOFF_MAX_MS`.
    pub backoff_max_ms: u64,
    /// Jobs run at once by this process. Env: `OCTODB_JOBS__CONCURRENCY`.
    pub concurrency: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            max_attempts: 5,
            backoff_base_ms: 200,
            backoff_max_ms: 30_000,
            concurrency: 8,
        }
    }
}

/// `[redis]`: the Redis Streams job dispatcher. Absent `url`: the in-process queue.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`. Give it through the environment when it holds a
    /// password. Env: `OCTODB_REDIS__URL`.
    pub url: Option<String>,
    /// Name of the jobs stream; dead letters go to `{stream_prefix}:dead`.
    /// Env: `OCTODB_REDIS__STREAM_PREFIX`.
    pub stream_prefix: String,
    /// Consumer group shared by all admin processes. Env: `OCTODB_REDIS__GROUP`.
    pub group: String,
    /// How long an entry may sit unacknowledged on a consumer before another takes it (the owner
    /// refreshes its entries while alive). Env: `OCTODB_REDIS__CLAIM_IDLE_MS`.
    pub claim_idle_ms: u64,
    /// How long one `XREADGROUP` blocks waiting for entries. Env: `OCTODB_REDIS__BLOCK_MS`.
    pub block_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            stream_prefix: "octodb:jobs".to_string(),
            group: "octodb-admin".to_string(),
            claim_idle_ms: 30_000,
            block_ms: 1_000,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("stream_prefix", &self.stream_prefix)
            .field("group", &self.group)
            .field("claim_idle_ms", &self.claim_idle_ms)
            .field("block_ms", &self.block_ms)
            .finish()
    }
}

/// `[backend]`: where tenants' databases and backend users are created.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    /// Host of the backend MySQL/MariaDB server. Env: `OCTODB_BACKEND__HOST`.
    pub host: String,
    /// Port of the backend server. Env: `OCTODB_BACKEND__PORT`.
    pub port: u16,
    /// A user that may create databases and users and grant privileges.
    /// Env: `OCTODB_BACKEND__ADMIN_USER`.
    pub admin_user: String,
    /// Its password: give it through the environment (`OCTODB_BACKEND__ADMIN_PASSWORD`), not the
    /// file. Quote it (`'"123"'`) if it looks like a number.
    pub admin_password: String,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            host: "127.0.0.1".to_string(),
            port: 3306,
            admin_user: "root".to_string(),
            admin_password: String::new(),
        }
    }
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("admin_user", &self.admin_user)
            .field("admin_password", &"<redacted>")
            .finish()
    }
}

impl BackendConfig {
    /// The credentials the catalog uses for provisioning.
    pub fn admin(&self) -> BackendAdmin {
        BackendAdmin {
            host: self.host.clone(),
            port: self.port,
            user: self.admin_user.clone(),
            password: self.admin_password.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_env() {
        let c: AdminConfig = octodb_catalog::config::load_config_from(
            None,
            "OCTODB",
            [
                ("OCTODB_LISTEN".to_string(), "0.0.0.0:9000".to_string()),
                ("OCTODB_BACKEND__PORT".to_string(), "3307".to_string()),
                (
                    "OCTODB_BACKEND__ADMIN_PASSWORD".to_string(),
                    "hunter2".to_string(),
                ),
                (
                    "OCTODB_REDIS__URL".to_string(),
                    "redis://:sesame@127.0.0.1:6379".to_string(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.backend.port, 3307);
        assert_eq!(c.backend.host, "127.0.0.1");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            c.redis.url.as_deref(),
            Some("redis://:sesame@127.0.0.1:6379")
        );
        assert_eq!(c.redis.stream_prefix, "octodb:jobs");
        assert!(!format!("{c:?}").contains("sesame"));
        assert_eq!(
            (c.rate_limit.requests_per_second, c.rate_limit.burst),
            (50, 100)
        );
    }

    #[test]
    fn webhooks_defaults_and_env() {
        let c = AdminConfig::default();
        assert!(
            !c.webhooks.allow_private,
            "private addresses refused by default"
        );
        assert_eq!(
            (c.webhooks.max_attempts, c.webhooks.timeout_ms),
            (10, 5_000)
        );
        let c: AdminConfig = octodb_catalog::config::load_config_from(
            None,
            "OCTODB",
            [
                ("OCTODB_WEBHOOKS__MAX_ATTEMPTS".to_string(), "3".to_string()),
                (
                    "OCTODB_WEBHOOKS__ALLOW_PRIVATE".to_string(),
                    "true".to_string(),
                ),
                (
                    "OCTODB_WEBHOOKS__BACKOFF_MAX_MS".to_string(),
                    "900".to_string(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.webhooks.max_attempts, 3);
        assert!(c.webhooks.allow_private);
        assert_eq!(c.webhooks.backoff_max_ms, 900);
    }

    #[test]
    fn drift_defaults_and_env() {
        let c = AdminConfig::default();
        assert_eq!((c.drift.interval_secs, c.drift.concurrency), (3600, 2));
        let c: AdminConfig = octodb_catalog::config::load_config_from(
            None,
            "OCTODB",
            [("OCTODB_DRIFT__INTERVAL_SECS".to_string(), "0".to_string())],
        )
        .unwrap();
        assert_eq!(c.drift.interval_secs, 0);
        let bad = octodb_catalog::config::load_config_from::<AdminConfig>(
            None,
            "OCTODB",
            [("OCTODB_DRIFT__INTERVALS".to_string(), "5".to_string())],
        );
        assert!(bad.is_err(), "unknown fields are refused");
    }

    #[test]
    fn rate_limit_from_env() {
        let c: AdminConfig = octodb_catalog::config::load_config_from(
            None,
            "OCTODB",
            [
                (
                    "OCTODB_RATE_LIMIT__REQUESTS_PER_SECOND".to_string(),
                    "0".to_string(),
                ),
                ("OCTODB_RATE_LIMIT__BURST".to_string(), "7".to_string()),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.rate_limit.requests_per_second, c.rate_limit.burst),
            (0, 7)
        );
        let bad = octodb_catalog::config::load_config_from::<AdminConfig>(
            None,
            "OCTODB",
            [("OCTODB_RATE_LIMIT__BURST".to_string(), "-1".to_string())],
        );
        assert!(bad.is_err());
    }
}
