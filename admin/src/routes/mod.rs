//! HTTP routes, one file each.

pub mod audit_list;
pub mod databases_create;
pub mod databases_drop;
pub mod databases_list;
pub mod healthz;
pub mod jobs_get;
pub mod keys_create;
pub mod readyz;
pub mod tenant_audit_list;
pub mod tenants_create;
pub mod tenants_delete;
pub mod tenants_get;
pub mod tenants_list;
pub mod tenants_resume;
pub mod tenants_suspend;
pub mod users_create;
pub mod users_delete;
pub mod users_rotate;
mod views;
