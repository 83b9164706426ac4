//! `GET /openapi.json` (no key): the OpenAPI 3.1 document of this API, `admin/openapi.json`
//! beside the code. `tests/v1_openapi.rs` keeps it true to [`super::table`] both ways.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
