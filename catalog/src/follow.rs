//! What proxies read to follow the catalog: the current state of the tenants they serve
//! (status, mapping version, users), read in one round trip per table after the catalog
//! version moved.

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::sql::take;
use crate::{Catalog, CatalogError, TenantStatus};

/// A tenant's state as far as open sessions care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantState {
    pub id: u64,
    pub status: TenantStatus,
    /// Bumped on any change of the tenant's databases.
    pub mapping_version: u64,
    /// The tenant's proxy users, sorted.
    pub users: Vec<String>,
}

impl Catalog {
    /// The states of the tenants in `ids`; a tenant that no longer exists is missing from the
    /// result. Ordered by id.
    pub async fn tenant_states(&self, ids: &[u64]) -> Result<Vec<TenantState>, CatalogError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are generated; the ids are bound.
        let marks = vec!["?"; ids.len()].join(", ");
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "SELECT id, status, mapping_version FROM tenants WHERE id IN ({marks}) \
                     ORDER BY id"
                ),
                ids.to_vec(),
            )
            .await?;
        let mut states = Vec::with_capacity(rows.len());
        for mut row in rows {
            states.push(TenantState {
                id: take(&mut row, 0, "tenants.id")?,
                status: take::<String>(&mut row, 1, "tenants.status")?.parse()?,
                mapping_version: take(&mut row, 2, "tenants.mapping_version")?,
                users: Vec::new(),
            });
        }
        let users: Vec<(u64, String)> = conn
            .exec(
                format!(
                    "SELECT tenant_id, username FROM users WHERE tenant_id IN ({marks}) \
                     ORDER BY tenant_id, username"
                ),
                ids.to_vec(),
            )
            .await?;
        for (tenant_id, username) in users {
            if let Ok(i) = states.binary_search_by_key(&tenant_id, |s| s.id) {
                states[i].users.push(username);
            }
        }
        Ok(states)
    }
}
