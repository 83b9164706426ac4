//! Per-tenant limits (table `tenant_limits`, migration 7): what one tenant may take from a proxy
//! and its backend, so a noisy tenant cannot starve the others. Every field is optional: `None`
//! (SQL NULL) means "the proxy's configured default". The result cache settings (migration 9)
//! live here too: they are the tenant's budget on a proxy, opted into per tenant. A change bumps the catalog version, so
//! proxies apply it within their follow delay (about a second) without a reload.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};
use serde::{Deserialize, Serialize};

use crate::provision::bump_catalog_version;
use crate::sql::take;
use crate::users::lock_tenant;
use crate::{Catalog, CatalogError, TenantStatus};

/// Largest accepted value of each limit: far above anything sane, low enough that arithmetic on
/// them (token buckets, milliseconds) cannot overflow.
pub const MAX_CLIENT_CONNECTIONS: u32 = 100_000;
pub const MAX_BACKEND_CONNECTIONS: u32 = 10_000;
pub const MAX_STATEMENTS_PER_SECOND: u32 = 1_000_000;
/// One day.
pub const MAX_STATEMENT_TIMEOUT_MS: u32 = 86_400_000;
/// One day: a cached result is only bounded by its TTL against writes made outside this
/// proxy, so a longer one would be a stale read by design.
pub const MAX_RESULT_CACHE_TTL_MS: u32 = 86_400_000;
/// 1 GiB of cached results per tenant on one proxy.
pub const MAX_RESULT_CACHE_BYTES: u32 = 1 << 30;

/// A tenant's limits as stored; `None` = the proxy's default for that limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Client connections open at once through one proxy.
    pub max_client_connections: Option<u32>,
    /// Backend connections the tenant's pool may hold on one proxy.
    pub max_backend_connections: Option<u32>,
    /// Statements per second (token bucket refill rate), per proxy.
    pub statements_per_second: Option<u32>,
    /// Token bucket size: statements that may run at once above the rate. Without it, the
    /// bucket holds one second's worth (`statements_per_second`).
    pub statement_burst: Option<u32>,
    /// Longest a statement may run on the backend, in milliseconds; 0 = no timeout.
    pub statement_timeout_ms: Option<u32>,
    /// How long a cached SELECT result may be served, in milliseconds; `None` or 0 = the
    /// tenant's results are not cached (the default: caching is opt-in).
    pub result_cache_ttl_ms: Option<u32>,
    /// Bytes of cached results the tenant may hold on one proxy; `None` = the proxy's
    /// `[result_cache] tenant_max_bytes`.
    pub result_cache_max_bytes: Option<u32>,
}

/// The outcome of [`Catalog::set_tenant_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitChange {
    /// Stored; the limits before the change.
    Applied { previous: LimitSettings },
    /// Refused because the caller may only lower limits and `field` would not be lower.
    NotLower { field: &'static str },
}

