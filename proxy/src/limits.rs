//! Per-tenant limits, enforced by this proxy: client connections (1040 at login), statements
//! per second (a token bucket per tenant: a statement over the budget waits a bounded time,
//! then gets 1226), the statement timeout (a backend session variable, see [`timeout`]), and
//! failed logins per user and per source address ([`auth_throttle`]).
//!
//! The limits live in the catalog (`LimitSettings`, `None` = this proxy's `[limits]` default).
//! [`Limits`] holds them for the tenants with sessions here: the first session of a tenant
//! reads them, [`Limits::refresh`] (called by the catalog watcher each time the catalog version
//! moves, which every change of limits does) applies changes in place, so open sessions follow
//! within the watcher's delay. An entry outlives the tenant's last session for
//! [`IDLE_KEEP`], so a client that connects once per transaction costs no extra catalog read;
//! older idle entries are dropped once the table grows. Every proxy counts and rate limits on
//! its own: with N proxies a tenant may have N times the limit.
//!
//! Statements counted by the rate limit: those forwarded to the backend (COM_QUERY and
//! COM_STMT_EXECUTE); local answers, refusals and COM_STMT_PREPARE are not.
//!
//! Backend code reads a tenant's limits with [`Limits::for_tenant`] (e.g. its backend
//! connection cap); a session takes a statement token with [`Admission::statement`] and bounds
//! each statement's run time with [`Admission::with_timeout`] (see [`timeout`]).

mod auth_throttle;
mod bucket;
pub mod timeout;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::borrow::Cow;

use octodb_catalog::{Catalog, CatalogError, LimitSettings, Login};
use octodb_policy::StatementKind;
use serde::Deserialize;
use tracing::{info, warn};

use crate::error::{codes, ClientError};
use crate::metrics;
use auth_throttle::{AuthThrottle, Thresholds};
use bucket::Bucket;
use timeout::Flavor;

/// MySQL's ER_USER_LIMIT_REACHED: a statement over the tenant's rate.
pub const ER_USER_LIMIT_REACHED: u16 = 1226;

/// `[limits]`: this proxy's defaults for tenants without their own limits, how long a statement
/// may wait for the rate limit, and the failed-login thresholds. Env: `OCTODB_LIMITS__<FIELD>`.
/// Needs a restart to change (per-tenant limits change at run time through the admin API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Client connections per tenant at once; none = unlimited.
    pub max_client_connections: Option<u32>,
    /// Backend connections per tenant; none = `pool_max`.
    pub max_backend_connections: Option<u32>,
    /// Statements per second per tenant; none = unlimited.
    pub statements_per_second: Option<u32>,
    /// Token bucket size; none = one second's worth.
    pub statement_burst: Option<u32>,
    /// Statement timeout in milliseconds; 0 = none.
    pub statement_timeout_ms: u32,
    /// Longest a statement waits for a token before getting error 1226, in milliseconds.
    pub rate_wait_ms: u64,
    /// Failed logins of one user from one address (IPv6: one /64) before both are refused
    /// for `auth_window_secs`; 0 = no limit.
    pub auth_failures_per_user_address: u32,
    /// Failed logins from one address, any users; 0 = no limit.
    pub auth_failures_per_address: u32,
    /// Failed logins of one user, any addresses (locks the user out everywhere: keep it
    /// high); 0 = no limit.
    pub auth_failures_per_user: u32,
    /// Window of the failed-login counts, and how long a login stays refused, in seconds.
    pub auth_window_secs: u64,
    /// Most (user, address) keys tracked for failed logins (bounds memory).
    pub auth_tracked_max: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_client_connections: None,
            max_backend_connections: None,
            statements_per_second: None,
            statement_burst: None,
            statement_timeout_ms: 0,
            rate_wait_ms: 1_000,
            auth_failures_per_user_address: 5,
            auth_failures_per_address: 50,
            auth_failures_per_user: 200,
            auth_window_secs: 60,
            auth_tracked_max: 100_000,
        }
    }
}

impl LimitsConfig {
    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        let defaults = LimitSettings {
            max_client_connections: self.max_client_connections,
            max_backend_connections: self.max_backend_connections,
            statements_per_second: self.statements_per_second,
            statement_burst: self.statement_burst,
            statement_timeout_ms: Some(self.statement_timeout_ms),
            ..LimitSettings::default()
        };
        defaults.validate().map_err(|e| format!("limits: {e}"))?;
        if self.rate_wait_ms > 60_000 {
            return Err("limits.rate_wait_ms must be at most 60000".into());
        }
        if self.auth_window_secs == 0 || self.auth_window_secs > 86_400 {
            return Err("limits.auth_window_secs must be between 1 and 86400".into());
        }
        if self.auth_tracked_max == 0 {
            return Err("limits.auth_tracked_max must be at least 1".into());
        }
        Ok(())
    }
}

