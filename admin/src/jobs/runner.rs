//! One attempt at a job, shared by both dispatchers (in-process and Redis Streams): claim it in
//! the catalog, run its kind, record the outcome (success, retry, final failure with its audit
//! row). The dispatcher only decides what to do next from the returned [`Attempt`].

use std::time::{Duration, Instant};

use octodb_catalog::{BackendAdmin, Catalog, Job, JobStatus, NewAudit, OUTCOME_FAILURE};
use rand::Rng;

use super::{database_job, delete_tenant, migrate_database, provision_tenant, JobError};
use crate::config::JobsConfig;
use crate::metrics::{Metrics, OUTCOME_FAILED, OUTCOME_RETRIED, OUTCOME_SUCCEEDED};

/// What running jobs needs.
pub(crate) struct Ctx {
    pub catalog: Catalog,
    pub backend: BackendAdmin,
    pub config: JobsConfig,
    pub metrics: Metrics,
    /// Workspace models and plans shared by the databases of a rollout.
    pub plans: crate::rollout::SharedPlans,
}

/// How an attempt ended, as far as the dispatcher is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The job succeeded, or was already finished: nothing left to do.
    Done,
    /// The job failed for good (recorded in the catalog), for this reason.
    Failed(String),
    /// Try again after this delay (the catalog has the job queued again, or it never started).
    Retry(Duration),
    /// The outcome could not be recorded in the catalog: the job stays unfinished there and is
    /// picked up again later (at the next start, or when its stream entry is reclaimed).
    Unrecorded,
}

/// Runs one attempt at job `id`.
pub(crate) async fn attempt(ctx: &Ctx, id: u64) -> Attempt {
    let job = match ctx.catalog.claim_job(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return Attempt::Done, // finished meanwhile
        Err(e) => {
            // The attempt did not start: try again later without counting it.
            tracing::warn!(job_id = id, error = %e, "cannot claim job; retrying later");
            return Attempt::Retry(backoff(&ctx.config, 1));
        }
    };
    let started = Instant::now();
    let result = match job.kind.as_str() {
        provision_tenant::KIND => provision_tenant::run(ctx, &job).await,
        delete_tenant::KIND => delete_tenant::run(ctx, &job).await,
        database_job::ADD_KIND => database_job::run_add(ctx, &job).await,
        database_job::DROP_KIND => database_job::run_drop(ctx, &job).await,
        migrate_database::KIND => migrate_database::run(ctx, &job).await,
        other => Err(JobError::UnknownKind(other.to_string())),
    };
    let Err(e) = result else {
        ctx.metrics
            .job_attempt(&job.kind, OUTCOME_SUCCEEDED, started.elapsed());
        if let Err(e) = ctx.catalog.finish_job(id, JobStatus::Succeeded, None).await {
            tracing::warn!(job_id = id, error = %e, "cannot record job success; resumed later");
            return Attempt::Unrecorded;
        }
        announce(ctx, &job, JobStatus::Succeeded, None).await;
        return Attempt::Done;
    };
    let message = e.to_string();
    if e.is_retryable() && job.attempts < ctx.config.max_attempts {
        ctx.metrics
            .job_attempt(&job.kind, OUTCOME_RETRIED, started.elapsed());
        tracing::info!(job_id = id, attempt = job.attempts, error = %message, "job attempt failed; retrying");
        return match ctx
            .catalog
            .finish_job(id, JobStatus::Queued, Some(&message))
            .await
        {
            Ok(()) => Attempt::Retry(backoff(&ctx.config, job.attempts)),
            Err(e) => {
                tracing::warn!(job_id = id, error = %e, "cannot requeue job; resumed later");
                Attempt::Unrecorded
            }
        };
    }
    ctx.metrics
        .job_attempt(&job.kind, OUTCOME_FAILED, started.elapsed());
    tracing::warn!(job_id = id, kind = e.kind(), error = %message, "job failed");
    if let Err(e) = fail(ctx, &job, &message).await {
        tracing::warn!(job_id = id, error = %e, "cannot record job failure; resumed later");
        return Attempt::Unrecorded;
    }
    announce(ctx, &job, JobStatus::Failed, Some(&message)).await;
    Attempt::Failed(message)
}

/// Tells the job's tenant how it ended (`job.succeeded`, `job.failed`), if it has a webhook.
async fn announce(ctx: &Ctx, job: &Job, status: JobStatus, error: Option<&str>) {
    let Some(tenant_id) = job.tenant_id else {
        return;
    };
    let data = serde_json::json!({ "job_id": job.id, "kind": job.kind, "error": error });
    let event = format!("job.{status}");
    if let Err(e) = crate::webhooks::record(&ctx.catalog, tenant_id, &event, &data).await {
        tracing::warn!(job_id = job.id, error = %e, "cannot record the job's webhook event");
    }
}

/// Final failure: the job, the thing it was building, the audit log.
async fn fail(ctx: &Ctx, job: &Job, message: &str) -> Result<(), JobError> {
    if job.kind == provision_tenant::KIND {
        provision_tenant::on_failure(ctx, job).await?;
    }
    if job.kind == migrate_database::KIND {
        migrate_database::on_failure(ctx, job, message).await?;
    }
    ctx.catalog
        .finish_job(job.id, JobStatus::Failed, Some(message))
        .await?;
    let target = format!("job/{}", job.id);
    ctx.catalog
        .audit(&NewAudit {
            actor: job.created_by,
            action: &format!("{}.failed", job.kind),
            tenant_id: job.tenant_id,
            target: Some(&target),
            outcome: OUTCOME_FAILURE,
            request_id: job.request_id.as_deref(),
            detail: None,
        })
        .await?;
    Ok(())
}

/// Exponential backoff with jitter: base * 2^(attempt-1), capped, then a random 50-100% of it.
pub(crate) fn backoff(config: &JobsConfig, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let ms = config
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(config.backoff_max_ms);
    let jittered = rand::thread_rng().gen_range(ms / 2..=ms.max(1));
    Duration::from_millis(jittered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = JobsConfig {
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            ..JobsConfig::default()
        };
        for _ in 0..50 {
            let d1 = backoff(&c, 1).as_millis();
            assert!((50..=100).contains(&d1), "{d1}");
            let d3 = backoff(&c, 3).as_millis();
            assert!((200..=400).contains(&d3), "{d3}");
            let d30 = backoff(&c, 30).as_millis();
            assert!((500..=1000).contains(&d30), "{d30}");
        }
    }
}
