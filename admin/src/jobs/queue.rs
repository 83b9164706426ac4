//! The in-process queue (no Redis configured): a channel of job ids and a dispatcher task that
//! runs each job in its own task (bounded concurrency). At start it resumes the jobs the catalog
//! still has queued or running (left by a process that died). Failed attempts are retried with
//! exponential backoff and jitter up to `jobs.max_attempts`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::runner::{self, Attempt, Ctx};

/// Hands job ids to the in-process dispatcher. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct InProcessQueue {
    tx: mpsc::UnboundedSender<u64>,
}

impl InProcessQueue {
    /// Queues a job (already recorded in the catalog) to run now.
    pub(crate) fn enqueue(&self, job_id: u64) {
        if self.tx.send(job_id).is_err() {
            tracing::warn!(job_id, "job queue stopped; the job runs at the next start");
        }
    }
}

struct Dispatcher {
    ctx: Arc<Ctx>,
    queue: InProcessQueue,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// Starts the dispatcher on `tracker`; it stops when `shutdown` is cancelled.
pub(crate) fn start(
    ctx: Arc<Ctx>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> InProcessQueue {
    let (tx, rx) = mpsc::unbounded_channel();
    let queue = InProcessQueue { tx };
    let d = Arc::new(Dispatcher {
        ctx,
        queue: queue.clone(),
        shutdown,
        tracker: tracker.clone(),
    });
    tracker.spawn(dispatch(d, rx));
    queue
}

async fn dispatch(d: Arc<Dispatcher>, mut rx: mpsc::UnboundedReceiver<u64>) {
    resume_unfinished(&d).await;
    let slots = Arc::new(Semaphore::new(d.ctx.config.concurrency.max(1)));
    loop {
        let id = tokio::select! {
            _ = d.shutdown.cancelled() => break,
            id = rx.recv() => match id {
                Some(id) => id,
                None => break,
            },
        };
        let permit = tokio::select! {
            _ = d.shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        d.tracker.spawn(run_one(d.clone(), id, permit));
    }
    tracing::debug!("job dispatcher stopped");
}

/// Queues the catalog's unfinished jobs, retrying while the catalog is unreachable.
async fn resume_unfinished(d: &Dispatcher) {
    let mut attempt = 0;
    loop {
        match d.ctx.catalog.unfinished_jobs().await {
            Ok(ids) => {
                if !ids.is_empty() {
                    tracing::info!(jobs = ids.len(), "resuming unfinished jobs");
                }
                for id in ids {
                    d.queue.enqueue(id);
                }
                return;
            }
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "cannot list unfinished jobs; retrying");
                let delay = runner::backoff(&d.ctx.config, attempt);
                tokio::select! {
                    _ = d.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn run_one(d: Arc<Dispatcher>, id: u64, _permit: OwnedSemaphorePermit) {
    match runner::attempt(&d.ctx, id).await {
        Attempt::Retry(delay) => retry_later(&d, id, delay),
        // Final failures are in the catalog; unrecorded outcomes resume at the next start.
        Attempt::Done | Attempt::Failed(_) | Attempt::Unrecorded => {}
    }
}

fn retry_later(d: &Arc<Dispatcher>, id: u64, delay: Duration) {
    let d2 = d.clone();
    d.tracker.spawn(async move {
        tokio::select! {
            _ = d2.shutdown.cancelled() => {}
            _ = tokio::time::sleep(delay) => d2.queue.enqueue(id),
        }
    });
}
