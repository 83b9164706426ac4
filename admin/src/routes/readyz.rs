//! `GET /readyz`: ready when the catalog answers `SELECT 1` (within a timeout); otherwise 503
//! with an RFC 9457 problem body.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::problem::ApiError;
use crate::AppState;

const CATALOG_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn readyz(State(state): State<AppState>) -> Response {
    let detail = match tokio::time::timeout(CATALOG_TIMEOUT, state.catalog.ping()).await {
        Ok(Ok(())) => return Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, kind = e.kind(), "readiness: catalog check failed");
            format!("the catalog did not answer: {}", e.kind())
        }
        Err(_) => format!("the catalog did not answer within {CATALOG_TIMEOUT:?}"),
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response()
}
