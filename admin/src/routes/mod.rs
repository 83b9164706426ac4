//! HTTP routes, one file each.

pub mod audit_list;
pub mod healthz;
pub mod jobs_get;
pub mod keys_create;
pub mod readyz;
pub mod tenant_audit_list;
pub mod tenants_create;
pub mod tenants_get;
pub mod tenants_list;
mod views;
