//! The periodic drift check: every `[drift] interval_secs` (0: off), every database bound to a
//! template and at a recorded version, at most `[drift] concurrency` at once (each worker with
//! its own backend connection; workspaces and plans shared through one [`Checker`]). Each
//! result replaces the database's previous one in the catalog (`GET /v1/drift`).
//!
//! A transient failure (the backend or the catalog briefly unreachable) leaves the previous
//! result in place: the next run tries again. A run stops taking databases at shutdown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use octodb_catalog::{Channel, DatabaseTemplate};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{record, Checker, DriftReport, Outcome};
use crate::config::DriftConfig;
use crate::templates::{self, TemplateError};
use crate::AppState;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    pub checked: usize,
    pub drifted: usize,
    /// Left for the next run (a migration running, a transient failure).
    pub skipped: usize,
    pub workspaces: usize,
}

/// Starts the periodic check on `tracker` (stopped by `shutdown`); does nothing when the
/// interval is 0. The first run comes one interval after start.
pub fn start(
    state: AppState,
    config: &DriftConfig,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    if config.interval_secs == 0 {
        tracing::info!("periodic drift checks are off ([drift] interval_secs = 0)");
        return;
    }
    let interval = Duration::from_secs(config.interval_secs);
    let concurrency = config.concurrency.max(1);
    tracker.spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
            match run(&state, concurrency, &shutdown).await {
                Ok(s) => tracing::info!(
                    checked = s.checked,
                    drifted = s.drifted,
                    skipped = s.skipped,
                    workspaces = s.workspaces,
                    "drift check done"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, kind = e.kind(), "drift check failed; next run retries")
                }
            }
        }
        tracing::debug!("drift checks stopped");
    });
}

/// Every database bound to a template (on any channel) at a recorded version.
async fn bound_databases(state: &AppState) -> Result<Vec<DatabaseTemplate>, TemplateError> {
    let ids: Vec<u64> = state
        .catalog
        .templates()
        .await?
        .iter()
        .map(|t| t.id)
        .collect();
    let mut out = state
        .catalog
        .databases_following(&ids, Channel::Auto)
        .await?;
    out.extend(
        state
            .catalog
            .databases_following(&ids, Channel::Pinned)
            .await?,
    );
    out.retain(|b| b.version.is_some());
    out.sort_by_key(|b| b.database_id);
    Ok(out)
}

/// One run over every bound database.
pub(crate) async fn run(
    state: &AppState,
    concurrency: usize,
    shutdown: &CancellationToken,
) -> Result<RunSummary, TemplateError> {
    let todo: VecDeque<DatabaseTemplate> = bound_databases(state).await?.into();
    let workers = concurrency.min(todo.len());
    let todo = Arc::new(Mutex::new(todo));
    let checker = Arc::new(Checker::new(state.backend.clone()));
    let mut set = JoinSet::new();
    for _ in 0..workers {
        set.spawn(worker(
            state.clone(),
            checker.clone(),
            todo.clone(),
            shutdown.clone(),
        ));
    }
    let mut summary = RunSummary::default();
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(s)) => {
                summary.checked += s.checked;
                summary.drifted += s.drifted;
                summary.skipped += s.skipped;
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => tracing::warn!(error = %e, "a drift worker panicked"),
        }
    }
    summary.skipped += todo.lock().await.len();
    summary.workspaces = checker.workspaces().await;
    if let Ok(checker) = Arc::try_unwrap(checker) {
        let mut conn = templates::connect(&state.backend).await?;
        let dropped = checker.finish(&mut conn).await;
        if let Err(e) = conn.disconnect().await {
            tracing::debug!(error = %e, "closing a backend connection");
        }
        dropped?;
    }
    match first_error {
        Some(e) if summary.checked == 0 => Err(e),
        Some(e) => {
            tracing::warn!(error = %e, "a drift worker could not connect; the others went on");
            Ok(summary)
        }
        None => Ok(summary),
    }
}

/// Takes databases from `todo` until it is empty (or shutdown), checking each on a connection
/// of its own. Fails only when it cannot connect at all.
async fn worker(
    state: AppState,
    checker: Arc<Checker>,
    todo: Arc<Mutex<VecDeque<DatabaseTemplate>>>,
    shutdown: CancellationToken,
) -> Result<RunSummary, TemplateError> {
    let mut conn = templates::connect(&state.backend).await?;
    let mut summary = RunSummary::default();
    while !shutdown.is_cancelled() {
        let Some(b) = todo.lock().await.pop_front() else {
            break;
        };
        match checker.check(&state.catalog, &mut conn, &b).await {
            Ok(Outcome::Checked(report)) => {
                summary.checked += 1;
                summary.drifted += usize::from(report.drifted);
                record(&state, &report, None, None).await;
            }
            Ok(Outcome::NotMigrated | Outcome::Busy) => summary.skipped += 1,
            Err(e) if e.is_retryable() => {
                tracing::warn!(database_id = b.database_id, error = %e, "drift check: retry next run");
                summary.skipped += 1;
                // The connection may be the trouble: a fresh one for the next database.
                if let Ok(fresh) = templates::connect(&state.backend).await {
                    let old = std::mem::replace(&mut conn, fresh);
                    let _ = old.disconnect().await;
                }
            }
            Err(e) => {
                summary.checked += 1;
                record(&state, &DriftReport::failed(&b, e.to_string()), None, None).await;
            }
        }
    }
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend connection");
    }
    Ok(summary)
}
