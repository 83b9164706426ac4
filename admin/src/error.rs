//! The admin's error type.

use octodb_catalog::{CatalogError, ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The schema file was refused by the policy.
    #[error("schema refused: {0}")]
    Schema(octodb_policy::Refusal),
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("http server: {0}")]
    Serve(std::io::Error),
    #[error("job queue: {0}")]
    Queue(#[from] crate::jobs::QueueError),
}

// Not `#[from]`: that would also make it the `source()`, and `{:#}` chains would repeat it.
impl From<octodb_policy::Refusal> for AdminError {
    fn from(e: octodb_policy::Refusal) -> Self {
        AdminError::Schema(e)
    }
}

impl AdminError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AdminError::Catalog(e) => e.kind(),
            AdminError::Config(_) => "config",
            AdminError::Schema(_) => "schema_refused",
            AdminError::Read { .. } => "read",
            AdminError::Serve(_) => "serve",
            AdminError::Queue(_) => "queue",
        }
    }
}
