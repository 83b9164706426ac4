//! `POST /v1/templates/{id}/versions/{v}/plan` (operator) `{"allow"?: [...]}` -> 200 a dry run:
//! for every database that would follow version `v` (channel `auto` on this template or any
//! descendant template), its plan statements, lint refusals (under `allow`) and warnings, and
//! merge conflicts with its overlay. Nothing is applied. See `templates::plan_databases`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::template_views;
use crate::extract::{ApiJson, Caller, IdNamePath};
use crate::problem::ApiError;
use crate::templates::plan_databases;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// Risky changes to accept: kinds (`drop_column`) or keys (`drop_column:items.note`).
    #[serde(default)]
    pub allow: Vec<String>,
}

pub async fn plan_version(
    State(state): State<AppState>,
    caller: Caller,
    // `{id}` and `{v}` are numbers, or the path names nothing (404).
    IdNamePath(id, v): IdNamePath<u32>,
    ApiJson(req): ApiJson<PlanRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator()?;
    let allow = template_views::allow(&req.allow)?;
    state
        .catalog
        .template_version(id, v)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("template {id} has no version {v}")))?;
    let dry_run = plan_databases(&state.catalog, &state.backend, id, v, &allow).await?;
    let mut out = serde_json::to_value(&dry_run)
        .map_err(|e| ApiError::from(octodb_catalog::CatalogError::Corrupt(e.to_string())))?;
    out["template_id"] = id.into();
    out["version"] = v.into();
    Ok(Json(out))
}
