//! The catalog's error type.

use crate::ConfigError;

/// Everything that can go wrong in the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A MySQL error from the MetaDB or a backend (connection, server error...).
    #[error("mysql: {0}")]
    Mysql(mysql_async::Error),

    /// A name that does not follow OctoDB's naming rules.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },

    /// A request that cannot be honoured as given (e.g. an empty password).
    #[error("invalid request: {0}")]
    Invalid(String),

    /// The request clashes with existing state (e.g. a tenant of that name that is a different
    /// tenant).
    #[error("conflict: {0}")]
    Conflict(String),

    /// A tenant, database or user that does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// Encryption or decryption failed (wrong key, tampered or malformed ciphertext).
    #[error("crypto: {0}")]
    Crypto(String),

    /// The catalog holds data this code cannot read (unknown status, bad verifier length...).
    #[error("corrupt catalog data: {0}")]
    Corrupt(String),

    /// Bad configuration (URL, key).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl CatalogError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CatalogError::Mysql(mysql_async::Error::Server(_)) => "mysql_server",
            CatalogError::Mysql(_) => "mysql",
            CatalogError::InvalidName { .. } => "invalid_name",
            CatalogError::Invalid(_) => "invalid",
            CatalogError::Conflict(_) => "conflict",
            CatalogError::NotFound(_) => "not_found",
            CatalogError::Crypto(_) => "crypto",
            CatalogError::Corrupt(_) => "corrupt",
            CatalogError::Config(_) => "config",
        }
    }

    /// Whether retrying the same call later may succeed (connection trouble, deadlocks,
    /// lock wait timeouts).
    pub fn is_retryable(&self) -> bool {
        match self {
            CatalogError::Mysql(mysql_async::Error::Io(_)) => true,
            CatalogError::Mysql(mysql_async::Error::Server(e)) => {
                // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
                matches!(e.code, 1205 | 1213)
            }
            _ => false,
        }
    }

    /// The MySQL server error code, if this is a server error.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            CatalogError::Mysql(mysql_async::Error::Server(e)) => Some(e.code),
            _ => None,
        }
    }
}

// Not `#[from]`: that would also make it the `source()`, and `{:#}` chains would repeat it.
impl From<mysql_async::Error> for CatalogError {
    fn from(e: mysql_async::Error) -> Self {
        CatalogError::Mysql(e)
    }
}

impl From<mysql_async::UrlError> for CatalogError {
    fn from(e: mysql_async::UrlError) -> Self {
        CatalogError::Mysql(mysql_async::Error::Url(e))
    }
}
