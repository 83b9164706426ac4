//! `POST /v1/templates` (operator) `{"name", "parent"?}` -> 201 the template (no version yet).
//! `parent` names an existing template (404 otherwise); 409 if the name is taken, 422 if it is
//! invalid.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::CatalogError;
use serde::Deserialize;
use serde_json::Value;

use super::template_views;
use crate::extract::{ApiJson, Caller};
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    pub name: String,
    /// The parent template's name.
    #[serde(default)]
    pub parent: Option<String>,
}

pub async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTemplate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_operator()?;
    let parent_id = match &req.parent {
        None => None,
        Some(name) => Some(
            state
                .catalog
                .templates()
                .await?
                .into_iter()
                .find(|t| &t.name == name)
                .map(|t| t.id)
                .ok_or_else(|| CatalogError::NotFound(format!("template {name}")))?,
        ),
    };
    let created = state.catalog.create_template(&req.name, parent_id).await;
    let target = format!("template/{}", req.name);
    state
        .audit(&template_views::operator_audit(
            &caller,
            "template.create",
            &target,
            created.is_ok(),
        ))
        .await;
    let t = created?;
    Ok((StatusCode::CREATED, Json(template_views::template(&t))))
}
