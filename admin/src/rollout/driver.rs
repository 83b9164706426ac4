//! The rollout driver: a background task that, every tick, moves each active rollout on from
//! the catalog's state alone (so it resumes after a restart, like jobs do):
//! 1. the outcome of every running database's `migrate_database` job is recorded (`done`, or the
//!    database's final state: `restored`, `conflict`, `failed`);
//! 2. when every database of the current wave has finished, the wave's failures (`failed` and
//!    `restored`) are compared with `max_failures`: over it the rollout `stopped`, otherwise it
//!    moves to the next wave, or is `completed` after the last;
//! 3. in a running (not paused) rollout, pending databases of the current wave are started, at
//!    most `per_backend` at once. The admin manages one backend server (its configured
//!    `BackendAdmin`; databases elsewhere are refused by the job), so this bounds the DDL
//!    running on it for the rollout.
//!
//! Starting is claimed in the catalog first (`pending` -> `running`), so two admin processes
//! never start one database twice; the migration lock makes a duplicate harmless anyway.
//!
//! Each database stays a `migrate_database` job (its own lock, snapshot, recorded steps, retries
//! with backoff through the queue, restore on final failure, resumed after a crash), but the
//! expensive part is shared: the jobs of one rollout take their workspace model and plan from
//! [`SharedPlans`], which this driver owns the lifetime of (a rollout's entries go when it
//! ends or sits idle). A job that ends records its row and wakes the driver, so the next
//! database starts at once rather than at the next tick.
//!
//! At start (and every [`CLEANUP_EVERY`]) the driver drops workspaces left on the backend by a
//! crashed process (`octodb_schema::cleanup_leftovers`).

use std::time::Duration;

use octodb_catalog::{
    BackendAdmin, Catalog, CatalogError, JobStatus, NewAudit, NewJob, Rollout, RolloutDatabase,
    OUTCOME_FAILURE, OUTCOME_SUCCESS,
};
use octodb_schema::Allow;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cache::{SharedPlans, IDLE};
use crate::jobs::migrate_database::{self, Payload};
use crate::JobQueue;

/// How often active rollouts are looked at when no migration wakes the driver.
const TICK: Duration = Duration::from_millis(200);

/// How often leftover workspaces are looked for.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// Workspaces older than this are leftovers: a live one exists only while it is built and read
/// (a dry run keeps its own for the length of the dry run).
const LEFTOVER_AGE: Duration = Duration::from_secs(600);

/// Starts the driver on `tracker`; it stops when `shutdown` is cancelled.
pub fn start(
    catalog: Catalog,
    backend: BackendAdmin,
    queue: JobQueue,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    tracker.spawn(async move {
        let plans = queue.shared_plans().clone();
        let mut last_cleanup: Option<std::time::Instant> = None;
        loop {
            if last_cleanup.is_none_or(|t| t.elapsed() >= CLEANUP_EVERY) {
                last_cleanup = Some(std::time::Instant::now());
                cleanup(&backend).await;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(TICK) => {}
                _ = plans.woken() => {}
            }
            if let Err(e) = tick(&catalog, &queue, &plans).await {
                tracing::warn!(error = %e, "rollout driver: cannot read the catalog; retrying");
            }
        }
        tracing::debug!("rollout driver stopped");
    });
}

/// Drops leftover workspaces (best effort: the next round tries again).
async fn cleanup(backend: &BackendAdmin) {
    let mut conn = match crate::templates::connect(backend).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the backend to drop leftover workspaces");
            return;
        }
    };
    match octodb_schema::cleanup_leftovers(&mut conn, LEFTOVER_AGE).await {
        Ok(dropped) if !dropped.is_empty() => {
            tracing::info!(count = dropped.len(), "dropped leftover workspaces");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot drop leftover workspaces"),
    }
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend connection");
    }
}

async fn tick(
    catalog: &Catalog,
    queue: &JobQueue,
    plans: &SharedPlans,
) -> Result<(), CatalogError> {
    let active = catalog.active_rollouts().await?;
    let ids: Vec<u64> = active.iter().map(|r| r.id).collect();
    plans.retain(&ids, IDLE);
    for r in active {
        if let Err(e) = advance(catalog, queue, &r).await {
            tracing::warn!(rollout_id = r.id, error = %e, "rollout driver: cannot advance");
        }
    }
    Ok(())
}

fn finished(status: &str) -> bool {
    !matches!(status, "pending" | "running")
}

fn is_failure(status: &str) -> bool {
    matches!(status, "failed" | "restored")
}

