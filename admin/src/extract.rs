//! Extractors whose rejections are problem documents: JSON bodies, query strings, path ids,
//! bearer keys; and the request id middleware.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use octodb_catalog::{
    generate_password, ApiKey, KeyScope, NewAudit, OUTCOME_FAILURE, OUTCOME_SUCCESS,
};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::AppState;

/// Header carrying the request id (taken from the client when sane, generated otherwise).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
const MAX_REQUEST_ID_LEN: usize = 64;

/// A JSON body; malformed JSON 400, wrong shape or invalid values 422, missing content type
/// 415, too large 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// A query string (bad values: 400).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// A numeric id from the path; anything else names no resource (404).
pub struct IdPath(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such resource"))?;
        raw.parse()
            .map(IdPath)
            .map_err(|_| ApiError::not_found(format!("no resource with id {raw:?}")))
    }
}

/// A numeric id and a name from the path (`/tenants/{id}/users/{username}`); the name is
/// validated as `T` (invalid: 404, it names nothing).
pub struct IdNamePath<T>(pub u64, pub T);

impl<T: std::str::FromStr, S: Send + Sync> FromRequestParts<S> for IdNamePath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((id, name)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such resource"))?;
        let id = id
            .parse()
            .map_err(|_| ApiError::not_found(format!("no resource with id {id:?}")))?;
        let name = name
            .parse()
            .map_err(|_| ApiError::not_found(format!("no resource named {name:?}")))?;
        Ok(IdNamePath(id, name))
    }
}

/// The request id, set by [`request_id`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: adopts or generates the request id, stores it for handlers, echoes it.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_REQUEST_ID_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| generate_password(20));
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

/// The caller: an authenticated API key (401 without one), and the request id.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKey,
    pub request_id: String,
}

impl Caller {
    /// 403 unless an operator key.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self.key.scope {
            KeyScope::Operator => Ok(()),
            KeyScope::Tenant(_) => Err(ApiError::forbidden("this needs an operator key")),
        }
    }

    /// 403 unless an operator key or a key of `tenant_id`.
    pub fn require_tenant(&self, tenant_id: u64) -> Result<(), ApiError> {
        match self.key.scope {
            KeyScope::Operator => Ok(()),
            KeyScope::Tenant(t) if t == tenant_id => Ok(()),
            KeyScope::Tenant(_) => Err(ApiError::forbidden(
                "this key may only act on its own tenant",
            )),
        }
    }

    /// The actor recorded in the audit log.
    pub fn actor(&self) -> Option<u64> {
        Some(self.key.id)
    }

    /// An audit row for this caller's `action` on `tenant_id`'s `target`.
    pub fn audit<'a>(
        &'a self,
        action: &'a str,
        tenant_id: u64,
        target: &'a str,
        ok: bool,
    ) -> NewAudit<'a> {
        NewAudit {
            actor: self.actor(),
            action,
            tenant_id: Some(tenant_id),
            target: Some(target),
            outcome: if ok { OUTCOME_SUCCESS } else { OUTCOME_FAILURE },
            request_id: Some(&self.request_id),
            detail: None,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("an API key is required (Authorization: Bearer)")
            })?;
        let key = state
            .catalog
            .authenticate_key(secret)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
        Ok(Caller { key, request_id })
    }
}
