//! `POST /v1/keys` (operator): `{"scope": "operator"}` or `{"scope": "tenant", "tenant_id"}`
//! -> 201 `{"id", "scope", "tenant_id", "secret"}`. The secret is shown only here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::{KeyScope, NewAudit, OUTCOME_FAILURE, OUTCOME_SUCCESS};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, Caller};
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(tag = "scope", rename_all = "lowercase", deny_unknown_fields)]
pub enum CreateKey {
    Operator,
    Tenant { tenant_id: u64 },
}

pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_operator()?;
    let scope = match req {
        CreateKey::Operator => KeyScope::Operator,
        CreateKey::Tenant { tenant_id } => KeyScope::Tenant(tenant_id),
    };
    let created = state.catalog.create_api_key(scope).await;
    let target = created.as_ref().ok().map(|k| format!("key/{}", k.key.id));
    let audit = NewAudit {
        actor: caller.actor(),
        action: "key.create",
        tenant_id: scope.tenant_id(),
        target: target.as_deref(),
        outcome: if created.is_ok() {
            OUTCOME_SUCCESS
        } else {
            OUTCOME_FAILURE
        },
        request_id: Some(&caller.request_id),
        detail: None,
    };
    state.audit(&audit).await;
    let created = created?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": created.key.id,
            "scope": scope.name(),
            "tenant_id": scope.tenant_id(),
            "secret": created.secret,
        })),
    ))
}
