//! OctoDB admin: the HTTP API under `/v1` (API keys, tenants, jobs, audit), the job
//! queue (in-process, or Redis Streams when configured), and the one-shot provisioning commands.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod commands;
mod config;
pub mod digests;
pub mod drift;
mod error;
mod extract;
pub mod jobs;
pub mod metrics;
pub mod notify;
mod pagination;
pub mod problem;
pub mod ratelimit;
pub mod rollout;
pub mod routes;
mod templates;
pub mod webhooks;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use octodb_catalog::{BackendAdmin, Catalog, NewAudit};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{
    AdminConfig, BackendConfig, DriftConfig, JobsConfig, RedisConfig, WebhooksConfig,
};
pub use error::AdminError;
pub use extract::REQUEST_ID_HEADER;
pub use jobs::JobQueue;
pub use metrics::Metrics;

/// How long shutdown waits for running jobs before closing the catalog (the rest resume at the
/// next start).
const JOBS_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Catalog,
    /// The backend new tenants are placed on.
    pub backend: BackendAdmin,
    pub queue: JobQueue,
    /// This app's metrics (its own recorder: apps in one process share nothing).
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    /// Per-caller request rate limits (429 when exceeded).
    pub limiter: ratelimit::RateLimiter,
    /// Tenant webhook deliveries ([`webhooks::notify`]).
    pub webhooks: webhooks::Webhooks,
}

impl AppState {
    /// State for `catalog`, starting the job queue on `tracker` (stopped by `shutdown`); it
    /// resumes the catalog's unfinished jobs. With Redis, also announces catalog changes
    /// ([`notify`]). Fails only on an invalid Redis URL or rate limit setting.
    pub fn start(
        catalog: Catalog,
        config: &AdminConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, AdminError> {
        let backend = config.backend.admin();
        let metrics = Metrics::new();
        // Before anything is spawned: a bad setting must not leave a running queue behind.
        let limiter =
            ratelimit::RateLimiter::new(&config.rate_limit, catalog.clone(), metrics.clone())?;
        let queue = jobs::start(
            catalog.clone(),
            backend.clone(),
            config.jobs.clone(),
            &config.redis,
            metrics.clone(),
            shutdown.clone(),
            tracker,
        )?;
        let webhooks =
            webhooks::start(catalog.clone(), &config.webhooks, shutdown.clone(), tracker)?;
        rollout::start(
            catalog.clone(),
            backend.clone(),
            queue.clone(),
            shutdown.clone(),
            tracker,
        );
        notify::start(catalog.clone(), &config.redis, shutdown.clone(), tracker)?;
        digests::start(catalog.clone(), shutdown.clone(), tracker);
        let state = AppState {
            catalog,
            backend,
            queue,
            metrics,
            max_body_bytes: config.max_body_bytes,
            limiter,
            webhooks,
        };
        drift::start(state.clone(), &config.drift, shutdown, tracker);
        Ok(state)
    }

    /// Writes an audit row; a failure is logged, not returned (the action itself is done).
    pub(crate) async fn audit(&self, row: &NewAudit<'_>) {
        if let Err(e) = self.catalog.audit(row).await {
            tracing::warn!(error = %e, action = row.action, "cannot write the audit log");
        }
    }
}

/// The HTTP routes, built from [`routes::table`].
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes::table() {
        router = router.route(route.path, route.handler);
    }
    router
        .method_not_allowed_fallback(problem::method_not_allowed)
        .fallback(problem::not_found)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.limiter.clone(),
            ratelimit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track_http,
        ))
        .layer(axum::middleware::from_fn(extract::request_id))
        .with_state(state)
}

/// Connects to the catalog (migrating it), starts the job queue, then serves the API on
/// `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: AdminConfig,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    let catalog = Catalog::connect(&config.catalog).await?;
    let tracker = TaskTracker::new();
    let jobs_shutdown = shutdown.child_token();
    let state = AppState::start(catalog.clone(), &config, jobs_shutdown.clone(), &tracker)?;
    let served = serve(listener, state, shutdown).await;
    jobs_shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(JOBS_DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("jobs still running at shutdown; they resume at the next start");
    }
    if let Err(e) = catalog.disconnect().await {
        tracing::debug!(error = %e, "closing the catalog pool");
    }
    served
}

/// Serves the API with `state` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin API listening");
    }
    // Connect info: the rate limiter buckets anonymous requests by source address.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(AdminError::Serve)?;
    tracing::info!("admin API stopped");
    Ok(())
}
