//! Hierarchical schema templates on top of the schema engine (`octodb_schema`): validating a
//! template version or a database's overlay on the real backend, working out a database's
//! desired schema (its template chain merged with its overlay, with conflicts against the
//! previous chain), and dry-run plans for every database a version would reach.
//!
//! The catalog side (templates, versions, bindings, locks) is `octodb_catalog::templates`;
//! migrations themselves run as jobs (`jobs::migrate_database`).

mod backend;
mod desired;
mod dry_run;
mod validate;

use axum::http::StatusCode;
use octodb_catalog::CatalogError;
use octodb_schema::{
    Conflict, DesiredError, IntrospectError, MergeError, PlanError, SnapshotError, WorkspaceError,
};

use crate::problem::ApiError;

pub(crate) use backend::connect;
pub(crate) use desired::{chain_layers, desired_for};
pub(crate) use dry_run::plan_databases;
pub(crate) use validate::{validate_overlay, validate_version};

/// Why a template operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),

    /// A body or overlay that is not a valid desired schema.
    #[error("{0}")]
    Desired(#[from] DesiredError),

    /// The workspace could not be built (invalid DDL: the server's own message).
    #[error("{0}")]
    Workspace(#[from] WorkspaceError),

    /// The new layer conflicts with a parent's change.
    #[error("conflicts with the parent: {}", describe_conflicts(.0))]
    Conflicts(Vec<Conflict>),

    #[error("{0}")]
    Merge(#[from] MergeError),

    /// The backend server could not be reached or failed.
    #[error("backend: {0}")]
    Backend(#[from] mysql_async::Error),

    #[error("{0}")]
    Introspect(#[from] IntrospectError),

    #[error("{0}")]
    Plan(#[from] PlanError),

    #[error("{0}")]
    Snapshot(#[from] SnapshotError),
}

impl TemplateError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TemplateError::Catalog(e) => e.kind(),
            TemplateError::Desired(e) => e.kind(),
            TemplateError::Workspace(e) => e.kind(),
            TemplateError::Conflicts(_) => "conflicts",
            TemplateError::Merge(e) => e.kind(),
            TemplateError::Backend(_) => "backend",
            TemplateError::Introspect(_) => "introspect",
            TemplateError::Plan(e) => e.kind(),
            TemplateError::Snapshot(e) => e.kind(),
        }
    }

    /// Whether trying again later may succeed (connection trouble, lock waits, deadlocks).
    pub fn is_retryable(&self) -> bool {
        match self {
            TemplateError::Catalog(e) => e.is_retryable(),
            TemplateError::Workspace(e) => e.is_retryable(),
            TemplateError::Backend(e) => octodb_schema::is_transient(e),
            TemplateError::Introspect(e) => e.is_retryable(),
            TemplateError::Snapshot(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// `table.element (kind)` for each conflict.
pub(crate) fn describe_conflicts(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| {
            let kind = serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("{}: {} ({kind})", c.table, c.element)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> Self {
        match e {
            TemplateError::Catalog(c) => c.into(),
            TemplateError::Desired(_)
            | TemplateError::Conflicts(_)
            | TemplateError::Workspace(
                WorkspaceError::InvalidDdl { .. }
                | WorkspaceError::Desired(_)
                | WorkspaceError::Refused(_),
            ) => ApiError::unprocessable(e.to_string()),
            e if e.is_retryable() || matches!(e, TemplateError::Backend(_)) => {
                tracing::warn!(error = %e, kind = e.kind(), "backend unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the backend server is unavailable; retry later",
                )
            }
            e => {
                tracing::error!(error = %e, kind = e.kind(), "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error ({})", e.kind()),
                )
            }
        }
    }
}
