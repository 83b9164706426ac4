//! `GET /healthz`: the process is up (no dependencies checked).

use axum::Json;
use serde_json::{json, Value};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
