//! Rollouts: a template version pushed down the tree in waves (canary, then batches), one
//! `migrate_database` job per database. All state is here, so a rollout survives an admin
//! restart: the driver (admin) only reads it and moves it on.
//!
//! A rollout is `running` -> `completed`, or `stopped` (a wave's failures passed the threshold),
//! or `cancelled`; `paused` in between starts no new job. A database row is `pending` ->
//! `running` (its job created) -> `done`, `failed`, `restored` or `conflict`; `skipped` when it
//! was already at the target; `cancelled` when the rollout ended before it started.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};

use crate::jobs::TS_FORMAT;
use crate::sql::take;
use crate::{Catalog, CatalogError};

/// A rollout's settings and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub id: u64,
    pub template_id: u64,
    pub version: u32,
    pub status: String,
    /// The wave in progress (0 is the canary).
    pub wave: u32,
    pub max_failures: u32,
    /// Most migrations running at once on one backend server.
    pub per_backend: u32,
    /// The allow list, JSON (opaque here).
    pub allow: String,
    pub error: Option<String>,
    pub created_by: Option<u64>,
    pub request_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A rollout to create.
#[derive(Debug, Clone)]
pub struct NewRollout<'a> {
    pub template_id: u64,
    pub version: u32,
    pub max_failures: u32,
    pub per_backend: u32,
    pub allow: &'a str,
    pub created_by: Option<u64>,
    pub request_id: Option<&'a str>,
    /// (database id, tenant id, wave, target version, initial status: `pending` or `skipped`).
    pub databases: Vec<(u64, u64, u32, u32, &'static str)>,
}

/// One database of a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutDatabase {
    pub database_id: u64,
    pub tenant_id: u64,
    pub wave: u32,
    pub target_version: u32,
    pub status: String,
    pub job_id: Option<u64>,
    pub error: Option<String>,
}

fn rollout_row(mut row: Row) -> Result<Rollout, CatalogError> {
    Ok(Rollout {
        id: take(&mut row, 0, "rollouts.id")?,
        template_id: take(&mut row, 1, "rollouts.template_id")?,
        version: take(&mut row, 2, "rollouts.version")?,
        status: take(&mut row, 3, "rollouts.status")?,
        wave: take(&mut row, 4, "rollouts.wave")?,
        max_failures: take(&mut row, 5, "rollouts.max_failures")?,
        per_backend: take(&mut row, 6, "rollouts.per_backend")?,
        allow: take(&mut row, 7, "rollouts.allow")?,
        error: take(&mut row, 8, "rollouts.error")?,
        created_by: take(&mut row, 9, "rollouts.created_by")?,
        request_id: take(&mut row, 10, "rollouts.request_id")?,
        created_at: take(&mut row, 11, "rollouts.created_at")?,
        updated_at: take(&mut row, 12, "rollouts.updated_at")?,
    })
}

fn rollout_select() -> String {
    format!(
        "SELECT id, template_id, version, status, wave, max_failures, per_backend, allow, error, \
         created_by, request_id, DATE_FORMAT(created_at, {TS_FORMAT}), \
         DATE_FORMAT(updated_at, {TS_FORMAT}) FROM rollouts"
    )
}

