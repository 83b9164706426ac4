//! `POST /v1/templates/{id}/versions` (operator) `{"schema"}` -> 201 `{"template_id",
//! "version", "derived": [{"template_id", "version"}]}`.
//!
//! `schema` is the template's whole layer as CREATE TABLE statements. It is parsed, merged with
//! the parent chain (and into every descendant template's chain), and built in a scratch
//! workspace on the backend: invalid DDL is a 422 with the server's own message, a conflict
//! with a descendant template's definitions a 422 listing them. The new version extends the
//! parent's latest version; every descendant template gets a derived version on top of it (see
//! `octodb_catalog::templates`). Nothing is migrated here: rollouts and opt-ins do that.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::template_views;
use crate::extract::{ApiJson, Caller, IdPath};
use crate::problem::ApiError;
use crate::templates::validate_version;
use crate::AppState;

/// Bodies larger than this are refused (422): a layer is a schema, not a data load.
const MAX_SCHEMA_BYTES: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    pub schema: String,
}

pub async fn create_version(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<CreateVersion>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_operator()?;
    let template = state
        .catalog
        .template(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no template with id {id}")))?;
    if req.schema.len() > MAX_SCHEMA_BYTES {
        return Err(ApiError::unprocessable(format!(
            "schema: at most {MAX_SCHEMA_BYTES} bytes"
        )));
    }
    let result = async {
        validate_version(&state.catalog, &state.backend, &template, &req.schema).await?;
        Ok::<_, ApiError>(
            state
                .catalog
                .add_template_version(id, &req.schema, caller.actor())
                .await?,
        )
    }
    .await;
    let target = format!("template/{}", template.name);
    state
        .audit(&template_views::operator_audit(
            &caller,
            "template.version",
            &target,
            result.is_ok(),
        ))
        .await;
    let created = result?;
    let (version, derived) = match created.split_first() {
        Some(((_, v), rest)) => (*v, rest),
        None => return Err(ApiError::unprocessable("no version was created")),
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "template_id": id,
            "version": version,
            "derived": derived
                .iter()
                .map(|(t, v)| json!({ "template_id": t, "version": v }))
                .collect::<Vec<_>>(),
        })),
    ))
}
