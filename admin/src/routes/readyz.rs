//! `GET /readyz`: ready when the catalog answers `SELECT 1` and, when jobs go through Redis, Redis
//! answers `PING` (each within a timeout); otherwise 503 with an RFC 9457 problem body.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::problem::ApiError;
use crate::AppState;

const CATALOG_TIMEOUT: Duration = Duration::from_secs(2);
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn readyz(State(state): State<AppState>) -> Response {
    let detail = match tokio::time::timeout(CATALOG_TIMEOUT, state.catalog.ping()).await {
        Ok(Ok(())) => match redis_check(&state).await {
            None => return Json(json!({ "status": "ready" })).into_response(),
            Some(detail) => detail,
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, kind = e.kind(), "readiness: catalog check failed");
            format!("the catalog did not answer: {}", e.kind())
        }
        Err(_) => format!("the catalog did not answer within {CATALOG_TIMEOUT:?}"),
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response()
}

/// Why the job queue's Redis is not ready, if it is configured and not ready.
async fn redis_check(state: &AppState) -> Option<String> {
    match tokio::time::timeout(REDIS_TIMEOUT, state.queue.ping()).await {
        Ok(None | Some(Ok(()))) => None,
        Ok(Some(Err(e))) => {
            tracing::warn!(error = %e, "readiness: redis check failed");
            Some("the job queue's Redis did not answer".to_string())
        }
        Err(_) => Some(format!(
            "the job queue's Redis did not answer within {REDIS_TIMEOUT:?}"
        )),
    }
}
