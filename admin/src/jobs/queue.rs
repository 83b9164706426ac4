//! The in-process queue: a channel of job ids and a dispatcher task that runs each job in its
//! own task (bounded concurrency). At start it resumes the jobs the catalog still has queued or
//! running (left by a process that died). Failed attempts are retried with exponential backoff
//! and jitter up to `jobs.max_attempts`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use octodb_catalog::{BackendAdmin, Catalog, Job, JobStatus, NewAudit, OUTCOME_FAILURE};
use rand::Rng;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{database_job, delete_tenant, provision_tenant, JobError};
use crate::config::JobsConfig;
use crate::metrics::{Metrics, OUTCOME_FAILED, OUTCOME_RETRIED, OUTCOME_SUCCEEDED};

/// Hands job ids to the dispatcher. Cheap to clone.
#[derive(Clone, Debug)]
pub struct JobQueue {
    tx: mpsc::UnboundedSender<u64>,
}

impl JobQueue {
    /// Queues a job (already recorded in the catalog) to run now.
    pub fn enqueue(&self, job_id: u64) {
        if self.tx.send(job_id).is_err() {
            tracing::warn!(job_id, "job queue stopped; the job runs at the next start");
        }
    }
}

/// What running jobs needs.
pub(crate) struct Ctx {
    pub catalog: Catalog,
    pub backend: BackendAdmin,
    config: JobsConfig,
    queue: JobQueue,
    metrics: Metrics,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// Starts the dispatcher on `tracker`; it stops when `shutdown` is cancelled. Attempts are
/// counted and timed in `metrics`.
pub fn start(
    catalog: Catalog,
    backend: BackendAdmin,
    config: JobsConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> JobQueue {
    let (tx, rx) = mpsc::unbounded_channel();
    let queue = JobQueue { tx };
    let ctx = Arc::new(Ctx {
        catalog,
        backend,
        config,
        queue: queue.clone(),
        metrics,
        shutdown,
        tracker: tracker.clone(),
    });
    tracker.spawn(dispatch(ctx, rx));
    queue
}

async fn dispatch(ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<u64>) {
    resume_unfinished(&ctx).await;
    let slots = Arc::new(Semaphore::new(ctx.config.concurrency.max(1)));
    loop {
        let id = tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            id = rx.recv() => match id {
                Some(id) => id,
                None => break,
            },
        };
        let permit = tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        ctx.tracker.spawn(run_one(ctx.clone(), id, permit));
    }
    tracing::debug!("job dispatcher stopped");
}

/// Queues the catalog's unfinished jobs, retrying while the catalog is unreachable.
async fn resume_unfinished(ctx: &Ctx) {
    let mut attempt = 0;
    loop {
        match ctx.catalog.unfinished_jobs().await {
            Ok(ids) => {
                if !ids.is_empty() {
                    tracing::info!(jobs = ids.len(), "resuming unfinished jobs");
                }
                for id in ids {
                    ctx.queue.enqueue(id);
                }
                return;
            }
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "cannot list unfinished jobs; retrying");
                let delay = backoff(&ctx.config, attempt);
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn run_one(ctx: Arc<Ctx>, id: u64, _permit: OwnedSemaphorePermit) {
    let job = match ctx.catalog.claim_job(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return, // finished meanwhile
        Err(e) => {
            // The attempt did not start: try again later without counting it.
            tracing::warn!(job_id = id, error = %e, "cannot claim job; retrying later");
            retry_later(&ctx, id, backoff(&ctx.config, 1));
            return;
        }
    };
    let started = Instant::now();
    let result = match job.kind.as_str() {
        provision_tenant::KIND => provision_tenant::run(&ctx, &job).await,
        delete_tenant::KIND => delete_tenant::run(&ctx, &job).await,
        database_job::ADD_KIND => database_job::run_add(&ctx, &job).await,
        database_job::DROP_KIND => database_job::run_drop(&ctx, &job).await,
        other => Err(JobError::UnknownKind(other.to_string())),
    };
    let Err(e) = result else {
        ctx.metrics
            .job_attempt(&job.kind, OUTCOME_SUCCEEDED, started.elapsed());
        if let Err(e) = ctx.catalog.finish_job(id, JobStatus::Succeeded, None).await {
            tracing::warn!(job_id = id, error = %e, "cannot record job success; resumed later");
        }
        return;
    };
    let message = e.to_string();
    if e.is_retryable() && job.attempts < ctx.config.max_attempts {
        ctx.metrics
            .job_attempt(&job.kind, OUTCOME_RETRIED, started.elapsed());
        tracing::info!(job_id = id, attempt = job.attempts, error = %message, "job attempt failed; retrying");
        match ctx
            .catalog
            .finish_job(id, JobStatus::Queued, Some(&message))
            .await
        {
            Ok(()) => retry_later(&ctx, id, backoff(&ctx.config, job.attempts)),
            Err(e) => tracing::warn!(job_id = id, error = %e, "cannot requeue job; resumed later"),
        }
        return;
    }
    ctx.metrics
        .job_attempt(&job.kind, OUTCOME_FAILED, started.elapsed());
    tracing::warn!(job_id = id, kind = e.kind(), error = %message, "job failed");
    if let Err(e) = fail(&ctx, &job, &message).await {
        tracing::warn!(job_id = id, error = %e, "cannot record job failure; resumed later");
    }
}

/// Final failure: the job, the thing it was building, the audit log.
async fn fail(ctx: &Ctx, job: &Job, message: &str) -> Result<(), JobError> {
    if job.kind == provision_tenant::KIND {
        provision_tenant::on_failure(ctx, job).await?;
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
        })
        .await?;
    Ok(())
}

fn retry_later(ctx: &Arc<Ctx>, id: u64, delay: Duration) {
    let ctx2 = ctx.clone();
    ctx.tracker.spawn(async move {
        tokio::select! {
            _ = ctx2.shutdown.cancelled() => {}
            _ = tokio::time::sleep(delay) => ctx2.queue.enqueue(id),
        }
    });
}

/// Exponential backoff with jitter: base * 2^(attempt-1), capped, then a random 50-100% of it.
fn backoff(config: &JobsConfig, attempt: u32) -> Duration {
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
