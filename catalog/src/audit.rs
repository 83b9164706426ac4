//! The audit log: one row per admin action and per job step.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use crate::jobs::TS_FORMAT;
use crate::sql::take;
use crate::{Catalog, CatalogError, UtcTimestamp};

/// Outcomes are a bounded vocabulary.
pub const OUTCOME_SUCCESS: &str = "success";
pub const OUTCOME_FAILURE: &str = "failure";

/// A row to write.
#[derive(Debug, Clone, Default)]
pub struct NewAudit<'a> {
    /// The API key id (`None` for the system itself).
    pub actor: Option<u64>,
    pub action: &'a str,
    pub tenant_id: Option<u64>,
    pub target: Option<&'a str>,
    pub outcome: &'a str,
    pub request_id: Option<&'a str>,
    /// Short free text (at most 255 characters kept), never secrets or statement text.
    pub detail: Option<&'a str>,
}

/// A row read back.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: u64,
    pub at: String,
    pub actor: Option<u64>,
    pub action: String,
    pub tenant_id: Option<u64>,
    pub target: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// Which rows to list: ascending ids after `after`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant_id: Option<u64>,
    pub action: Option<String>,
    pub actor: Option<u64>,
    /// Only rows recorded at or after this instant (inclusive).
    pub since: Option<UtcTimestamp>,
    /// Only rows recorded before this instant (exclusive: consecutive windows do not overlap).
    pub until: Option<UtcTimestamp>,
    pub after: Option<u64>,
    pub limit: u32,
}

pub(crate) async fn insert_audit<Q: Queryable>(
    q: &mut Q,
    e: &NewAudit<'_>,
) -> Result<(), CatalogError> {
    q.exec_drop(
        "INSERT INTO audit (actor, action, tenant_id, target, outcome, request_id, detail) \
         VALUES (?, ?, ?, ?, ?, ?, LEFT(?, 255))",
        (
            e.actor,
            e.action,
            e.tenant_id,
            e.target,
            e.outcome,
            e.request_id,
            e.detail,
        ),
    )
    .await?;
    Ok(())
}

impl Catalog {
    /// Writes one audit row.
    pub async fn audit(&self, e: &NewAudit<'_>) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        insert_audit(&mut conn, e).await
    }

    /// Audit rows matching `f`, oldest first.
    pub async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, CatalogError> {
        let mut query = format!(
            "SELECT id, DATE_FORMAT(at, {TS_FORMAT}), actor, action, tenant_id, target, outcome, \
             request_id, detail FROM audit WHERE id > ?"
        );
        let mut params: Vec<Value> = vec![f.after.unwrap_or(0).into()];
        if let Some(t) = f.tenant_id {
            query.push_str(" AND tenant_id = ?");
            params.push(t.into());
        }
        if let Some(a) = &f.action {
            query.push_str(" AND action = ?");
            params.push(a.as_str().into());
        }
        if let Some(a) = f.actor {
            query.push_str(" AND actor = ?");
            params.push(a.into());
        }
        // Bound as UTC DATETIMEs; the sessions run in UTC, so they compare with the TIMESTAMP
        // column as instants (and can use `ix_audit_at`).
        if let Some(t) = f.since {
            query.push_str(" AND at >= ?");
            params.push(t.to_value());
        }
        if let Some(t) = f.until {
            query.push_str(" AND at < ?");
            params.push(t.to_value());
        }
        query.push_str(" ORDER BY id LIMIT ?");
        params.push(f.limit.into());
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn.exec(query, params).await?;
        rows.into_iter()
            .map(|mut r| {
                Ok(AuditEntry {
                    id: take(&mut r, 0, "audit.id")?,
                    at: take(&mut r, 1, "audit.at")?,
                    actor: take(&mut r, 2, "audit.actor")?,
                    action: take(&mut r, 3, "audit.action")?,
                    tenant_id: take(&mut r, 4, "audit.tenant_id")?,
                    target: take(&mut r, 5, "audit.target")?,
                    outcome: take(&mut r, 6, "audit.outcome")?,
                    request_id: take(&mut r, 7, "audit.request_id")?,
                    detail: take(&mut r, 8, "audit.detail")?,
                })
            })
            .collect()
    }
}
