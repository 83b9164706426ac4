//! The proxy's metric names (documented constants) and the helpers that record them. Labels
//! are bounded: command bytes, statement kinds and error codes, never tenants or SQL.

use octodb_policy::StatementKind;

/// Client connections accepted.
pub const CONNECTIONS_TOTAL: &str = "octodb_proxy_connections_total";
/// Client connections currently open.
pub const CONNECTIONS_OPEN: &str = "octodb_proxy_connections_open";
/// Failed authentications, by `reason`: `unknown_user`, `bad_password`, `tenant_not_ready`,
/// `foreign_database` (a database not the tenant's asked for at login), `throttled` (refused
/// without checking the password after too many failures, see `crate::limits`).
pub const AUTH_FAILURES_TOTAL: &str = "octodb_proxy_auth_failures_total";
/// Commands received, by command byte name.
pub const COMMANDS_TOTAL: &str = "octodb_proxy_commands_total";
/// Statements forwarded, by kind.
pub const STATEMENTS_TOTAL: &str = "octodb_proxy_statements_total";
/// Statements or connections refused by the proxy, by MySQL error code.
pub const REFUSALS_TOTAL: &str = "octodb_proxy_refusals_total";
/// Backend checkouts that failed or connections lost.
pub const BACKEND_ERRORS_TOTAL: &str = "octodb_proxy_backend_errors_total";
/// Audit entries written for proxy events, by `action` (`proxy.auth_failed`, `proxy.refused`,
/// including the entries that report suppressed events).
pub const AUDIT_WRITTEN_TOTAL: &str = "octodb_proxy_audit_written_total";
/// Proxy events not written to the audit log because their key was over its sampling limit,
/// by `action` (they are still counted in their own metric, and reported in a summary entry).
pub const AUDIT_SUPPRESSED_TOTAL: &str = "octodb_proxy_audit_suppressed_total";
/// Audit entries lost, by `reason`: `queue_full` (the writer fell behind), `write_failed`
/// (the catalog refused or was unreachable) or `stopped` (recorded after the writer ended).
pub const AUDIT_DROPPED_TOTAL: &str = "octodb_proxy_audit_dropped_total";
/// Sessions holding on to a backend connection between statements, by `reason`:
/// `transaction`, `user_variables`, `found_rows` (after SQL_CALC_FOUND_ROWS, until the next
/// statement), `warnings` (until the next statement, for SHOW WARNINGS), `session_state` (a SET
/// that could not be recorded for replay), `multiplexing_off`. A session pinned for two
/// reasons counts under both.
pub const PINNED_SESSIONS: &str = "octodb_proxy_pinned_sessions";
/// Backend connection checkouts, by `outcome`: `idle` (a pooled connection), `new` (opened),
/// `timeout` (the tenant's pool stayed full), `error` (could not connect).
pub const BACKEND_CHECKOUTS_TOTAL: &str = "octodb_proxy_backend_checkouts_total";
/// Time spent waiting for a backend connection, in seconds.
pub const BACKEND_CHECKOUT_SECONDS: &str = "octodb_proxy_backend_checkout_seconds";
/// Session-state statements replayed on a borrowed backend connection (SET of variables,
/// character set or autocommit that differed from what the connection had).
pub const STATE_REPLAYS_TOTAL: &str = "octodb_proxy_state_replays_total";
/// Catalog change notices heard on Redis.
pub const CATALOG_NOTICES_TOTAL: &str = "octodb_proxy_catalog_notices_total";
/// Catalog reads triggered by a notice (the rest are timer polls).
pub const CATALOG_NOTICE_READS_TOTAL: &str = "octodb_proxy_catalog_notice_reads_total";
/// 1 while subscribed to catalog notices on Redis, 0 while following by polling only.
pub const CATALOG_SUBSCRIBED: &str = "octodb_proxy_catalog_subscribed";
/// Logins and statements refused by a per-tenant limit (see `crate::limits`), by `limit`:
/// `client_connections` (1040), `statements_per_second` (1226) or `auth_failures` (1045 after
/// too many failed logins, refused without checking the password).
pub const LIMIT_REFUSALS_TOTAL: &str = "octodb_proxy_limit_refusals_total";
/// Statements that found their tenant's token bucket empty and waited (then ran, or were
/// refused when no token came within `limits.rate_wait_ms`).
pub const STATEMENT_THROTTLED_TOTAL: &str = "octodb_proxy_statement_throttled_total";
/// Statements the backend interrupted for the tenant's statement timeout (1969, 3024).
pub const STATEMENT_TIMEOUTS_TOTAL: &str = "octodb_proxy_statement_timeouts_total";
/// Keys (user and address pairs, addresses, users) tracked for failed logins.
pub const AUTH_THROTTLE_ENTRIES: &str = "octodb_proxy_auth_throttle_entries";

