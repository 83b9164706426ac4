//! `PUT /v1/tenants/{id}/limits` -> 200 with the limits now stored: replaces all of the
//! tenant's limits (a missing or `null` field is the proxy's default). Proxies apply the change
//! within about a second, to open sessions too.
//!
//! An operator key may set anything. A key of the tenant itself may only *lower* its own
//! limits (each field unchanged, or set and made smaller; for `statement_timeout_ms`, 0 is "no
//! timeout", the highest; for `result_cache_ttl_ms`, 0 turns the cache off, the lowest), so an
//! application can protect itself (e.g. tighten its statement timeout) but never take more than
//! the operator gave it: anything else is 403. The check runs under the tenant's row lock, so
//! concurrent changes cannot add up to a raise. Values out of range are 422. Every attempt is audited (`tenant.limits.set`).

use axum::extract::State;
use axum::Json;
use octodb_catalog::{KeyScope, LimitChange, LimitSettings};

use crate::extract::{ApiJson, Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

/// Short audit detail: the values asked for (`-` for the default).
fn detail(l: &LimitSettings) -> String {
    let v = |x: Option<u32>| x.map_or_else(|| "-".to_string(), |n| n.to_string());
    format!(
        "clients={} backends={} rate={} burst={} timeout_ms={} cache_ttl_ms={} cache_bytes={}",
        v(l.max_client_connections),
        v(l.max_backend_connections),
        v(l.statements_per_second),
        v(l.statement_burst),
        v(l.statement_timeout_ms),
        v(l.result_cache_ttl_ms),
        v(l.result_cache_max_bytes)
    )
}

pub async fn put_limits(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<LimitSettings>,
) -> Result<Json<LimitSettings>, ApiError> {
    caller.require_tenant(id)?;
    let lower_only = matches!(caller.key.scope, KeyScope::Tenant(_));
    let result = state.catalog.set_tenant_limits(id, &body, lower_only).await;
    let ok = matches!(result, Ok(LimitChange::Applied { .. }));
    let detail = detail(&body);
    let mut row = caller.audit("tenant.limits.set", id, "limits", ok);
    row.detail = Some(&detail);
    state.audit(&row).await;
    match result? {
        LimitChange::Applied { .. } => Ok(Json(body)),
        LimitChange::NotLower { field } => Err(ApiError::forbidden(format!(
            "a tenant key may only lower its own limits: {field} would not be lower (an \
             operator key can raise it)"
        ))),
    }
}
