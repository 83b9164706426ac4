//! Running one policy-approved statement for the query endpoint: on a connection of its own,
//! logged in as the tenant's own backend user (least privilege: even a policy bug cannot reach
//! another tenant), as a server-side prepared statement whose parameters the server binds.
//!
//! Bounds: at most [`MAX_ROWS`] rows and about [`MAX_RESULT_BYTES`] of cell data are returned
//! (beyond that the result is cut and `truncated` is true); the server stops the statement after
//! [`STATEMENT_TIMEOUT`] (MariaDB's `max_statement_time`), and the whole call gives up a little
//! later whatever the server does.

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, Row, Value};
use octodb_catalog::TenantBackend;
use serde_json::{json, Value as Json};

use super::query_values::{self, NameMap};
use crate::problem::{ApiError, PROBLEM_CONTENT_TYPE};

/// Most rows one call returns.
pub const MAX_ROWS: usize = 10_000;
/// Roughly the most cell data (bytes as read from the backend) one call returns.
pub const MAX_RESULT_BYTES: usize = 8 << 20;
/// How long the server lets the statement run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time for connecting and reading before the call gives up on the backend.
const CALL_GRACE: Duration = Duration::from_secs(10);
/// How long closing a connection may take (it reads what remains of a cut result).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// ER_WRONG_ARGUMENTS, what MySQL says when the parameters do not fit the statement.
const ER_WRONG_ARGUMENTS: u16 = 1210;

/// Why a statement did not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A MySQL error for the caller (policy refusal, backend error with logical names): 422 with
    /// its code.
    #[error("{code} ({sqlstate}): {message}")]
    Mysql {
        code: u16,
        sqlstate: String,
        message: String,
    },
    /// The tenant's backend cannot be reached or was lost: 503.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// Any other problem (not found, forbidden, bad parameter...).
    #[error("{}", .0.detail)]
    Api(ApiError),
}

impl QueryError {
    pub fn mysql(code: u16, sqlstate: &str, message: impl Into<String>) -> Self {
        QueryError::Mysql {
            code,
            sqlstate: sqlstate.to_string(),
            message: message.into(),
        }
    }

    /// A short, bounded label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Mysql { .. } => "mysql",
            QueryError::Unavailable(_) => "unavailable",
            QueryError::Api(_) => "api",
        }
    }

    /// A backend failure, with the tenant's physical names replaced by logical ones.
    fn backend(e: mysql_async::Error, names: &NameMap) -> Self {
        use mysql_async::DriverError;
        match e {
            mysql_async::Error::Server(se) => {
                QueryError::mysql(se.code, &se.state, names.logical(&se.message))
            }
            mysql_async::Error::Driver(DriverError::StmtParamsMismatch { required, supplied }) => {
                QueryError::mysql(
                    ER_WRONG_ARGUMENTS,
                    "HY000",
                    format!(
                    "the statement has {required} placeholders but {supplied} params were given"
                ),
                )
            }
            mysql_async::Error::Driver(
                d @ (DriverError::MixedParams
                | DriverError::Params(_)
                | DriverError::StmtParamsNumberExceedsLimit { .. }),
            ) => QueryError::mysql(ER_WRONG_ARGUMENTS, "HY000", d.to_string()),
            other => QueryError::Unavailable(other.to_string()),
        }
    }
}

impl From<ApiError> for QueryError {
    fn from(e: ApiError) -> Self {
        QueryError::Api(e)
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        match self {
            QueryError::Mysql {
                code,
                sqlstate,
                message,
            } => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                let body = json!({
                    "type": "about:blank",
                    "title": status.canonical_reason().unwrap_or("Error"),
                    "status": status.as_u16(),
                    "detail": message,
                    "mysql_code": code,
                    "sqlstate": sqlstate,
                });
                (
                    status,
                    [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
                    body.to_string(),
                )
                    .into_response()
            }
            QueryError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "query endpoint: tenant backend unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the tenant's backend is unavailable; retry later",
                )
                .into_response()
            }
            QueryError::Api(e) => e.into_response(),
        }
    }
}

/// A statement's result, ready for JSON.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `{"name", "type"}` per column; empty for statements without a result set.
    pub columns: Vec<Json>,
    pub rows: Vec<Json>,
    pub affected_rows: u64,
    pub last_insert_id: Option<u64>,
    /// `{"level", "code", "message"}` per warning.
    pub warnings: Vec<Json>,
    /// The result had more than [`MAX_ROWS`] rows or [`MAX_RESULT_BYTES`]: only the first are
    /// here (and warnings, which come after the rows, are not read).
    pub truncated: bool,
}

