//! Proxy configuration: TOML with `OCTODB_*` environment overrides (for example
//! `OCTODB_LISTEN=0.0.0.0:6033`, `OCTODB_CATALOG__URL=mysql://...`). Every field needs a
//! restart to change.

use octodb_catalog::CatalogConfig;
use serde::Deserialize;

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
    /// Server version announced to clients; by default derived from the backend's.
    pub server_version: Option<String>,
    /// Total size, in bytes of statement text, of the policy decision cache.
    pub decision_cache_bytes: u64,
    /// Seconds to let sessions finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Milliseconds between two reads of the catalog version; open sessions follow catalog
    /// changes (suspended tenants, dropped databases...) within about this delay.
    pub catalog_poll_ms: u64,
    /// Where the catalog (MetaDB) lives.
    pub catalog: CatalogConfig,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: "127.0.0.1:6033".into(),
            metrics_listen: None,
            max_packet_size: 64 << 20,
            pool_max: 64,
            pool_wait_secs: 10,
            server_version: None,
            decision_cache_bytes: 64 << 20,
            shutdown_grace_secs: 10,
            catalog_poll_ms: 250,
            catalog: CatalogConfig::default(),
        }
    }
}

impl ProxyConfig {
    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_packet_size < 1024 || self.max_packet_size > 1 << 30 {
            return Err("max_packet_size must be between 1 KiB and 1 GiB".into());
        }
        if self.catalog_poll_ms < 10 || self.catalog_poll_ms > 60_000 {
            return Err("catalog_poll_ms must be between 10 and 60000".into());
        }
        if self.pool_max == 0 {
            return Err("pool_max must be at least 1".into());
        }
        Ok(())
    }
}
