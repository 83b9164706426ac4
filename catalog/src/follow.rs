//! What proxies read to follow the catalog: the current state of the tenants they serve
//! (status, mapping version, users), read in one round trip per table after the catalog
//! version moved; and the announcement an admin publishes (through Redis, which this crate
//! does not know) when it sees the version move, so proxies need not poll quickly.

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use serde::{Deserialize, Serialize};

use crate::sql::take;
use crate::{Catalog, CatalogError, TenantStatus};

/// Prefix of the channel on which catalog changes are announced; the catalog schema name
/// follows, so deployments (and test catalogs) sharing one Redis do not hear each other
/// (Redis pub/sub ignores the database number of the URL).
pub const NOTICE_CHANNEL_PREFIX: &str = "octodb:catalog:";

/// "The catalog moved to `version`": the JSON message published on
/// [`Catalog::notice_channel`]. A proxy that already read this version (or a newer one)
/// ignores it; otherwise it reads its tenants' states, exactly as after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogNotice {
    pub version: u64,
}

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
    /// The channel on which changes of this catalog are announced.
    pub fn notice_channel(&self) -> String {
        format!("{NOTICE_CHANNEL_PREFIX}{}", self.database())
    }

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
