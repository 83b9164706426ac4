//! Jobs: the dispatchers and the job kinds they run (`provision_tenant`, `delete_tenant`,
//! `add_database`, `drop_database`). The catalog holds the jobs; a dispatcher only says which to
//! run: Redis Streams when `[redis] url` is configured ([`redis_queue`]), otherwise an
//! in-process queue ([`queue`]). Both run attempts through [`runner`].

pub mod database_job;
pub mod delete_tenant;
mod fault;
pub mod migrate_database;
pub mod provision_tenant;
mod queue;
mod redis_queue;
mod runner;
mod steps;

use std::sync::Arc;

use octodb_catalog::{BackendAdmin, Catalog, CatalogError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use fault::ENV_VAR as FAULT_ENV_VAR;
pub use redis_queue::QueueError;

use crate::config::{JobsConfig, RedisConfig};
use crate::metrics::Metrics;

/// Hands jobs (already recorded in the catalog) to the dispatcher. Cheap to clone.
#[derive(Clone, Debug)]
pub struct JobQueue {
    inner: Dispatch,
    plans: crate::rollout::SharedPlans,
}

#[derive(Clone, Debug)]
enum Dispatch {
    InProcess(queue::InProcessQueue),
    Redis(redis_queue::RedisQueue),
}

impl JobQueue {
    /// Queues job `job_id` to run now. Never fails: a job that cannot be queued stays queued in
    /// the catalog and is picked up again (at the next start, or when Redis comes back).
    pub async fn enqueue(&self, job_id: u64) {
        match &self.inner {
            Dispatch::InProcess(q) => q.enqueue(job_id),
            Dispatch::Redis(q) => q.enqueue(job_id).await,
        }
    }

    /// The workspace models and plans the migration jobs share within a rollout.
    pub(crate) fn shared_plans(&self) -> &crate::rollout::SharedPlans {
        &self.plans
    }

    /// Whether the dispatcher's backing service answers: `None` for the in-process queue.
    pub async fn ping(&self) -> Option<Result<(), QueueError>> {
        match &self.inner {
            Dispatch::InProcess(_) => None,
            Dispatch::Redis(q) => Some(q.ping().await.map_err(QueueError::from)),
        }
    }
}

/// Starts the dispatcher (Redis Streams when `redis.url` is set) on `tracker`; it stops when
/// `shutdown` is cancelled. It resumes the catalog's unfinished jobs. Attempts are counted and
/// timed in `metrics`. Fails only on an invalid Redis URL or an invalid test fault
/// ([`FAULT_ENV_VAR`]).
#[allow(clippy::too_many_arguments)]
pub fn start(
    catalog: Catalog,
    backend: BackendAdmin,
    config: JobsConfig,
    redis: &RedisConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<JobQueue, QueueError> {
    fault::init().map_err(QueueError::Fault)?;
    let plans = crate::rollout::SharedPlans::new();
    let ctx = Arc::new(runner::Ctx {
        catalog,
        backend,
        config,
        metrics,
        plans: plans.clone(),
    });
    let inner = match &redis.url {
        Some(url) => Dispatch::Redis(redis_queue::start(ctx, redis, url, shutdown, tracker)?),
        None => Dispatch::InProcess(queue::start(ctx, shutdown, tracker)),
    };
    Ok(JobQueue { inner, plans })
}

/// Why a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("bad job payload: {0}")]
    Payload(String),
    #[error("unknown job kind {0:?}")]
    UnknownKind(String),
    /// Injected by the test-only fault hook ([`FAULT_ENV_VAR`]); retryable, like MySQL trouble.
    #[error("fault: {0}")]
    Fault(String),
    /// A schema migration attempt failed (`migrate_database`), retryably or not.
    #[error("{}", .0.message)]
    Migration(MigrationFailure),
}

/// Why a migration attempt failed, and whether another attempt may succeed (lock wait
/// timeouts, deadlocks, lost connections).
#[derive(Debug, Clone)]
pub struct MigrationFailure {
    pub message: String,
    pub retryable: bool,
}

impl JobError {
    /// Worth another attempt: MySQL trouble (server down, deadlock, lock wait...). Invalid input,
    /// conflicts and unknown kinds fail at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Migration(m) => m.retryable,
            _ => matches!(
                self,
                JobError::Catalog(CatalogError::Mysql(_)) | JobError::Fault(_)
            ),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            JobError::Catalog(e) => e.kind(),
            JobError::Payload(_) => "payload",
            JobError::UnknownKind(_) => "unknown_kind",
            JobError::Fault(_) => "fault",
            JobError::Migration(_) => "migration",
        }
    }
}