/// Runs `sql` (already approved and rewritten by the policy) with `params` as `backend`'s
/// user. `remap_values`: rename physical database names in text cells too.
pub async fn run(
    backend: &TenantBackend,
    sql: &str,
    params: Vec<Value>,
    names: &NameMap,
    remap_values: bool,
) -> Result<Outcome, QueryError> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(backend.host.as_str())
        .tcp_port(backend.port)
        .user(Some(backend.user.as_str()))
        .pass(Some(backend.password.as_str()))
        .db_name(None::<String>)
        .prefer_socket(false);
    let call = async {
        // Whatever the reason (even a refused login), the caller cannot fix it: 503.
        let mut conn = Conn::new(opts)
            .await
            .map_err(|e| QueryError::Unavailable(e.to_string()))?;
        limit_statement_time(&mut conn).await;
        let outcome = execute(&mut conn, sql, params, names, remap_values).await;
        // A cut result is still streaming: closing reads the rest, so it may not take long.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.disconnect()).await;
        outcome
    };
    match tokio::time::timeout(STATEMENT_TIMEOUT + CALL_GRACE, call).await {
        Ok(outcome) => outcome,
        Err(_) => Err(QueryError::Unavailable(format!(
            "no answer within {:?}",
            STATEMENT_TIMEOUT + CALL_GRACE
        ))),
    }
}

/// Asks the server to stop the statement after [`STATEMENT_TIMEOUT`] (MariaDB; MySQL has no
/// such session variable and the call's own timeout applies).
async fn limit_statement_time(conn: &mut Conn) {
    let set = format!(
        "SET SESSION max_statement_time = {}",
        STATEMENT_TIMEOUT.as_secs()
    );
    if let Err(e) = conn.query_drop(set).await {
        tracing::debug!(error = %e, "max_statement_time not set");
    }
}

async fn execute(
    conn: &mut Conn,
    sql: &str,
    params: Vec<Value>,
    names: &NameMap,
    remap_values: bool,
) -> Result<Outcome, QueryError> {
    let params = if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params)
    };
    let fail = |e| QueryError::backend(e, names);
    let mut outcome = Outcome::default();
    let mut result = conn.exec_iter(sql, params).await.map_err(fail)?;
    let columns = result.columns().unwrap_or_default();
    outcome.columns = columns
        .iter()
        .map(|c| {
            json!({
                "name": names.logical(&c.name_str()),
                "type": query_values::type_name(c),
            })
        })
        .collect();
    let remap = remap_values.then_some(names);
    let mut bytes = 0usize;
    while let Some(row) = result.next().await.map_err(fail)? {
        if outcome.rows.len() >= MAX_ROWS || bytes > MAX_RESULT_BYTES {
            outcome.truncated = true;
            break;
        }
        outcome
            .rows
            .push(row_json(row, &columns, remap, &mut bytes));
    }
    if outcome.truncated {
        return Ok(outcome);
    }
    outcome.affected_rows = result.affected_rows();
    outcome.last_insert_id = result.last_insert_id();
    let warnings = result.warnings();
    drop(result);
    if warnings > 0 {
        outcome.warnings = read_warnings(conn, names).await.map_err(fail)?;
    }
    Ok(outcome)
}

fn row_json(
    row: Row,
    columns: &[mysql_async::Column],
    names: Option<&NameMap>,
    bytes: &mut usize,
) -> Json {
    let cells = row
        .unwrap_raw()
        .into_iter()
        .zip(columns)
        .map(|(v, col)| {
            let v = v.unwrap_or(Value::NULL);
            *bytes += match &v {
                Value::Bytes(b) => b.len(),
                _ => 8,
            };
            query_values::cell(col, v, names)
        })
        .collect();
    Json::Array(cells)
}

/// The statement's warnings (SHOW WARNINGS, the admin's own statement: nothing of the caller's
/// is in it), with logical names.
async fn read_warnings(conn: &mut Conn, names: &NameMap) -> Result<Vec<Json>, mysql_async::Error> {
    let rows: Vec<(String, u32, String)> = conn.query("SHOW WARNINGS").await?;
    Ok(rows
        .into_iter()
        .map(|(level, code, message)| {
            json!({ "level": level, "code": code, "message": names.logical(&message) })
        })
        .collect())
}
