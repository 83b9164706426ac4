//! `POST /v1/tenants/{id}/databases/{db}/query` (operator, or a key of that tenant)
//! `{"sql", "params": [...]}` -> `{"columns": [{"name", "type"}], "rows": [[...]],
//! "affected_rows", "last_insert_id", "warnings", "truncated"}`.
//!
//! The statement goes through the same policy as the proxy's prepared statements
//! (`octodb_policy::check(sql, ctx, prepared = true)`, the path's database as the current one):
//! a refusal is a 422 problem carrying the MySQL error (`mysql_code`, `sqlstate`). What the
//! policy approved and rewrote runs as a server-side prepared statement, the params bound by the
//! server, on a connection of the tenant's own backend user (`query_exec`). Backend errors are
//! 422 problems too, with their MySQL code and logical names.
//!
//! One statement per call, on its own connection: what only makes sense in a session is refused
//! with 422 and `mysql_code` 1295 (as the proxy refuses it in a prepared statement): USE and SHOW
//! DATABASES (answered by the proxy itself), transactions, SET, SHOW WARNINGS. Cell encodings are
//! in `query_values`, the bounds (rows, bytes, time: past them `truncated` is true) in
//! `query_exec`. 409 unless the tenant is ready. Every call past the scope check is audited as
//! `query.run` on `database/{db}` (never the SQL or its params).

use axum::extract::State;
use axum::Json;
use octodb_catalog::{DatabaseName, TenantStatus};
use octodb_policy::{Decision, Mapping, SessionContext, StatementKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::query_exec::{self, QueryError};
use super::query_values::{self, NameMap};
use super::tenant_database::resolve;
use crate::extract::{ApiJson, Caller, IdNamePath};
use crate::problem::ApiError;
use crate::AppState;

const ACTION: &str = "query.run";
/// The user name the policy sees (what `USER()` and `CURRENT_USER()` answer, `'octodb_api@%'`):
/// API calls have no proxy user.
const API_USER: &str = "octodb_api";
/// ER_UNSUPPORTED_PS.
const ER_UNSUPPORTED_PS: u16 = 1295;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// One statement; `?` placeholders take `params` in order.
    pub sql: String,
    #[serde(default)]
    pub params: Vec<Value>,
}

pub async fn run_query(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, db): IdNamePath<DatabaseName>,
    ApiJson(req): ApiJson<QueryRequest>,
) -> Result<Json<Value>, QueryError> {
    caller.require_tenant(id)?;
    let outcome = run(&state, &caller, id, &db, req).await;
    let target = format!("database/{db}");
    state
        .audit(&caller.audit(ACTION, id, &target, outcome.is_ok()))
        .await;
    if let Err(e) = &outcome {
        tracing::debug!(tenant_id = id, kind = e.kind(), "query refused or failed");
    }
    Ok(Json(outcome?))
}

async fn run(
    state: &AppState,
    caller: &Caller,
    id: u64,
    db: &DatabaseName,
    req: QueryRequest,
) -> Result<Value, QueryError> {
    let (tenant, _) = resolve(state, caller, id, db, &[TenantStatus::Ready]).await?;
    let params = req
        .params
        .iter()
        .enumerate()
        .map(|(i, v)| query_values::param(i, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::unprocessable)?;

    let mapping = Mapping {
        databases: tenant
            .databases
            .iter()
            .map(|(l, p)| (l.to_string(), p.to_string()))
            .collect(),
        version: tenant.mapping_version,
    };
    let ctx = SessionContext {
        mapping: &mapping,
        current_db: Some(db.as_str()),
        user: API_USER,
    };
    let forward = match octodb_policy::check(&req.sql, &ctx, true) {
        Err(r) => return Err(QueryError::mysql(r.code, r.sqlstate, r.message)),
        Ok(Decision::Local(_)) => {
            return Err(unsupported(
                "USE and SHOW DATABASES are answered by the proxy in a session; this endpoint \
                 runs one statement against the database in its path",
            ))
        }
        Ok(Decision::Forward(f)) if session_only(&f.kind) => {
            return Err(unsupported(
                "transactions, SET and SHOW WARNINGS need a session; this endpoint runs each \
                 statement alone on its own connection",
            ))
        }
        Ok(Decision::Forward(f)) => f,
    };

    let backend = state
        .catalog
        .tenant_backend(id)
        .await
        .map_err(ApiError::from)?;
    let backend = backend.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("tenant {} has no backend account yet", tenant.name),
        )
    })?;
    let names = NameMap::new(
        tenant
            .databases
            .iter()
            .map(|(l, p)| (p.as_str(), l.as_str())),
    );
    let out = query_exec::run(&backend, &forward.sql, params, &names, forward.remap_names).await?;
    Ok(json!({
        "columns": out.columns,
        "rows": out.rows,
        "affected_rows": out.affected_rows,
        "last_insert_id": out.last_insert_id,
        "warnings": out.warnings,
        "truncated": out.truncated,
    }))
}

/// Statements whose effect lives in a session (or, like SHOW WARNINGS, read the previous one).
fn session_only(kind: &StatementKind) -> bool {
    !matches!(
        kind,
        StatementKind::Select
            | StatementKind::Insert
            | StatementKind::Update
            | StatementKind::Delete
            | StatementKind::Other
    )
}

fn unsupported(why: &str) -> QueryError {
    QueryError::mysql(
        ER_UNSUPPORTED_PS,
        "HY000",
        format!("This command is not supported by the query endpoint: {why}"),
    )
}
