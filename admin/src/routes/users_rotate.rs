//! `POST /v1/tenants/{id}/users/{username}/rotate` (operator, or a key of that tenant) -> 200
//! `{"username", "password"}`: a new generated password, shown only here. Proxies refuse the old
//! one once they follow the catalog version this bumps.

use axum::extract::State;
use axum::Json;
use octodb_catalog::{generate_password, UserName};
use serde_json::{json, Value};

use super::users_create::GENERATED_PASSWORD_LEN;
use crate::extract::{Caller, IdNamePath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn rotate_user(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, username): IdNamePath<UserName>,
) -> Result<Json<Value>, ApiError> {
    caller.require_tenant(id)?;
    let password = generate_password(GENERATED_PASSWORD_LEN);
    let rotated = state
        .catalog
        .set_user_password(id, &username, &password)
        .await;
    let target = format!("user/{username}");
    state
        .audit(&caller.audit("user.rotate", id, &target, rotated.is_ok()))
        .await;
    rotated?;
    Ok(Json(json!({ "username": username, "password": password })))
}
