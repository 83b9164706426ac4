//! The Redis Streams dispatcher (`[redis] url` configured). The catalog stays the source of
//! truth; the stream only carries job ids.
//!
//! - enqueue: `XADD {prefix} * job_id ID`;
//! - workers: a consumer group (`[redis] group`), one consumer per process (unique name), reading
//!   with `XREADGROUP`; each entry runs through [`runner::attempt`], the same code as the
//!   in-process queue; retries sleep in the worker (backoff with jitter, up to `jobs.max_attempts`,
//!   counted in the catalog); the entry is acked (and deleted) on the final outcome;
//! - while an entry is worked on, it is re-claimed by its owner every third of the claim timeout,
//!   so only the entries of a dead consumer go idle; `XAUTOCLAIM` takes those after
//!   `[redis] claim_idle_ms`;
//! - a job that fails for good leaves a dead letter in `{prefix}:dead` (job id, reason);
//! - at start, and after any Redis error (a restarted Redis keeps nothing), the group is created
//!   if missing and the catalog's unfinished jobs that have no entry in the stream are added again.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octodb_catalog::CatalogError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamClaimOptions, StreamId, StreamRangeReply,
    StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands, RedisError};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::runner::{self, Attempt, Ctx};
use crate::config::RedisConfig;

/// Field of a stream entry holding the job id.
const JOB_ID_FIELD: &str = "job_id";
/// Field of a dead letter holding why the job failed.
const REASON_FIELD: &str = "reason";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why talking to Redis (or listing the catalog's jobs for it) failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The test-only fault hook's variable is set to something unparseable.
    #[error("test fault hook: {0}")]
    Fault(String),
}

/// Adds job ids to the stream. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RedisQueue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("stream", &self.shared.stream)
            .field("consumer", &self.shared.consumer)
            .finish_non_exhaustive()
    }
}

/// Names and the (lazily opened) connection for everything but the blocking reads.
struct Shared {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    stream: String,
    dead: String,
    group: String,
    consumer: String,
    claim_idle: Duration,
    block: Duration,
}

impl Shared {
    async fn conn(&self) -> Result<ConnectionManager, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        self.conn
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }
}

impl RedisQueue {
    /// Adds job `job_id` (already recorded in the catalog) to the stream. A failure is logged:
    /// the job stays queued in the catalog and is added again when the dispatcher next
    /// reconciles (at start, or after a Redis error).
    pub(crate) async fn enqueue(&self, job_id: u64) {
        if let Err(e) = self.add(job_id).await {
            tracing::warn!(job_id, error = %e, "cannot add job to the stream; added again later");
        }
    }

    async fn add(&self, job_id: u64) -> Result<(), RedisError> {
        let mut conn = self.shared.conn().await?;
        let _: String = conn
            .xadd(&self.shared.stream, "*", &[(JOB_ID_FIELD, job_id)])
            .await?;
        Ok(())
    }

    /// `PING`.
    pub(crate) async fn ping(&self) -> Result<(), RedisError> {
        let mut conn = self.shared.conn().await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await
    }
}

/// The consumer: reads and claims entries, runs their jobs.
struct Worker {
    ctx: Arc<Ctx>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
    /// Jobs this process is working on (never run twice at once here).
    in_flight: Mutex<HashSet<u64>>,
}

