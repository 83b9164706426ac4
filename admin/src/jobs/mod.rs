//! Jobs: the in-process queue (no Redis configured) and the job kinds it runs:
//! `provision_tenant`, `delete_tenant`, `add_database`, `drop_database`.
//!
//! Redis Streams dispatch is not built yet: with or without Redis, jobs run in-process.

pub mod database_job;
pub mod delete_tenant;
pub mod provision_tenant;
mod queue;
mod steps;

pub use queue::{start, JobQueue};

use octodb_catalog::CatalogError;

/// Why a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("bad job payload: {0}")]
    Payload(String),
    #[error("unknown job kind {0:?}")]
    UnknownKind(String),
}

impl JobError {
    /// Worth another attempt: MySQL trouble (server down, deadlock, lock wait...). Invalid input,
    /// conflicts and unknown kinds fail at once.
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Catalog(CatalogError::Mysql(_)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            JobError::Catalog(e) => e.kind(),
            JobError::Payload(_) => "payload",
            JobError::UnknownKind(_) => "unknown_kind",
        }
    }
}