impl Catalog {
    /// Creates a running rollout with its databases. Returns its id.
    pub async fn create_rollout(&self, r: &NewRollout<'_>) -> Result<u64, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        tx.exec_drop(
            "INSERT INTO rollouts (template_id, version, max_failures, per_backend, allow, \
             created_by, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                r.template_id,
                r.version,
                r.max_failures,
                r.per_backend,
                r.allow,
                r.created_by,
                r.request_id,
            ),
        )
        .await?;
        let id = tx
            .last_insert_id()
            .ok_or_else(|| CatalogError::Corrupt("no id for the rollouts row".into()))?;
        for (database_id, tenant_id, wave, target, status) in &r.databases {
            tx.exec_drop(
                "INSERT INTO rollout_databases \
                 (rollout_id, database_id, tenant_id, wave, target_version, status) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                (id, database_id, tenant_id, wave, target, status),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// One rollout.
    pub async fn rollout(&self, id: u64) -> Result<Option<Rollout>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(format!("{} WHERE id = ?", rollout_select()), (id,))
            .await?;
        row.map(rollout_row).transpose()
    }

    /// Rollouts to drive, oldest first: running or paused ones, and ended ones whose last
    /// migrations are still running (their outcomes must still be recorded).
    pub async fn active_rollouts(&self) -> Result<Vec<Rollout>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .query(format!(
                "{} WHERE status IN ('running', 'paused') OR id IN \
                 (SELECT rollout_id FROM rollout_databases WHERE status = 'running') ORDER BY id",
                rollout_select()
            ))
            .await?;
        rows.into_iter().map(rollout_row).collect()
    }

    /// A rollout's databases, by wave then database id.
    pub async fn rollout_databases(
        &self,
        rollout_id: u64,
    ) -> Result<Vec<RolloutDatabase>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT database_id, tenant_id, wave, target_version, status, job_id, error \
                 FROM rollout_databases WHERE rollout_id = ? ORDER BY wave, database_id",
                (rollout_id,),
            )
            .await?;
        rows.into_iter()
            .map(|mut row| {
                Ok(RolloutDatabase {
                    database_id: take(&mut row, 0, "rollout_databases.database_id")?,
                    tenant_id: take(&mut row, 1, "rollout_databases.tenant_id")?,
                    wave: take(&mut row, 2, "rollout_databases.wave")?,
                    target_version: take(&mut row, 3, "rollout_databases.target_version")?,
                    status: take(&mut row, 4, "rollout_databases.status")?,
                    job_id: take(&mut row, 5, "rollout_databases.job_id")?,
                    error: take(&mut row, 6, "rollout_databases.error")?,
                })
            })
            .collect()
    }

    /// Moves a rollout from one of `from` to `to` (with an error message). Whether it moved.
    pub async fn set_rollout_status(
        &self,
        id: u64,
        from: &[&str],
        to: &str,
        error: Option<&str>,
    ) -> Result<bool, CatalogError> {
        let list = from
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "")))
            .collect::<Vec<_>>()
            .join(",");
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            format!(
                "UPDATE rollouts SET status = ?, error = COALESCE(?, error) \
                 WHERE id = ? AND status IN ({list})"
            ),
            (to, error, id),
        )
        .await?;
        let moved = conn.affected_rows() == 1;
        if moved && to == "cancelled" {
            conn.exec_drop(
                "UPDATE rollout_databases SET status = 'cancelled' \
                 WHERE rollout_id = ? AND status = 'pending'",
                (id,),
            )
            .await?;
        }
        Ok(moved)
    }

    /// Moves a running rollout on to wave `wave`.
    pub async fn set_rollout_wave(&self, id: u64, wave: u32) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE rollouts SET wave = ? WHERE id = ? AND status = 'running'",
            (wave, id),
        )
        .await?;
        Ok(())
    }

    /// Claims a pending database of a rollout for starting (so that two drivers never start it
    /// twice). Whether it was claimed.
    pub async fn claim_rollout_database(
        &self,
        rollout_id: u64,
        database_id: u64,
    ) -> Result<bool, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE rollout_databases SET status = 'running' \
             WHERE rollout_id = ? AND database_id = ? AND status = 'pending'",
            (rollout_id, database_id),
        )
        .await?;
        Ok(conn.affected_rows() == 1)
    }

    /// Sets a rollout database's status, job and error.
    pub async fn set_rollout_database(
        &self,
        rollout_id: u64,
        database_id: u64,
        status: &str,
        job_id: Option<u64>,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE rollout_databases SET status = ?, job_id = COALESCE(?, job_id), error = ? \
             WHERE rollout_id = ? AND database_id = ?",
            (status, job_id, error, rollout_id, database_id),
        )
        .await?;
        Ok(())
    }
}