/// Starts the consumer on `tracker`; it stops when `shutdown` is cancelled. Fails only on an
/// invalid URL: an unreachable Redis is retried.
pub(crate) fn start(
    ctx: Arc<Ctx>,
    config: &RedisConfig,
    url: &str,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<RedisQueue, QueueError> {
    let client = redis::Client::open(url)?;
    let shared = Arc::new(Shared {
        client,
        conn: OnceCell::new(),
        stream: config.stream_prefix.clone(),
        dead: format!("{}:dead", config.stream_prefix),
        group: config.group.clone(),
        consumer: format!("admin-{}-{:08x}", std::process::id(), rand::random::<u32>()),
        claim_idle: Duration::from_millis(config.claim_idle_ms.max(1)),
        block: Duration::from_millis(config.block_ms.max(1)),
    });
    let worker = Arc::new(Worker {
        slots: Arc::new(Semaphore::new(ctx.config.concurrency.max(1))),
        ctx,
        shared: shared.clone(),
        shutdown,
        tracker: tracker.clone(),
        in_flight: Mutex::default(),
    });
    tracker.spawn(consume(worker));
    Ok(RedisQueue { shared })
}

async fn consume(w: Arc<Worker>) {
    tracing::info!(consumer = %w.shared.consumer, stream = %w.shared.stream, "redis job consumer started");
    let mut prepared = false;
    let mut failures = 0;
    let mut reader: Option<ConnectionManager> = None;
    let mut last_claim: Option<Instant> = None;
    while !w.shutdown.is_cancelled() {
        let step = async {
            if !prepared {
                prepare(&w).await?;
                prepared = true;
            }
            if last_claim.is_none_or(|t| t.elapsed() >= w.shared.claim_idle / 2) {
                last_claim = Some(Instant::now());
                claim_idle(&w).await?;
            }
            read_new(&w, &mut reader).await
        };
        let result = tokio::select! {
            _ = w.shutdown.cancelled() => break,
            r = step => r,
        };
        match result {
            Ok(()) => failures = 0,
            Err(e) => {
                // Maybe a Redis that restarted empty: recreate the group and re-add jobs.
                prepared = false;
                reader = None;
                failures += 1;
                tracing::warn!(error = %e, failures, "redis job consumer error; retrying");
                let delay = runner::backoff(&w.ctx.config, failures);
                tokio::select! {
                    _ = w.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    tracing::debug!("redis job consumer stopped");
}

/// Creates the group (and stream) if missing, then adds the catalog's unfinished jobs that have
/// no entry in the stream.
async fn prepare(w: &Worker) -> Result<(), QueueError> {
    let s = &w.shared;
    let mut conn = s.conn().await?;
    let created: Result<(), RedisError> =
        conn.xgroup_create_mkstream(&s.stream, &s.group, "0").await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => return Err(e.into()),
        _ => {}
    }
    let unfinished = w.ctx.catalog.unfinished_jobs().await?;
    if unfinished.is_empty() {
        return Ok(());
    }
    let entries: StreamRangeReply = conn.xrange_all(&s.stream).await?;
    let present: HashSet<u64> = entries.ids.iter().filter_map(job_id).collect();
    let missing: Vec<u64> = unfinished
        .into_iter()
        .filter(|id| !present.contains(id))
        .collect();
    if !missing.is_empty() {
        tracing::info!(
            jobs = missing.len(),
            "re-adding unfinished jobs to the stream"
        );
    }
    for id in missing {
        let _: String = conn.xadd(&s.stream, "*", &[(JOB_ID_FIELD, id)]).await?;
    }
    Ok(())
}

/// Takes the entries idle for longer than the claim timeout (their consumer died).
async fn claim_idle(w: &Arc<Worker>) -> Result<(), QueueError> {
    let free = w.slots.available_permits();
    if free == 0 {
        return Ok(());
    }
    let s = &w.shared;
    let mut conn = s.conn().await?;
    let reply: StreamAutoClaimReply = conn
        .xautoclaim_options(
            &s.stream,
            &s.group,
            &s.consumer,
            s.claim_idle.as_millis() as u64,
            "0-0",
            StreamAutoClaimOptions::default().count(free),
        )
        .await?;
    if !reply.claimed.is_empty() {
        tracing::info!(
            entries = reply.claimed.len(),
            "claimed entries of a dead consumer"
        );
    }
    dispatch(w, reply.claimed).await;
    Ok(())
}

/// Reads new entries (blocking up to `[redis] block_ms`) as slots allow.
async fn read_new(
    w: &Arc<Worker>,
    reader: &mut Option<ConnectionManager>,
) -> Result<(), QueueError> {
    let s = &w.shared;
    // One permit first: wait for a free slot before reading anything.
    let first = w.slots.clone().acquire_owned().await;
    let free = w.slots.available_permits() + 1;
    drop(first);
    let conn = match reader {
        Some(c) => c,
        None => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(CONNECT_TIMEOUT)
                .set_response_timeout(s.block + RESPONSE_TIMEOUT);
            reader.insert(ConnectionManager::new_with_config(s.client.clone(), config).await?)
        }
    };
    let options = StreamReadOptions::default()
        .group(&s.group, &s.consumer)
        .count(free)
        .block(s.block.as_millis() as usize);
    let reply: Option<StreamReadReply> = conn.xread_options(&[&s.stream], &[">"], &options).await?;
    let entries = reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .collect();
    dispatch(w, entries).await;
    Ok(())
}

/// Runs each entry in its own task, one slot each. An entry whose job already runs here (the
/// same entry claimed again, or a second entry of that job re-added after Redis lost the
/// stream) is left pending: it is claimed again once idle, and acked then if the job is finished.
/// One job never runs twice at once in one process.
async fn dispatch(w: &Arc<Worker>, entries: Vec<StreamId>) {
    for entry in entries {
        let id = job_id(&entry);
        if let Some(id) = id {
            let fresh = w
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id);
            if !fresh {
                tracing::debug!(entry = %entry.id, job_id = id, "job already running here");
                continue;
            }
        }
        let permit = tokio::select! {
            _ = w.shutdown.cancelled() => None,
            p = w.slots.clone().acquire_owned() => p.ok(),
        };
        let Some(permit) = permit else {
            if let Some(id) = id {
                forget(w, id);
            }
            return;
        };
        w.tracker.spawn(run_entry(w.clone(), entry, id, permit));
    }
}

fn job_id(entry: &StreamId) -> Option<u64> {
    entry.get::<u64>(JOB_ID_FIELD)
}

/// Attempts the entry's job (`id`, read from the entry) until a final outcome (then acks it) or
/// shutdown (then leaves it pending, to be claimed after the timeout).
async fn run_entry(
    w: Arc<Worker>,
    entry: StreamId,
    id: Option<u64>,
    _permit: OwnedSemaphorePermit,
) {
    let Some(id) = id else {
        tracing::warn!(entry = %entry.id, "stream entry without a job id; dropped");
        ack(&w, &entry.id).await;
        return;
    };
    loop {
        match heartbeat(&w, &entry.id, runner::attempt(&w.ctx, id)).await {
            Attempt::Done => {
                ack(&w, &entry.id).await;
                break;
            }
            Attempt::Failed(reason) => {
                dead_letter(&w, id, &reason).await;
                ack(&w, &entry.id).await;
                break;
            }
            // Left pending: reclaimed once idle, when the catalog may answer again.
            Attempt::Unrecorded => break,
            Attempt::Retry(delay) => {
                let shutdown = w.shutdown.clone();
                let waited = heartbeat(&w, &entry.id, async move {
                    tokio::select! {
                        _ = shutdown.cancelled() => false,
                        _ = tokio::time::sleep(delay) => true,
                    }
                })
                .await;
                if !waited {
                    break;
                }
            }
        }
    }
    forget(&w, id);
}

fn forget(w: &Worker, job_id: u64) {
    w.in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&job_id);
}

/// Runs `work` while re-claiming `entry` for this consumer every third of the claim timeout, so
/// that it never looks idle (abandoned) while this process is alive.
async fn heartbeat<T>(w: &Worker, entry: &str, work: impl Future<Output = T>) -> T {
    let s = &w.shared;
    let mut tick = tokio::time::interval(s.claim_idle / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let claimed: Result<redis::Value, RedisError> = async {
                    let mut conn = s.conn().await?;
                    conn.xclaim_options(&s.stream, &s.group, &s.consumer, 0, &[entry],
                        StreamClaimOptions::default().with_justid()).await
                }.await;
                if let Err(e) = claimed {
                    tracing::debug!(entry, error = %e, "cannot refresh a stream entry");
                }
            }
        }
    }
}

async fn ack(w: &Worker, entry: &str) {
    let s = &w.shared;
    let acked: Result<(), RedisError> = async {
        let mut conn = s.conn().await?;
        let _: u64 = conn.xack(&s.stream, &s.group, &[entry]).await?;
        let _: u64 = conn.xdel(&s.stream, &[entry]).await?;
        Ok(())
    }
    .await;
    if let Err(e) = acked {
        // The job is finished in the catalog: whoever claims the entry finds nothing to do.
        tracing::warn!(entry, error = %e, "cannot ack a stream entry");
    }
}

async fn dead_letter(w: &Worker, job_id: u64, reason: &str) {
    let s = &w.shared;
    let added: Result<String, RedisError> = async {
        let mut conn = s.conn().await?;
        conn.xadd(
            &s.dead,
            "*",
            &[
                (JOB_ID_FIELD, job_id.to_string().as_str()),
                (REASON_FIELD, reason),
            ],
        )
        .await
    }
    .await;
    if let Err(e) = added {
        tracing::warn!(job_id, error = %e, "cannot write a dead letter (the catalog has the failure)");
    }
}