/// A tenant's limits in force on this proxy (its own, else the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLimits {
    /// None: unlimited.
    pub max_client_connections: Option<u32>,
    pub max_backend_connections: u32,
    /// None: unlimited.
    pub statements_per_second: Option<u32>,
    pub statement_burst: u32,
    /// None: no timeout.
    pub statement_timeout_ms: Option<u32>,
    /// How long the tenant's SELECT results may be served from this proxy's result cache;
    /// None: not cached (the tenant has not opted in). No proxy-wide default: opt-in only.
    pub result_cache_ttl_ms: Option<u32>,
    /// The tenant's own result cache budget; None: `[result_cache] tenant_max_bytes`.
    pub result_cache_max_bytes: Option<u32>,
}

impl TenantLimits {
    fn resolve(own: &LimitSettings, c: &LimitsConfig, pool_max: u32) -> Self {
        let rate = own.statements_per_second.or(c.statements_per_second);
        TenantLimits {
            max_client_connections: own.max_client_connections.or(c.max_client_connections),
            max_backend_connections: own
                .max_backend_connections
                .or(c.max_backend_connections)
                .unwrap_or(pool_max),
            statements_per_second: rate,
            statement_burst: own
                .statement_burst
                .or(c.statement_burst)
                .or(rate)
                .unwrap_or(1)
                .max(1),
            statement_timeout_ms: Some(own.statement_timeout_ms.unwrap_or(c.statement_timeout_ms))
                .filter(|ms| *ms > 0),
            result_cache_ttl_ms: own.result_cache_ttl_ms.filter(|ms| *ms > 0),
            result_cache_max_bytes: own.result_cache_max_bytes,
        }
    }
}

/// One tenant with open sessions.
struct TenantEntry {
    name: String,
    state: Mutex<TenantState>,
}

struct TenantState {
    limits: TenantLimits,
    bucket: Bucket,
}

impl TenantEntry {
    fn lock(&self) -> MutexGuard<'_, TenantState> {
        lock(&self.state)
    }
}

struct Slot {
    entry: Arc<TenantEntry>,
    clients: u32,
    /// When the last session ended (`None` while there are sessions).
    idle_since: Option<Instant>,
}

/// How long a tenant's entry is kept after its last session.
pub const IDLE_KEEP: Duration = Duration::from_secs(60);
/// Idle entries are looked for only once the table holds more than this (then twice as many as
/// after the last pruning), so pruning costs O(1) per new tenant on average.
const PRUNE_FROM: usize = 1024;

/// The limits of the tenants with sessions here (or recently), and the failed-login counts.
pub struct Limits {
    config: LimitsConfig,
    pool_max: u32,
    tenants: Mutex<HashMap<u64, Slot>>,
    /// Table size at which idle entries are pruned next.
    prune_at: AtomicU64,
    /// Bumped by each refresh before it lists the tenants, so a first session that read its
    /// limits while a refresh ran can tell and read them again.
    generation: AtomicU64,
    auth: Mutex<AuthThrottle>,
    /// How statement timeouts are written for the backends.
    flavor: Flavor,
}

use crate::sync::lock;

impl Limits {
    /// `server_version`: the version the proxy announces, which tells MariaDB from MySQL.
    pub fn new(config: LimitsConfig, pool_max: usize, server_version: &str) -> Arc<Self> {
        let auth = AuthThrottle::new(Thresholds {
            per_user_address: config.auth_failures_per_user_address,
            per_address: config.auth_failures_per_address,
            per_user: config.auth_failures_per_user,
            window: Duration::from_secs(config.auth_window_secs),
            max_entries: config.auth_tracked_max,
        });
        Arc::new(Limits {
            pool_max: u32::try_from(pool_max).unwrap_or(u32::MAX),
            config,
            tenants: Mutex::new(HashMap::new()),
            prune_at: AtomicU64::new(PRUNE_FROM as u64),
            generation: AtomicU64::new(0),
            auth: Mutex::new(auth),
            flavor: Flavor::from_version(server_version),
        })
    }

