//! Jobs: rows in the catalog (the source of truth), with their steps. Queues only carry ids.
//!
//! A job is `queued` -> `running` (attempts + 1 on every claim) -> `succeeded` or `failed`, or
//! back to `queued` for a retry. Steps are recorded by name, once each (`running`, then
//! `succeeded` or `failed`), so a resumed job can skip what is already done.

use std::fmt;
use std::str::FromStr;

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::sql::take;
use crate::{Catalog, CatalogError};

/// Timestamps as RFC 3339 UTC (the pool's sessions run in UTC).
pub(crate) const TS_FORMAT: &str = "'%Y-%m-%dT%H:%i:%s.%fZ'";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            other => {
                return Err(CatalogError::Corrupt(format!(
                    "unknown job status {other:?}"
                )))
            }
        })
    }
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub tenant_id: Option<u64>,
    /// JSON text, opaque to the catalog.
    pub payload: &'a str,
    /// The API key that asked for it.
    pub created_by: Option<u64>,
    pub request_id: Option<&'a str>,
}

/// A job with its steps.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    pub kind: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub tenant_id: Option<u64>,
    pub payload: String,
    pub error: Option<String>,
    pub created_by: Option<u64>,
    pub request_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub steps: Vec<JobStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStep {
    pub step: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    pub detail: Option<String>,
    pub at: String,
}

pub(crate) async fn insert_job<Q: Queryable>(
    q: &mut Q,
    job: &NewJob<'_>,
) -> Result<u64, CatalogError> {
    q.exec_drop(
        "INSERT INTO jobs (kind, status, tenant_id, payload, created_by, request_id) \
         VALUES (?, 'queued', ?, ?, ?, ?)",
        (
            job.kind,
            job.tenant_id,
            job.payload,
            job.created_by,
            job.request_id,
        ),
    )
    .await?;
    let id: Option<u64> = q.query_first("SELECT LAST_INSERT_ID()").await?;
    id.filter(|id| *id > 0)
        .ok_or_else(|| CatalogError::Corrupt("no id for the jobs row".to_string()))
}

impl Catalog {
    /// Creates a queued job.
    pub async fn create_job(&self, job: &NewJob<'_>) -> Result<u64, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        insert_job(&mut conn, job).await
    }

    /// A job and its steps (in the order they were first recorded).
    pub async fn job(&self, id: u64) -> Result<Option<Job>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!(
                    "SELECT id, kind, status, attempts, tenant_id, payload, error, created_by, \
                     request_id, DATE_FORMAT(created_at, {TS_FORMAT}), \
                     DATE_FORMAT(updated_at, {TS_FORMAT}) FROM jobs WHERE id = ?"
                ),
                (id,),
            )
            .await?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        let mut job = Job {
            id: take(&mut row, 0, "jobs.id")?,
            kind: take(&mut row, 1, "jobs.kind")?,
            status: take::<String>(&mut row, 2, "jobs.status")?.parse()?,
            attempts: take(&mut row, 3, "jobs.attempts")?,
            tenant_id: take(&mut row, 4, "jobs.tenant_id")?,
            payload: take(&mut row, 5, "jobs.payload")?,
            error: take(&mut row, 6, "jobs.error")?,
            created_by: take(&mut row, 7, "jobs.created_by")?,
            request_id: take(&mut row, 8, "jobs.request_id")?,
            created_at: take(&mut row, 9, "jobs.created_at")?,
            updated_at: take(&mut row, 10, "jobs.updated_at")?,
            steps: Vec::new(),
        };
        let steps: Vec<(String, String, Option<String>, String)> = conn
            .exec(
                format!(
                    "SELECT step, status, detail, DATE_FORMAT(at, {TS_FORMAT}) FROM job_steps \
                     WHERE job_id = ? ORDER BY id"
                ),
                (id,),
            )
            .await?;
        job.steps = steps
            .into_iter()
            .map(|(step, status, detail, at)| JobStep {
                step,
                status,
                detail,
                at,
            })
            .collect();
        Ok(Some(job))
    }

    /// Marks a queued (or interrupted running) job as running and counts the attempt. `None` if
    /// the job is finished or does not exist.
    pub async fn claim_job(&self, id: u64) -> Result<Option<Job>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1 \
             WHERE id = ? AND status IN ('queued', 'running')",
            (id,),
        )
        .await?;
        if conn.affected_rows() == 0 {
            return Ok(None);
        }
        drop(conn);
        self.job(id).await
    }

    /// Ends an attempt: `Succeeded`, `Failed` (final) or `Queued` (to be retried), with the error
    /// of the attempt if any.
    pub async fn finish_job(
        &self,
        id: u64,
        status: JobStatus,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE jobs SET status = ?, error = ? WHERE id = ?",
            (status.as_str(), error, id),
        )
        .await?;
        Ok(())
    }

    /// Records (or updates) one step of a job.
    pub async fn record_step(
        &self,
        job_id: u64,
        step: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO job_steps (job_id, step, status, detail) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE status = VALUES(status), detail = VALUES(detail), \
             at = CURRENT_TIMESTAMP(6)",
            (job_id, step, status, detail),
        )
        .await?;
        Ok(())
    }

    /// Ids of jobs left queued or running (to resume at start), oldest first.
    pub async fn unfinished_jobs(&self) -> Result<Vec<u64>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        Ok(conn
            .query("SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY id")
            .await?)
    }

    /// The error of the tenant's latest failed job of `kind`, if its latest such job failed.
    pub async fn last_job_failure(
        &self,
        tenant_id: u64,
        kind: &str,
    ) -> Result<Option<String>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<(String, Option<String>)> = conn
            .exec_first(
                "SELECT status, error FROM jobs WHERE tenant_id = ? AND kind = ? \
                 ORDER BY id DESC LIMIT 1",
                (tenant_id, kind),
            )
            .await?;
        Ok(match row {
            Some((status, error)) if status == JobStatus::Failed.as_str() => error,
            _ => None,
        })
    }
}
