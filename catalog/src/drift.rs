//! Schema drift results: the latest check of each template-bound database (its live schema
//! against the schema its recorded version promises), one row per database, replaced by every
//! check. The report itself is JSON, opaque here (the admin builds and reads it).
//!
//! Recording returns the previous state, so the caller can tell a database that newly drifted
//! (audit, webhook) from one that was already known to have drifted.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};

use crate::jobs::TS_FORMAT;
use crate::sql::take;
use crate::{Catalog, CatalogError, DatabaseName};

/// States a drift check ends in: `in_sync`, `drifted`, `error` (could not be checked).
pub const DRIFT_STATES: &[&str] = &["in_sync", "drifted", "error"];

/// A drift check to record.
#[derive(Debug, Clone)]
pub struct NewDrift<'a> {
    pub database_id: u64,
    pub tenant_id: u64,
    /// One of [`DRIFT_STATES`].
    pub status: &'a str,
    /// The recorded version the live schema was compared with.
    pub version: Option<u32>,
    /// The report, JSON.
    pub report: &'a str,
}

/// The latest drift check of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftRecord {
    pub database_id: u64,
    pub tenant_id: u64,
    pub tenant_name: String,
    pub database: DatabaseName,
    pub status: String,
    pub version: Option<u32>,
    /// The report, JSON.
    pub report: String,
    pub checked_at: String,
}

impl Catalog {
    /// Stores `d` as the latest check of its database; returns the previous check's status
    /// (`None` when the database was never checked).
    pub async fn record_drift(&self, d: &NewDrift<'_>) -> Result<Option<String>, CatalogError> {
        if !DRIFT_STATES.contains(&d.status) {
            return Err(CatalogError::Invalid(format!(
                "unknown drift state {:?}",
                d.status
            )));
        }
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        // Locks the row (or the gap) so that two concurrent checks agree on "newly drifted".
        let previous: Option<String> = tx
            .exec_first(
                "SELECT status FROM schema_drift WHERE database_id = ? FOR UPDATE",
                (d.database_id,),
            )
            .await?;
        tx.exec_drop(
            "INSERT INTO schema_drift (database_id, tenant_id, status, version, report, checked_at) \
             VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE \
             tenant_id = VALUES(tenant_id), status = VALUES(status), version = VALUES(version), \
             report = VALUES(report), checked_at = VALUES(checked_at)",
            (d.database_id, d.tenant_id, d.status, d.version, d.report),
        )
        .await?;
        tx.commit().await?;
        Ok(previous)
    }

    /// A page of the latest checks, by database id after `after`: only those in `status` when
    /// given. Tenants being deleted are left out.
    pub async fn drift_results(
        &self,
        status: Option<&str>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<DriftRecord>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "SELECT s.database_id, s.tenant_id, t.name, d.logical_name, s.status, \
                     s.version, s.report, DATE_FORMAT(s.checked_at, {TS_FORMAT}) \
                     FROM schema_drift s \
                     JOIN `databases` d ON d.id = s.database_id \
                     JOIN tenants t ON t.id = s.tenant_id \
                     WHERE (? IS NULL OR s.status = ?) AND s.database_id > ? \
                     AND t.status IN ('ready', 'suspended') \
                     ORDER BY s.database_id LIMIT ?"
                ),
                (status, status, after.unwrap_or(0), limit),
            )
            .await?;
        rows.into_iter().map(drift_row).collect()
    }
}

fn drift_row(mut row: Row) -> Result<DriftRecord, CatalogError> {
    Ok(DriftRecord {
        database_id: take(&mut row, 0, "schema_drift.database_id")?,
        tenant_id: take(&mut row, 1, "schema_drift.tenant_id")?,
        tenant_name: take(&mut row, 2, "tenants.name")?,
        database: DatabaseName::parse(&take::<String>(&mut row, 3, "databases.logical_name")?)?,
        status: take(&mut row, 4, "schema_drift.status")?,
        version: take(&mut row, 5, "schema_drift.version")?,
        report: take(&mut row, 6, "schema_drift.report")?,
        checked_at: take(&mut row, 7, "schema_drift.checked_at")?,
    })
}