async fn advance(catalog: &Catalog, queue: &JobQueue, r: &Rollout) -> Result<(), CatalogError> {
    let mut rows = catalog.rollout_databases(r.id).await?;
    for row in rows.iter_mut().filter(|row| row.status == "running") {
        record_outcome(catalog, queue, r, row).await?;
    }
    if r.status != "running" {
        return Ok(());
    }
    let wave: Vec<&RolloutDatabase> = rows.iter().filter(|d| d.wave == r.wave).collect();
    if wave.iter().all(|d| finished(&d.status)) {
        let failures = wave.iter().filter(|d| is_failure(&d.status)).count() as u32;
        if failures > r.max_failures {
            let why = format!(
                "wave {}: {failures} failures (at most {} allowed)",
                r.wave, r.max_failures
            );
            if catalog
                .set_rollout_status(r.id, &["running"], "stopped", Some(&why))
                .await?
            {
                audit(catalog, r, "rollout.stopped", false).await;
            }
            return Ok(());
        }
        match rows.iter().map(|d| d.wave).filter(|w| *w > r.wave).min() {
            Some(next) => {
                catalog.set_rollout_wave(r.id, next).await?;
                audit(catalog, r, "rollout.wave", true).await;
            }
            None => {
                if catalog
                    .set_rollout_status(r.id, &["running"], "completed", None)
                    .await?
                {
                    audit(catalog, r, "rollout.completed", true).await;
                }
            }
        }
        return Ok(());
    }
    let running = wave.iter().filter(|d| d.status == "running").count() as u32;
    let free = r.per_backend.saturating_sub(running) as usize;
    let pending: Vec<RolloutDatabase> = wave
        .iter()
        .filter(|d| d.status == "pending")
        .take(free)
        .map(|d| (*d).clone())
        .collect();
    for d in pending {
        if catalog.claim_rollout_database(r.id, d.database_id).await? {
            start_one(catalog, queue, r, &d).await?;
        }
    }
    Ok(())
}

/// Creates and queues the database's migration job (its row is claimed).
async fn start_one(
    catalog: &Catalog,
    queue: &JobQueue,
    r: &Rollout,
    d: &RolloutDatabase,
) -> Result<(), CatalogError> {
    let allow: Allow = serde_json::from_str(&r.allow)
        .map_err(|e| CatalogError::Corrupt(format!("rollout allow list: {e}")))?;
    let payload = Payload {
        database_id: d.database_id,
        version: d.target_version,
        allow,
        rollout_id: Some(r.id),
    }
    .to_json()?;
    let job = NewJob {
        kind: migrate_database::KIND,
        tenant_id: Some(d.tenant_id),
        payload: &payload,
        created_by: r.created_by,
        request_id: r.request_id.as_deref(),
    };
    match catalog.create_migration_job(d.database_id, &job).await {
        Ok(job_id) => {
            catalog
                .set_rollout_database(r.id, d.database_id, "running", Some(job_id), None)
                .await?;
            queue.enqueue(job_id).await;
        }
        // Another migration of this database is pending (an opt-in): try again later.
        Err(CatalogError::Conflict(_)) => {
            catalog
                .set_rollout_database(r.id, d.database_id, "pending", None, None)
                .await?;
        }
        Err(CatalogError::NotFound(what)) => {
            let why = format!("the database no longer follows the template ({what})");
            catalog
                .set_rollout_database(r.id, d.database_id, "failed", None, Some(&why))
                .await?;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Records a finished job's outcome on its row (`row` is updated too).
async fn record_outcome(
    catalog: &Catalog,
    queue: &JobQueue,
    r: &Rollout,
    row: &mut RolloutDatabase,
) -> Result<(), CatalogError> {
    let Some(job_id) = row.job_id else {
        // Claimed by a process that died before creating the job.
        return start_one(catalog, queue, r, row).await;
    };
    let Some(job) = catalog.job(job_id).await? else {
        return Ok(());
    };
    let (status, error) = match job.status {
        JobStatus::Succeeded => ("done".to_string(), None),
        JobStatus::Failed => {
            let state = catalog
                .database_template_by_id(row.database_id)
                .await?
                .map(|b| b.status)
                .unwrap_or_else(|| "failed".into());
            let status = match state.as_str() {
                "restored" | "conflict" => state,
                _ => "failed".to_string(),
            };
            (status, job.error.clone())
        }
        JobStatus::Queued | JobStatus::Running => return Ok(()),
    };
    catalog
        .set_rollout_database(r.id, row.database_id, &status, None, error.as_deref())
        .await?;
    row.status = status;
    Ok(())
}

async fn audit(catalog: &Catalog, r: &Rollout, action: &str, ok: bool) {
    let target = format!("rollout/{}", r.id);
    let row = NewAudit {
        actor: r.created_by,
        action,
        tenant_id: None,
        target: Some(&target),
        outcome: if ok { OUTCOME_SUCCESS } else { OUTCOME_FAILURE },
        request_id: r.request_id.as_deref(),
        detail: None,
    };
    if let Err(e) = catalog.audit(&row).await {
        tracing::warn!(error = %e, "cannot write the audit log");
    }
}