    /// The limits in force for `tenant_id`: its own when it has (or recently had) sessions
    /// here, the defaults otherwise (a tenant's first session loads its own before anything runs).
    pub fn for_tenant(&self, tenant_id: u64) -> TenantLimits {
        let entry = lock(&self.tenants).get(&tenant_id).map(|s| s.entry.clone());
        match entry {
            Some(e) => e.lock().limits,
            None => TenantLimits::resolve(&LimitSettings::default(), &self.config, self.pool_max),
        }
    }

    fn resolve(&self, own: &LimitSettings) -> TenantLimits {
        TenantLimits::resolve(own, &self.config, self.pool_max)
    }

    async fn load(&self, catalog: &Catalog, tenant_id: u64) -> Result<LimitSettings, CatalogError> {
        let catalog = catalog.clone();
        let rows =
            crate::timers::catalog(async move { catalog.limits_of(&[tenant_id]).await }).await?;
        Ok(rows.into_iter().next().map(|(_, l)| l).unwrap_or_default())
    }

    /// Admits a new session of `login`'s tenant, or refuses it with 1040 when the tenant is at
    /// its client connection limit. The session holds the returned [`Admission`] for its life.
    pub async fn admit(
        self: &Arc<Self>,
        catalog: &Catalog,
        login: &Login,
        peer: Option<IpAddr>,
    ) -> Result<Admission, ClientError> {
        let id = login.tenant_id;
        let known = lock(&self.tenants).get(&id).map(|s| s.entry.clone());
        let entry = match known {
            Some(entry) => entry,
            None => self.first_entry(catalog, id, &login.tenant_name).await,
        };
        let entry = {
            let mut tenants = lock(&self.tenants);
            if !tenants.contains_key(&id) {
                self.prune(&mut tenants);
            }
            let slot = tenants.entry(id).or_insert_with(|| Slot {
                entry,
                clients: 0,
                idle_since: Some(Instant::now()),
            });
            let max = slot.entry.lock().limits.max_client_connections;
            if let Some(max) = max.filter(|max| slot.clients >= *max) {
                metrics::limit_refusal(metrics::LIMIT_CLIENT_CONNECTIONS);
                metrics::refusal(codes::ER_CON_COUNT);
                return Err(ClientError::new(
                    codes::ER_CON_COUNT,
                    "08004",
                    format!(
                        "Too many connections: tenant {} is limited to {max} client connections",
                        login.tenant_name
                    ),
                ));
            }
            slot.clients += 1;
            slot.idle_since = None;
            slot.entry.clone()
        };
        Ok(Admission {
            limits: self.clone(),
            tenant_id: id,
            entry,
            peer,
        })
    }

    /// Reads a tenant's limits for its first session here. A catalog failure leaves the
    /// defaults in force (logged); the next catalog change retries.
    async fn first_entry(&self, catalog: &Catalog, id: u64, name: &str) -> Arc<TenantEntry> {
        let before = self.generation.load(Ordering::SeqCst);
        let mut own = self.load(catalog, id).await;
        if self.generation.load(Ordering::SeqCst) != before {
            // A refresh ran meanwhile and may have missed this tenant: read again.
            own = self.load(catalog, id).await;
        }
        let own = own.unwrap_or_else(|e| {
            warn!(error = %e, tenant_id = id, "cannot read the tenant's limits; defaults apply");
            LimitSettings::default()
        });
        let limits = self.resolve(&own);
        Arc::new(TenantEntry {
            name: name.to_string(),
            state: Mutex::new(TenantState {
                limits,
                bucket: Bucket::full(limits.statement_burst, Instant::now()),
            }),
        })
    }

    fn release(&self, tenant_id: u64) {
        let mut tenants = lock(&self.tenants);
        if let Some(slot) = tenants.get_mut(&tenant_id) {
            slot.clients = slot.clients.saturating_sub(1);
            if slot.clients == 0 {
                slot.idle_since = Some(Instant::now());
            }
        }
    }

    /// Drops entries idle for longer than [`IDLE_KEEP`] once the table is large.
    fn prune(&self, tenants: &mut HashMap<u64, Slot>) {
        let at = self.prune_at.load(Ordering::Relaxed);
        if (tenants.len() as u64) < at {
            return;
        }
        let now = Instant::now();
        tenants.retain(|_, s| {
            s.idle_since
                .is_none_or(|since| now.saturating_duration_since(since) < IDLE_KEEP)
        });
        let next = (tenants.len() as u64 * 2).max(PRUNE_FROM as u64);
        self.prune_at.store(next, Ordering::Relaxed);
    }

