//! `POST /v1/tenants/{id}/users` (operator, or a key of that tenant) `{"username", "password"?}`
//! -> 201 `{"username", "password"}`. Without a password one is generated, and shown only here;
//! only its verifier is stored. 409 if the user name is taken (by any tenant) or the tenant is
//! being deleted, 422 for an invalid name or password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::{generate_password, UserName};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

/// Length of generated proxy user passwords.
pub const GENERATED_PASSWORD_LEN: usize = 24;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: UserName,
    pub password: Option<String>,
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_tenant(id)?;
    let password = req
        .password
        .unwrap_or_else(|| generate_password(GENERATED_PASSWORD_LEN));
    let created = state
        .catalog
        .create_user(id, &req.username, &password)
        .await;
    let target = format!("user/{}", req.username);
    state
        .audit(&caller.audit("user.create", id, &target, created.is_ok()))
        .await;
    created?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "username": req.username, "password": password })),
    ))
}
