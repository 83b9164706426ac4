//! RFC 9457 problem details: the one error body of every handler
//! (`application/problem+json`: `type`, `title`, `status`, `detail`).
//!
//! Client-facing details never carry internals: 5xx bodies say what is wrong in general terms and
//! the cause goes to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use octodb_catalog::CatalogError;
use serde_json::json;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// MetaDB server errors that mean "cannot serve right now, retry" rather than a bug: too many
/// connections (1040, 1203), shutting down (1053), connection killed (1927, MariaDB), lock wait
/// timeout and deadlock (1205, 1213). A restart or failover of the MetaDB shows these before
/// connections start failing outright.
const UNAVAILABLE_SERVER_CODES: &[u16] = &[1040, 1053, 1203, 1205, 1213, 1927];

/// An error answered as a problem document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match &e {
            CatalogError::InvalidName { .. } | CatalogError::Invalid(_) => {
                Self::unprocessable(e.to_string())
            }
            CatalogError::Conflict(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            CatalogError::NotFound(_) => Self::not_found(e.to_string()),
            // Connection trouble (refused, reset, pool closed, timeouts) or a server that cannot
            // serve right now: the MetaDB is unavailable.
            CatalogError::Mysql(m)
                if !matches!(m, mysql_async::Error::Server(_))
                    || e.server_code()
                        .is_some_and(|c| UNAVAILABLE_SERVER_CODES.contains(&c)) =>
            {
                tracing::warn!(error = %e, kind = e.kind(), "catalog unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the catalog is unavailable; retry later",
                )
            }
            _ => {
                tracing::error!(error = %e, kind = e.kind(), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error ({})", e.kind()),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}

/// Known paths with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this method is not allowed on this resource",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: u16) -> CatalogError {
        CatalogError::Mysql(mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: "secret internals".to_string(),
            state: "HY000".to_string(),
        }))
    }

    #[test]
    fn catalog_errors_map_to_statuses() {
        let cases = [
            (CatalogError::Conflict("x".into()), 409),
            (CatalogError::NotFound("x".into()), 404),
            (CatalogError::Invalid("x".into()), 422),
            (octodb_catalog::TenantName::parse("Bad").unwrap_err(), 422),
            (CatalogError::Corrupt("secret internals".into()), 500),
            (
                CatalogError::Mysql(mysql_async::Error::Driver(
                    mysql_async::DriverError::PoolDisconnected,
                )),
                503,
            ),
            (server_error(1040), 503),
            (server_error(1053), 503),
            (server_error(1213), 503),
            (server_error(1146), 500),
        ];
        for (e, status) in cases {
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), status, "{api:?}");
            assert!(!api.detail.contains("secret internals"));
        }
    }
}
