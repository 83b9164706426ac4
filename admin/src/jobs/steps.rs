//! Running a job's steps: each is recorded in `job_steps` (`running`, then `succeeded` or
//! `failed`) and in the audit log; a resumed job skips the steps recorded as succeeded.
//!
//! This is also where the test-only fault hook ([`fault`]) acts: a step is known by its
//! position in the job's plan, counted here.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use octodb_catalog::{Job, NewAudit, OUTCOME_FAILURE, OUTCOME_SUCCESS};

use super::fault::{self, Point};
use super::runner::Ctx;
use super::JobError;

/// One attempt's view of a job's steps: those a previous attempt finished, and how many steps
/// this attempt has passed (done or skipped).
#[derive(Debug)]
pub(crate) struct Progress {
    done: HashSet<String>,
    position: AtomicUsize,
}

/// The steps a previous attempt finished.
pub(crate) fn done(job: &Job) -> Progress {
    Progress {
        done: job
            .steps
            .iter()
            .filter(|s| s.status == "succeeded")
            .map(|s| s.step.clone())
            .collect(),
        position: AtomicUsize::new(0),
    }
}

/// Runs one step (unless `progress` has it done), recording it and auditing it as `action` (a
/// bounded name: no identifiers in it). Steps must be run in the job's order, skipped ones too.
pub(crate) async fn run<F>(
    ctx: &Ctx,
    job: &Job,
    progress: &Progress,
    name: &str,
    action: &'static str,
    step: F,
) -> Result<(), JobError>
where
    F: Future<Output = Result<String, JobError>>,
{
    let position = progress.position.fetch_add(1, Ordering::Relaxed) + 1;
    if progress.done.contains(name) {
        return Ok(());
    }
    ctx.catalog
        .record_step(job.id, name, "running", None)
        .await?;
    let result = match fault::failure(position, job.attempts) {
        Some(injected) => Err(injected),
        None => step.await,
    };
    if result.is_ok() {
        fault::abort_if(Point::AfterEffect, position, job.id);
    }
    let (status, detail, outcome) = match &result {
        Ok(detail) => ("succeeded", detail.clone(), OUTCOME_SUCCESS),
        Err(e) => ("failed", e.to_string(), OUTCOME_FAILURE),
    };
    ctx.catalog
        .record_step(job.id, name, status, Some(&detail))
        .await?;
    let target = format!("job/{}/{name}", job.id);
    ctx.catalog
        .audit(&NewAudit {
            actor: job.created_by,
            action,
            tenant_id: job.tenant_id,
            target: Some(&target),
            outcome,
            request_id: job.request_id.as_deref(),
            detail: None,
        })
        .await?;
    if result.is_ok() {
        fault::abort_if(Point::AfterRecord, position, job.id);
    }
    result.map(|_| ())
}

/// The job's tenant id (every job of these kinds has one).
pub(crate) fn tenant_id(job: &Job) -> Result<u64, JobError> {
    job.tenant_id
        .ok_or_else(|| JobError::Payload("the job names no tenant".to_string()))
}
