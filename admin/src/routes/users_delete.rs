//! `DELETE /v1/tenants/{id}/users/{username}` (operator, or a key of that tenant) -> 204.

use axum::extract::State;
use axum::http::StatusCode;
use octodb_catalog::UserName;

use crate::extract::{Caller, IdNamePath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, username): IdNamePath<UserName>,
) -> Result<StatusCode, ApiError> {
    caller.require_tenant(id)?;
    let deleted = state.catalog.delete_user(id, &username).await;
    let target = format!("user/{username}");
    state
        .audit(&caller.audit("user.delete", id, &target, deleted.is_ok()))
        .await;
    deleted?;
    Ok(StatusCode::NO_CONTENT)
}
