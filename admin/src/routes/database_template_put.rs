//! `PUT /v1/tenants/{id}/databases/{db}/template` (operator, or a key of that tenant)
//! `{"template", "channel": "auto"|"pinned", "overlay"?}` -> 200 the binding.
//!
//! Binds the database to a template (by name) with its own overlay (CREATE TABLE statements of
//! its own tables, columns and indexes; validated like a template version, on top of the
//! template's latest version). Nothing is migrated here: an `auto` database moves with the next
//! rollout, a `pinned` one when its tenant opts in (`POST .../template/opt-in`). Rebinding to
//! the same template keeps the version reached.

use axum::extract::State;
use axum::Json;
use octodb_catalog::{CatalogError, Channel, DatabaseName, TenantStatus};
use serde::Deserialize;
use serde_json::Value;

use super::template_views;
use super::tenant_database::resolve;
use crate::extract::{ApiJson, Caller, IdNamePath};
use crate::problem::ApiError;
use crate::templates::validate_overlay;
use crate::AppState;

/// Overlays larger than this are refused (422).
const MAX_OVERLAY_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindTemplate {
    /// The template's name.
    pub template: String,
    pub channel: String,
    #[serde(default)]
    pub overlay: String,
}

pub async fn put_database_template(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, db): IdNamePath<DatabaseName>,
    ApiJson(req): ApiJson<BindTemplate>,
) -> Result<Json<Value>, ApiError> {
    let allowed = [TenantStatus::Ready, TenantStatus::Suspended];
    resolve(&state, &caller, id, &db, &allowed).await?;
    let channel = Channel::parse(&req.channel)?;
    if req.overlay.len() > MAX_OVERLAY_BYTES {
        return Err(ApiError::unprocessable(format!(
            "overlay: at most {MAX_OVERLAY_BYTES} bytes"
        )));
    }
    let template = state
        .catalog
        .templates()
        .await?
        .into_iter()
        .find(|t| t.name == req.template)
        .ok_or_else(|| CatalogError::NotFound(format!("template {}", req.template)))?;
    let result = async {
        validate_overlay(&state.catalog, &state.backend, &template, &req.overlay).await?;
        Ok::<_, ApiError>(
            state
                .catalog
                .bind_database_template(id, &db, template.id, channel, &req.overlay)
                .await?,
        )
    }
    .await;
    let target = format!("database/{db}/template/{}", template.name);
    state
        .audit(&caller.audit("database.template", id, &target, result.is_ok()))
        .await;
    Ok(Json(template_views::binding(&result?)))
}