    /// Re-reads the limits of every tenant in the table and applies changes in place
    /// (called each time the catalog version moved).
    pub async fn refresh(&self, catalog: &Catalog) -> Result<(), CatalogError> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let entries: Vec<(u64, Arc<TenantEntry>)> = lock(&self.tenants)
            .iter()
            .map(|(id, s)| (*id, s.entry.clone()))
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = entries.iter().map(|(id, _)| *id).collect();
        let mut own: HashMap<u64, LimitSettings> = HashMap::new();
        // In chunks: a statement takes at most 65535 placeholders.
        for chunk in ids.chunks(1000) {
            own.extend(catalog.limits_of(chunk).await?);
        }
        for (id, entry) in entries {
            let fresh = self.resolve(&own.get(&id).copied().unwrap_or_default());
            let mut state = entry.lock();
            if state.limits == fresh {
                continue;
            }
            info!(tenant = %entry.name, limits = ?fresh, "tenant limits changed");
            if state.limits.statements_per_second.is_none() {
                // Newly limited: start with a full bucket.
                state.bucket = Bucket::full(fresh.statement_burst, Instant::now());
            }
            state.limits = fresh;
        }
        Ok(())
    }

    /// `Err` (1045, without looking at the password; with the user's tenant when known, for
    /// the audit log) while logins of `user` from `peer` are refused after too many failures.
    pub fn check_login(
        &self,
        user: &str,
        peer: Option<IpAddr>,
    ) -> Result<(), (ClientError, Option<u64>)> {
        let Some((wait, tenant)) = lock(&self.auth).blocked(user, peer, Instant::now()) else {
            return Ok(());
        };
        metrics::limit_refusal(metrics::LIMIT_AUTH_FAILURES);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let error = ClientError::new(
            codes::ER_ACCESS_DENIED,
            "28000",
            format!(
                "Access denied for user '{user}': too many failed logins, try again in {secs} \
                 seconds"
            ),
        );
        Err((error, tenant))
    }

    /// Counts a failed login: an unknown user, or a wrong password for a user of `tenant`.
    pub fn login_failed(&self, user: &str, peer: Option<IpAddr>, tenant: Option<u64>) {
        let mut auth = lock(&self.auth);
        auth.failed(user, peer, tenant, Instant::now());
        metrics::auth_throttle_entries(auth.len());
    }

    /// A successful login.
    pub fn login_succeeded(&self, user: &str, peer: Option<IpAddr>) {
        lock(&self.auth).succeeded(user, peer);
    }
}

/// A session's place under its tenant's limits: counts as one client connection until
/// dropped; takes statement tokens; keeps its backend connection's statement timeout in line.
pub struct Admission {
    limits: Arc<Limits>,
    tenant_id: u64,
    entry: Arc<TenantEntry>,
    peer: Option<IpAddr>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.limits.release(self.tenant_id);
    }
}

impl Admission {
    /// The client's address (for failed-login counts on COM_CHANGE_USER).
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    pub fn tenant_id(&self) -> u64 {
        self.tenant_id
    }

    /// The tenant's limits now.
    pub fn current(&self) -> TenantLimits {
        self.entry.lock().limits
    }

    /// Takes a token for one statement: at once, after a wait of at most `rate_wait_ms`, or
    /// 1226 after waiting `rate_wait_ms` anyway (so a client retrying in a loop is slowed down
    /// too, rather than spinning on errors).
    pub async fn statement(&self) -> Result<(), ClientError> {
        let max_wait = Duration::from_millis(self.limits.config.rate_wait_ms);
        let (taken, rate, burst) = {
            let mut state = self.entry.lock();
            let limits = state.limits;
            let Some(rate) = limits.statements_per_second else {
                return Ok(());
            };
            let burst = limits.statement_burst;
            let taken = state.bucket.take(Instant::now(), rate, burst, max_wait);
            (taken, rate, burst)
        };
        match taken {
            Ok(wait) if wait.is_zero() => Ok(()),
            Ok(wait) => {
                metrics::statement_throttled();
                crate::timers::sleep(wait).await;
                Ok(())
            }
            Err(()) => {
                metrics::statement_throttled();
                crate::timers::sleep(max_wait).await;
                metrics::limit_refusal(metrics::LIMIT_STATEMENTS_PER_SECOND);
                metrics::refusal(ER_USER_LIMIT_REACHED);
                Err(ClientError::new(
                    ER_USER_LIMIT_REACHED,
                    "42000",
                    format!(
                        "Tenant '{}' has exceeded its limit of {rate} statements per second \
                         (burst {burst}); try again later",
                        self.entry.name
                    ),
                ))
            }
        }
    }

