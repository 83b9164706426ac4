//! OctoDB's catalog: the shared vocabulary (tenants, logical databases, users) and the MetaDB
//! store (MySQL schema `octodb_meta`) that proxy and admin both use.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod audit;
pub mod config;
mod crypto;
mod database_templates;
mod databases;
mod deletion;
mod digests;
mod drift;
mod error;
mod follow;
mod introspect;
mod jobs;
mod keys;
mod limits;
mod migrations;
mod names;
mod onboard;
mod pool;
mod provision;
mod rollouts;
mod sql;
mod store;
mod templates;
mod tenant_backend;
mod timestamp;
mod users;
mod verifier;
mod webhooks;

pub use audit::{AuditEntry, AuditFilter, NewAudit, OUTCOME_FAILURE, OUTCOME_SUCCESS};
pub use config::{load_config, load_config_from, CatalogConfig, ConfigError};
pub use crypto::SecretKey;
pub use databases::DatabaseChange;
pub use digests::{DigestDelta, DigestSummary, MAX_DIGEST_TEXT_CHARS};
pub use drift::{DriftRecord, NewDrift, DRIFT_STATES};
pub use error::CatalogError;
pub use follow::{CatalogNotice, TenantState, NOTICE_CHANNEL_PREFIX};
pub use introspect::{
    describe_database, ColumnInfo, DatabaseSchema, ForeignKeyInfo, IndexColumn, IndexInfo,
    TableInfo,
};
pub use jobs::{Job, JobStatus, JobStep, NewJob};
pub use keys::{ApiKey, KeyScope, NewApiKey};
pub use limits::{LimitChange, LimitSettings};
pub use names::{DatabaseName, PhysicalName, TenantName, UserName};
pub use onboard::TenantSummary;
pub use pool::CHECKOUT_TIMEOUT;
pub use provision::generate_password;
pub use rollouts::{NewRollout, Rollout, RolloutDatabase};
pub use store::{
    BackendAdmin, Catalog, Login, NewTenant, Tenant, TenantStatus, DEFAULT_CATALOG_DB,
};
pub use templates::{
    validate_template_name, Channel, DatabaseTemplate, Template, TemplateVersion, MIGRATION_STATES,
};
pub use tenant_backend::TenantBackend;
pub use timestamp::{TimestampError, UtcTimestamp};
pub use users::MAX_PASSWORD_LEN;
pub use verifier::{native_password_verifier, verify_native_password};
pub use webhooks::{DeliveryOutcome, DeliveryStatus, Webhook, WebhookDelivery};
