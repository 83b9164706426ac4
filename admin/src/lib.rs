//! OctoDB admin: the HTTP API (health for now) and the one-shot provisioning commands.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod commands;
mod config;
mod error;
pub mod routes;

use axum::routing::get;
use axum::Router;
use octodb_catalog::Catalog;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{AdminConfig, BackendConfig};
pub use error::AdminError;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Catalog,
}

/// The HTTP routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::healthz::healthz))
        .route("/readyz", get(routes::readyz::readyz))
        .with_state(state)
}

/// Connects to the catalog (migrating it), then serves the API on `listener` until `shutdown`
/// is cancelled.
pub async fn run(
    listener: TcpListener,
    config: AdminConfig,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    let catalog = Catalog::connect(&config.catalog).await?;
    let served = serve(
        listener,
        AppState {
            catalog: catalog.clone(),
        },
        shutdown,
    )
    .await;
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
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(AdminError::Serve)?;
    tracing::info!("admin API stopped");
    Ok(())
}
