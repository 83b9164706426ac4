//! Running a job's steps: each is recorded in `job_steps` (`running`, then `succeeded` or
//! `failed`) and in the audit log; a resumed job skips the steps recorded as succeeded.

use std::collections::HashSet;
use std::future::Future;

use octodb_catalog::{Job, NewAudit, OUTCOME_FAILURE, OUTCOME_SUCCESS};

use super::runner::Ctx;
use super::JobError;

/// Names of the steps a previous attempt finished.
pub(crate) fn done(job: &Job) -> HashSet<String> {
    job.steps
        .iter()
        .filter(|s| s.status == "succeeded")
        .map(|s| s.step.clone())
        .collect()
}

/// Runs one step (unless `done` has it), recording it and auditing it as `action` (a bounded
/// name: no identifiers in it).
pub(crate) async fn run<F>(
    ctx: &Ctx,
    job: &Job,
    done: &HashSet<String>,
    name: &str,
    action: &'static str,
    step: F,
) -> Result<(), JobError>
where
    F: Future<Output = Result<String, JobError>>,
{
    if done.contains(name) {
        return Ok(());
    }
    ctx.catalog
        .record_step(job.id, name, "running", None)
        .await?;
    let result = step.await;
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
        })
        .await?;
    result.map(|_| ())
}

/// The job's tenant id (every job of these kinds has one).
pub(crate) fn tenant_id(job: &Job) -> Result<u64, JobError> {
    job.tenant_id
        .ok_or_else(|| JobError::Payload("the job names no tenant".to_string()))
}
