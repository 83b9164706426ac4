//! System variables that describe the backend host.
//!
//! Guards against MySQL telling a tenant where and how the shared server runs: paths
//! (`datadir`, `basedir`, `tmpdir`, `plugin_dir`, `secure_file_priv`, log and socket files),
//! host names, addresses and ports, replication and cluster settings, TLS key files. Reading
//! one with `SELECT @@x` (any scope) is refused; `SHOW VARIABLES` gets a `WHERE` filter that
//! leaves them out. A variable describes the host when its name contains one of
//! [`HOST_MARKERS`], so the refusal and the filter agree by construction.

use sqlparser::ast::{BinaryOperator, Expr, Ident, ShowStatementFilter, Value};

use crate::Refusal;

/// Substrings of variable names that describe the host (lower case; `_` is literal).
const HOST_MARKERS: &[&str] = &[
    "dir",
    "file",
    "path",
    "socket",
    "host",
    "address",
    "basename",
    "port",
    "log_bin",
    "log_error",
    "relay_log",
    "ssl_",
    "wsrep_",
    "server_id",
    "server_uid",
    "audit",
];

/// Whether the system variable `name` (without `@@` or scope) describes the host.
pub(crate) fn is_host_variable(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    HOST_MARKERS.iter().any(|m| lower.contains(m))
}

/// The variable named by an `@@x` / `@@scope.x` expression, if `expr` is one.
fn system_variable(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Identifier(i) => i.value.strip_prefix("@@"),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [scope, var] if scope.value.starts_with("@@") => Some(&var.value),
            [first, ..] => first.value.strip_prefix("@@"),
            [] => None,
        },
        _ => None,
    }
}

/// Refuses reading a host-describing system variable.
pub(crate) fn check_expr(expr: &Expr) -> Result<(), Refusal> {
    match system_variable(expr) {
        Some(name) if is_host_variable(name) => Err(Refusal::forbidden(format!(
            "the system variable @@{name} describes the backend host and is not available \
             through OctoDB"
        ))),
        _ => Ok(()),
    }
}

fn column() -> Expr {
    Expr::Identifier(Ident::new("Variable_name"))
}

fn like(negated: bool, pattern: String) -> Expr {
    Expr::Like {
        negated,
        any: false,
        expr: Box::new(column()),
        pattern: Box::new(Expr::value(Value::SingleQuotedString(pattern))),
        escape_char: None,
    }
}

fn and(left: Expr, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    }
}

/// The `WHERE` filter for `SHOW [SESSION] VARIABLES [LIKE 'p' | WHERE e]`: the client's filter
/// and-ed with `Variable_name NOT LIKE '%marker%'` for every host marker.
pub(crate) fn show_filter(filter: Option<ShowStatementFilter>) -> Result<Expr, Refusal> {
    let mut out = match filter {
        None => None,
        Some(ShowStatementFilter::Like(p)) => Some(like(false, p)),
        Some(ShowStatementFilter::Where(e)) => Some(Expr::Nested(Box::new(e))),
        Some(_) => return Err(Refusal::syntax("unsupported SHOW VARIABLES filter")),
    };
    for marker in HOST_MARKERS {
        let pattern = format!("%{}%", marker.replace('_', "\\_"));
        let exclude = like(true, pattern);
        out = Some(match out {
            None => exclude,
            Some(e) => and(e, exclude),
        });
    }
    out.ok_or_else(|| Refusal::syntax("empty filter"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_variables() {
        for v in [
            "datadir",
            "basedir",
            "hostname",
            "pid_file",
            "socket",
            "plugin_dir",
            "tmpdir",
            "secure_file_priv",
            "log_error",
            "general_log_file",
            "slow_query_log_file",
            "log_bin_basename",
            "relay_log_index",
            "innodb_data_home_dir",
            "port",
            "bind_address",
            "ssl_key",
            "wsrep_node_address",
            "report_host",
        ] {
            assert!(is_host_variable(v), "{v}");
        }
        for v in [
            "version",
            "sql_mode",
            "tx_isolation",
            "transaction_isolation",
            "lower_case_table_names",
            "max_allowed_packet",
            "autocommit",
            "time_zone",
            "system_time_zone",
            "character_set_client",
            "collation_connection",
            "wait_timeout",
            "version_comment",
            "auto_increment_increment",
        ] {
            assert!(!is_host_variable(v), "{v}");
        }
    }
}