    /// `sql` (a statement of `kind` the policy rendered) bounded by the tenant's statement
    /// timeout, if it has one. Call on the text actually sent, each time it is sent (the
    /// limit may have changed since a statement was prepared).
    pub fn with_timeout<'a>(&self, kind: &StatementKind, sql: Cow<'a, str>) -> Cow<'a, str> {
        let Some(ms) = self.current().statement_timeout_ms else {
            return sql;
        };
        match timeout::timed(self.limits.flavor, kind, ms, &sql) {
            Some(timed) => Cow::Owned(timed),
            None => sql,
        }
    }
}

/// Counts backend errors that mean "the statement timeout interrupted it" (MariaDB 1969,
/// MySQL 3024).
pub fn backend_error(code: u16) {
    if matches!(code, 1969 | 3024) {
        metrics::statement_timeout();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn own_limits_override_defaults() {
        let config = LimitsConfig {
            max_client_connections: Some(100),
            statements_per_second: Some(50),
            statement_timeout_ms: 30_000,
            ..LimitsConfig::default()
        };
        let d = TenantLimits::resolve(&LimitSettings::default(), &config, 64);
        assert_eq!(d.max_client_connections, Some(100));
        assert_eq!(d.max_backend_connections, 64);
        assert_eq!(d.statements_per_second, Some(50));
        assert_eq!(d.statement_burst, 50);
        assert_eq!(d.statement_timeout_ms, Some(30_000));
        let own = LimitSettings {
            max_client_connections: Some(3),
            max_backend_connections: Some(2),
            statement_burst: Some(7),
            statement_timeout_ms: Some(0),
            ..LimitSettings::default()
        };
        let t = TenantLimits::resolve(&own, &config, 64);
        assert_eq!(t.max_client_connections, Some(3));
        assert_eq!(t.max_backend_connections, 2);
        assert_eq!(t.statements_per_second, Some(50));
        assert_eq!(t.statement_burst, 7);
        // 0: no timeout, whatever the default.
        assert_eq!(t.statement_timeout_ms, None);
        let none = TenantLimits::resolve(&LimitSettings::default(), &LimitsConfig::default(), 8);
        assert_eq!(none.statements_per_second, None);
        assert_eq!(none.statement_timeout_ms, None);
        assert_eq!(none.max_client_connections, None);
        // The result cache is opt-in: off unless the tenant has a TTL above 0.
        assert_eq!(none.result_cache_ttl_ms, None);
        let cache = |ttl| LimitSettings {
            result_cache_ttl_ms: ttl,
            ..LimitSettings::default()
        };
        assert_eq!(
            TenantLimits::resolve(&cache(Some(0)), &config, 8).result_cache_ttl_ms,
            None
        );
        assert_eq!(
            TenantLimits::resolve(&cache(Some(500)), &config, 8).result_cache_ttl_ms,
            Some(500)
        );
    }

    #[test]
    fn config_from_the_environment() {
        let vars = [
            ("OCTODB_LIMITS__MAX_CLIENT_CONNECTIONS", "50"),
            ("OCTODB_LIMITS__STATEMENT_TIMEOUT_MS", "30000"),
            ("OCTODB_LIMITS__AUTH_FAILURES_PER_USER_ADDRESS", "3"),
        ];
        let c: crate::ProxyConfig = octodb_catalog::config::load_config_from(
            None,
            "OCTODB",
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        assert_eq!(c.limits.max_client_connections, Some(50));
        assert_eq!(c.limits.statement_timeout_ms, 30_000);
        assert_eq!(c.limits.auth_failures_per_user_address, 3);
        assert_eq!(c.limits.rate_wait_ms, 1_000);
        let bad: Result<crate::ProxyConfig, _> = octodb_catalog::config::load_config_from(
            None,
            "OCTODB",
            [("OCTODB_LIMITS__MAX_CLIENTS".to_string(), "1".to_string())],
        );
        assert!(bad.is_err());
    }

    #[test]
    fn config_is_validated() {
        assert!(LimitsConfig::default().validate().is_ok());
        let bad = LimitsConfig {
            max_client_connections: Some(0),
            ..LimitsConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = LimitsConfig {
            auth_window_secs: 0,
            ..LimitsConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