impl LimitSettings {
    /// (name, value, smallest, largest) of every field, in document order.
    fn fields(&self) -> [(&'static str, Option<u32>, u32, u32); 7] {
        [
            (
                "max_client_connections",
                self.max_client_connections,
                1,
                MAX_CLIENT_CONNECTIONS,
            ),
            (
                "max_backend_connections",
                self.max_backend_connections,
                1,
                MAX_BACKEND_CONNECTIONS,
            ),
            (
                "statements_per_second",
                self.statements_per_second,
                1,
                MAX_STATEMENTS_PER_SECOND,
            ),
            (
                "statement_burst",
                self.statement_burst,
                1,
                MAX_STATEMENTS_PER_SECOND,
            ),
            (
                "statement_timeout_ms",
                self.statement_timeout_ms,
                0,
                MAX_STATEMENT_TIMEOUT_MS,
            ),
            (
                "result_cache_ttl_ms",
                self.result_cache_ttl_ms,
                0,
                MAX_RESULT_CACHE_TTL_MS,
            ),
            (
                "result_cache_max_bytes",
                self.result_cache_max_bytes,
                1,
                MAX_RESULT_CACHE_BYTES,
            ),
        ]
    }

    /// `Invalid` naming the first value out of its range.
    pub fn validate(&self) -> Result<(), CatalogError> {
        for (name, value, min, max) in self.fields() {
            if let Some(v) = value {
                if v < min || v > max {
                    return Err(CatalogError::Invalid(format!(
                        "{name} must be between {min} and {max} (or null for the proxy's \
                         default), not {v}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The first field of `self` that is not a lowering of `current`: a change is a lowering
    /// when the value is unchanged, or when both are set and the new one is smaller (a timeout
    /// of 0 means none, so it is the highest). Clearing a limit (back to the proxy's default,
    /// unknown here) or setting one that was unset may raise it.
    pub fn first_not_lower(&self, current: &LimitSettings) -> Option<&'static str> {
        let new = self.fields();
        let old = current.fields();
        for ((name, new, _, _), (_, old, _, _)) in new.into_iter().zip(old) {
            let lower = match (new, old) {
                _ if new == old => true,
                (Some(n), Some(o)) if name == "statement_timeout_ms" => n != 0 && (o == 0 || n < o),
                (Some(n), Some(o)) => n < o,
                _ => false,
            };
            if !lower {
                return Some(name);
            }
        }
        None
    }
}

const COLUMNS: &str = "max_client_connections, max_backend_connections, statements_per_second, \
                       statement_burst, statement_timeout_ms, result_cache_ttl_ms, \
                       result_cache_max_bytes";

fn settings_from(row: &mut Row, at: usize) -> Result<LimitSettings, CatalogError> {
    Ok(LimitSettings {
        max_client_connections: take(row, at, "tenant_limits.max_client_connections")?,
        max_backend_connections: take(row, at + 1, "tenant_limits.max_backend_connections")?,
        statements_per_second: take(row, at + 2, "tenant_limits.statements_per_second")?,
        statement_burst: take(row, at + 3, "tenant_limits.statement_burst")?,
        statement_timeout_ms: take(row, at + 4, "tenant_limits.statement_timeout_ms")?,
        result_cache_ttl_ms: take(row, at + 5, "tenant_limits.result_cache_ttl_ms")?,
        result_cache_max_bytes: take(row, at + 6, "tenant_limits.result_cache_max_bytes")?,
    })
}

impl Catalog {
    /// Tenant `tenant_id`'s limits (all `None` when never set); `None` if there is no such
    /// tenant.
    pub async fn tenant_limits(
        &self,
        tenant_id: u64,
    ) -> Result<Option<LimitSettings>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!(
                    "SELECT t.id, {COLUMNS} FROM tenants t \
                     LEFT JOIN tenant_limits l ON l.tenant_id = t.id WHERE t.id = ?"
                ),
                (tenant_id,),
            )
            .await?;
        match row {
            Some(mut row) => Ok(Some(settings_from(&mut row, 1)?)),
            None => Ok(None),
        }
    }

    /// The limits of the tenants in `ids` that have any stored, ordered by id (a tenant
    /// missing from the result has none: the proxy's defaults apply).
    pub async fn limits_of(&self, ids: &[u64]) -> Result<Vec<(u64, LimitSettings)>, CatalogError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are generated; the ids are bound.
        let marks = vec!["?"; ids.len()].join(", ");
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "SELECT tenant_id, {COLUMNS} FROM tenant_limits \
                     WHERE tenant_id IN ({marks}) ORDER BY tenant_id"
                ),
                ids.to_vec(),
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for mut row in rows {
            let id: u64 = take(&mut row, 0, "tenant_limits.tenant_id")?;
            out.push((id, settings_from(&mut row, 1)?));
        }
        Ok(out)
    }

    /// Replaces tenant `tenant_id`'s limits (validated) and bumps the catalog version, in one
    /// transaction holding the tenant's row lock. With `lower_only`, the change is refused
    /// unless every field is a lowering of the stored value (checked under the lock, so two
    /// concurrent changes cannot combine into a raise). `NotFound` if there is no such tenant,
    /// `Conflict` while it is being deleted.
    pub async fn set_tenant_limits(
        &self,
        tenant_id: u64,
        limits: &LimitSettings,
        lower_only: bool,
    ) -> Result<LimitChange, CatalogError> {
        limits.validate()?;
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        if lock_tenant(&mut tx, tenant_id).await? == TenantStatus::Deleting {
            return Err(CatalogError::Conflict(format!(
                "tenant id {tenant_id} is being deleted"
            )));
        }
        let row: Option<Row> = tx
            .exec_first(
                format!("SELECT {COLUMNS} FROM tenant_limits WHERE tenant_id = ? FOR UPDATE"),
                (tenant_id,),
            )
            .await?;
        let previous = match row {
            Some(mut row) => settings_from(&mut row, 0)?,
            None => LimitSettings::default(),
        };
        if lower_only {
            if let Some(field) = limits.first_not_lower(&previous) {
                return Ok(LimitChange::NotLower { field });
            }
        }
        tx.exec_drop(
            format!(
                "INSERT INTO tenant_limits (tenant_id, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE \
                 max_client_connections = VALUES(max_client_connections), \
                 max_backend_connections = VALUES(max_backend_connections), \
                 statements_per_second = VALUES(statements_per_second), \
                 statement_burst = VALUES(statement_burst), \
                 statement_timeout_ms = VALUES(statement_timeout_ms), \
                 result_cache_ttl_ms = VALUES(result_cache_ttl_ms), \
                 result_cache_max_bytes = VALUES(result_cache_max_bytes)"
            ),
            (
                tenant_id,
                limits.max_client_connections,
                limits.max_backend_connections,
                limits.statements_per_second,
                limits.statement_burst,
                limits.statement_timeout_ms,
                limits.result_cache_ttl_ms,
                limits.result_cache_max_bytes,
            ),
        )
        .await?;
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(LimitChange::Applied { previous })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(conns: Option<u32>, timeout: Option<u32>) -> LimitSettings {
        LimitSettings {
            max_client_connections: conns,
            statement_timeout_ms: timeout,
            ..LimitSettings::default()
        }
    }

    #[test]
    fn ranges_are_checked() {
        assert!(LimitSettings::default().validate().is_ok());
        assert!(set(Some(0), None).validate().is_err());
        assert!(set(Some(MAX_CLIENT_CONNECTIONS + 1), None)
            .validate()
            .is_err());
        assert!(set(Some(1), Some(0)).validate().is_ok());
        assert!(set(None, Some(MAX_STATEMENT_TIMEOUT_MS + 1))
            .validate()
            .is_err());
        let burst = LimitSettings {
            statement_burst: Some(0),
            ..LimitSettings::default()
        };
        let e = burst.validate().err().map(|e| e.to_string()).unwrap();
        assert!(e.contains("statement_burst"), "{e}");
    }

    #[test]
    fn result_cache_settings() {
        let cache = |ttl, bytes| LimitSettings {
            result_cache_ttl_ms: ttl,
            result_cache_max_bytes: bytes,
            ..LimitSettings::default()
        };
        assert!(cache(Some(0), None).validate().is_ok());
        assert!(cache(Some(MAX_RESULT_CACHE_TTL_MS), Some(1))
            .validate()
            .is_ok());
        assert!(cache(Some(MAX_RESULT_CACHE_TTL_MS + 1), None)
            .validate()
            .is_err());
        let e = cache(None, Some(0)).validate().err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("result_cache_max_bytes")));
        assert!(cache(None, Some(MAX_RESULT_CACHE_BYTES + 1))
            .validate()
            .is_err());
        // Turning the cache off (0) or shrinking it is a lowering; turning it on is not.
        let on = cache(Some(1_000), Some(1 << 20));
        assert_eq!(cache(Some(0), Some(1 << 10)).first_not_lower(&on), None);
        assert_eq!(
            on.first_not_lower(&LimitSettings::default()),
            Some("result_cache_ttl_ms")
        );
    }

    #[test]
    fn lowering_only() {
        let current = set(Some(10), Some(5_000));
        assert_eq!(current.first_not_lower(&current), None);
        assert_eq!(set(Some(5), Some(1_000)).first_not_lower(&current), None);
        assert_eq!(
            set(Some(11), Some(5_000)).first_not_lower(&current),
            Some("max_client_connections")
        );
        // Clearing goes back to an unknown default; 0 is "no timeout".
        assert_eq!(
            set(None, Some(5_000)).first_not_lower(&current),
            Some("max_client_connections")
        );
        assert_eq!(
            set(Some(10), Some(0)).first_not_lower(&current),
            Some("statement_timeout_ms")
        );
        assert_eq!(
            set(Some(10), Some(10)).first_not_lower(&set(Some(10), Some(0))),
            None
        );
        // Setting a limit that was unset may raise it above the default.
        assert_eq!(
            set(Some(1), None).first_not_lower(&LimitSettings::default()),
            Some("max_client_connections")
        );
    }
}