/// `limit` label values of [`LIMIT_REFUSALS_TOTAL`].
pub const LIMIT_CLIENT_CONNECTIONS: &str = "client_connections";
pub const LIMIT_STATEMENTS_PER_SECOND: &str = "statements_per_second";
pub const LIMIT_AUTH_FAILURES: &str = "auth_failures";

pub fn connection_opened() {
    metrics::counter!(CONNECTIONS_TOTAL).increment(1);
    metrics::gauge!(CONNECTIONS_OPEN).increment(1.0);
}

pub fn connection_closed() {
    metrics::gauge!(CONNECTIONS_OPEN).decrement(1.0);
}

pub fn auth_failure(reason: &'static str) {
    metrics::counter!(AUTH_FAILURES_TOTAL, "reason" => reason).increment(1);
}

pub fn command(cmd: u8) {
    use crate::protocol::command::*;
    let name = match cmd {
        QUIT => "quit",
        INIT_DB => "init_db",
        QUERY => "query",
        FIELD_LIST => "field_list",
        PING => "ping",
        CHANGE_USER => "change_user",
        STMT_PREPARE => "stmt_prepare",
        STMT_EXECUTE => "stmt_execute",
        STMT_SEND_LONG_DATA => "stmt_send_long_data",
        STMT_CLOSE => "stmt_close",
        STMT_RESET => "stmt_reset",
        SET_OPTION => "set_option",
        RESET_CONNECTION => "reset_connection",
        _ => "unknown",
    };
    metrics::counter!(COMMANDS_TOTAL, "command" => name).increment(1);
}

pub fn statement(kind: &StatementKind) {
    let k = match kind {
        StatementKind::Select => "select",
        StatementKind::Insert => "insert",
        StatementKind::Update => "update",
        StatementKind::Delete => "delete",
        StatementKind::Begin | StatementKind::Commit | StatementKind::Rollback => "transaction",
        StatementKind::SetAutocommit(_)
        | StatementKind::SetNames { .. }
        | StatementKind::SetSession => "set",
        StatementKind::ShowWarnings | StatementKind::Other => "other",
    };
    metrics::counter!(STATEMENTS_TOTAL, "kind" => k).increment(1);
}

pub fn refusal(code: u16) {
    metrics::counter!(REFUSALS_TOTAL, "code" => code.to_string()).increment(1);
}

pub fn backend_error() {
    metrics::counter!(BACKEND_ERRORS_TOTAL).increment(1);
}

pub fn audit_written(action: &'static str) {
    metrics::counter!(AUDIT_WRITTEN_TOTAL, "action" => action).increment(1);
}

pub fn audit_suppressed(action: &'static str) {
    metrics::counter!(AUDIT_SUPPRESSED_TOTAL, "action" => action).increment(1);
}

pub fn audit_dropped(reason: &'static str) {
    metrics::counter!(AUDIT_DROPPED_TOTAL, "reason" => reason).increment(1);
}

pub fn pinned_sessions(reason: &'static str, n: i64) {
    metrics::gauge!(PINNED_SESSIONS, "reason" => reason).set(n as f64);
}

pub fn backend_checkout(outcome: &'static str, waited: std::time::Duration) {
    metrics::counter!(BACKEND_CHECKOUTS_TOTAL, "outcome" => outcome).increment(1);
    metrics::histogram!(BACKEND_CHECKOUT_SECONDS).record(waited.as_secs_f64());
}

pub fn state_replays(n: usize) {
    metrics::counter!(STATE_REPLAYS_TOTAL).increment(n as u64);
}

pub fn catalog_notice() {
    metrics::counter!(CATALOG_NOTICES_TOTAL).increment(1);
}

pub fn catalog_notice_applied() {
    metrics::counter!(CATALOG_NOTICE_READS_TOTAL).increment(1);
}

pub fn limit_refusal(limit: &'static str) {
    metrics::counter!(LIMIT_REFUSALS_TOTAL, "limit" => limit).increment(1);
}

pub fn statement_throttled() {
    metrics::counter!(STATEMENT_THROTTLED_TOTAL).increment(1);
}

pub fn statement_timeout() {
    metrics::counter!(STATEMENT_TIMEOUTS_TOTAL).increment(1);
}

pub fn auth_throttle_entries(n: usize) {
    metrics::gauge!(AUTH_THROTTLE_ENTRIES).set(n as f64);
}

pub fn catalog_subscribed(on: bool) {
    metrics::gauge!(CATALOG_SUBSCRIBED).set(if on { 1.0 } else { 0.0 });
}
