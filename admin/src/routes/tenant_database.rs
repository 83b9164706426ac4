//! Resolving `/v1/tenants/{id}/databases/{db}` for the routes that read a database's contents
//! (schema, query): the key's scope first (403, before anything is looked up), then the tenant
//! (404), its state (409), and the database (404).

use axum::http::StatusCode;
use octodb_catalog::{DatabaseName, PhysicalName, Tenant, TenantStatus};

use crate::extract::Caller;
use crate::problem::ApiError;
use crate::AppState;

/// Tenant `id`, if `caller` may act on it and its status is one of `allowed`, with the physical
/// name of its logical database `db`.
pub(crate) async fn resolve(
    state: &AppState,
    caller: &Caller,
    id: u64,
    db: &DatabaseName,
    allowed: &[TenantStatus],
) -> Result<(Tenant, PhysicalName), ApiError> {
    caller.require_tenant(id)?;
    let tenant = state
        .catalog
        .tenant_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant with id {id}")))?;
    if !allowed.contains(&tenant.status) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "tenant {} is {}: its databases can be read only when it is {}",
                tenant.name,
                tenant.status,
                allowed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ));
    }
    let physical = tenant
        .databases
        .iter()
        .find(|(logical, _)| logical == db)
        .map(|(_, physical)| physical.clone())
        .ok_or_else(|| {
            ApiError::not_found(format!("tenant {} has no database {db}", tenant.name))
        })?;
    Ok((tenant, physical))
}
