//! The proxy's metric names (documented constants) and the helpers that record them. Labels
//! are bounded: command bytes, statement kinds, outcomes, reasons and error codes, never SQL.
//! Tenants appear only as the `tenant` label of the statement metrics, and only as configured
//! (`[metrics] tenant_labels`: none, the K busiest tenants plus `other`, or all; see
//! `crate::tenant_labels`).
//!
//! The metrics recorded on every statement keep their handles: registered once, at first use,
//! with the recorder installed then, instead of building the key and looking it up in the
//! registry each time. The proxy installs its recorder before it serves anyone (`main`, and a
//! test that scrapes metrics does the same).

use std::sync::OnceLock;

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
/// Statements, by `kind` (`select`, `insert`, `update`, `delete`, `transaction`, `set`,
/// `other`) and `outcome`: `ok`, `error` (the backend's error, or no backend connection),
/// `timeout` (the tenant's statement timeout), `limited` (over the tenant's statement rate),
/// `refused` (by the policy; `kind` then comes from the statement's first word). With tenant
/// labels on, also by `tenant`.
pub const STATEMENTS_TOTAL: &str = "octodb_proxy_statements_total";
/// Statements or connections refused by the proxy, by MySQL error `code` and `reason`: for a
/// statement the policy refused, what was refused (`syntax`, `foreign_database`,
/// `no_database`, `select`, `write`, `set`, `show`, `ddl`, `account`, `load_data`,
/// `procedural`, `admin`, `other`); otherwise `command` (a command or its argument),
/// `client_connections`, `statements_per_second` or `login` (see [`refusal`]).
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
/// Time checkouts spent waiting for a backend connection (a free slot in the tenant's pool,
/// or a new connection), in seconds (a histogram with [`CHECKOUT_BUCKETS`]). Only checkouts
/// that waited are observed: one served at once by an idle connection is counted in
/// [`BACKEND_CHECKOUTS_TOTAL`] alone, which keeps the clock off the common path.
pub const BACKEND_CHECKOUT_SECONDS: &str = "octodb_proxy_backend_checkout_seconds";
/// Session settings replayed on a borrowed backend connection (variables, character set or
/// autocommit that differed from what the connection had; all of one replay go out in one
/// SET).
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

// --- Statement latency, digests, pools and tenant labels (issue 6) ---

/// Statement latency in seconds, from the command's arrival to the end of its result (backend
/// checkout and streaming included), by `kind` and `outcome` as [`STATEMENTS_TOTAL`] (refused
/// statements excepted) and, with tenant labels on, `tenant`. A histogram with
/// [`STATEMENT_BUCKETS`].
pub const STATEMENT_SECONDS: &str = "octodb_proxy_statement_seconds";
/// Backend connections of all tenant pools, by `state`: `active` (lent to a session) or `idle`
/// (pooled).
pub const BACKEND_CONNECTIONS: &str = "octodb_proxy_backend_connections";
/// Executions not given their own digest because the per-tenant or total number of distinct
/// digests held between two flushes was reached (`digest_max_per_tenant`,
/// `digest_max_total`); they are added to the tenant's `(digest limit reached)` digest.
pub const DIGEST_OVERFLOW_TOTAL: &str = "octodb_proxy_digest_overflow_total";
/// Digest flushes to the catalog, by `outcome` (`ok`, `error`; after an error the deltas are
/// kept for the next flush).
pub const DIGEST_FLUSHES_TOTAL: &str = "octodb_proxy_digest_flushes_total";
/// Tenants currently given their own `tenant` label (`[metrics] tenant_labels = "top"`).
pub const TENANT_LABELS: &str = "octodb_proxy_tenant_labels";
/// Client sessions running on each worker (`crate::workers`), by `worker` (0 to
/// `worker_threads - 1`).
pub const WORKER_SESSIONS: &str = "octodb_proxy_worker_sessions";
/// Idle backend connections a session of another worker took and moved to its own worker's
/// event loop (every worker's own idle connections were in use).
pub const BACKEND_MOVES_TOTAL: &str = "octodb_proxy_backend_moves_total";

/// Bucket upper bounds of [`STATEMENT_SECONDS`] in seconds: 100 µs (a cached point select) to
/// 30 s (beyond any sane statement timeout).
pub const STATEMENT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];
/// Bucket upper bounds of [`BACKEND_CHECKOUT_SECONDS`] in seconds.
pub const CHECKOUT_BUCKETS: &[f64] = &[
    0.00001, 0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// `outcome` label values of [`STATEMENTS_TOTAL`] and [`STATEMENT_SECONDS`].
pub const OUTCOME_OK: &str = "ok";
pub const OUTCOME_ERROR: &str = "error";
pub const OUTCOME_TIMEOUT: &str = "timeout";
pub const OUTCOME_LIMITED: &str = "limited";
pub const OUTCOME_REFUSED: &str = "refused";

/// The Prometheus exporter with the proxy's histogram buckets (the binary adds the listener).
pub fn prometheus_builder(
) -> Result<metrics_exporter_prometheus::PrometheusBuilder, metrics_exporter_prometheus::BuildError>
{
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(STATEMENT_SECONDS.into()), STATEMENT_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(BACKEND_CHECKOUT_SECONDS.into()),
            CHECKOUT_BUCKETS,
        )
}

/// The `kind` label of a statement kind.
pub fn statement_kind(kind: &StatementKind) -> &'static str {
    match kind {
        StatementKind::Select => "select",
        StatementKind::Insert => "insert",
        StatementKind::Update => "update",
        StatementKind::Delete => "delete",
        StatementKind::Begin | StatementKind::Commit | StatementKind::Rollback => "transaction",
        StatementKind::SetAutocommit(_)
        | StatementKind::SetNames { .. }
        | StatementKind::SetSession => "set",
        StatementKind::ShowWarnings | StatementKind::Other => "other",
    }
}

/// The first word of a statement, upper-cased (ASCII), skipping whitespace, comments and `(`;
/// at most 16 bytes are looked at, so it never allocates much.
fn first_word(sql: &str) -> String {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if rest.starts_with("--") || rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    rest.bytes()
        .take_while(|b| b.is_ascii_alphabetic() || *b == b'_')
        .take(16)
        .map(|b| char::from(b.to_ascii_uppercase()))
        .collect()
}

/// The `kind` label of a statement the policy refused (it has no decided kind).
pub fn refused_kind(sql: &str) -> &'static str {
    match first_word(sql).as_str() {
        "SELECT" | "WITH" => "select",
        "INSERT" | "REPLACE" => "insert",
        "UPDATE" => "update",
        "DELETE" => "delete",
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "XA" => "transaction",
        "SET" => "set",
        _ => "other",
    }
}

/// The `reason` label of a policy refusal: from its error code when that says it all, else
/// from the refused statement's first word.
pub fn policy_refusal_reason(code: u16, sql: &str) -> &'static str {
    match code {
        1064 => return "syntax",
        1044 => return "foreign_database",
        1046 => return "no_database",
        _ => {}
    }
    match first_word(sql).as_str() {
        "SELECT" | "WITH" | "TABLE" | "VALUES" => "select",
        "INSERT" | "REPLACE" | "UPDATE" | "DELETE" => "write",
        "SET" => "set",
        "SHOW" | "DESCRIBE" | "DESC" | "EXPLAIN" | "HELP" => "show",
        "CREATE" | "ALTER" | "DROP" | "TRUNCATE" | "RENAME" | "ANALYZE" | "OPTIMIZE" | "REPAIR"
        | "CHECK" | "CHECKSUM" => "ddl",
        "GRANT" | "REVOKE" => "account",
        "LOAD" => "load_data",
        "CALL" | "DO" | "HANDLER" | "PREPARE" | "EXECUTE" | "DEALLOCATE" | "SIGNAL"
        | "RESIGNAL" | "GET" => "procedural",
        "LOCK" | "UNLOCK" | "FLUSH" | "KILL" | "RESET" | "PURGE" | "CHANGE" | "INSTALL"
        | "UNINSTALL" | "SHUTDOWN" | "RESTART" | "BINLOG" | "CACHE" | "BACKUP" | "CLONE"
        | "IMPORT" | "START" | "STOP" => "admin",
        _ => "other",
    }
}

/// The `outcome` label of a statement that ended with MySQL error `code`.
pub fn error_outcome(code: u16) -> &'static str {
    match code {
        1969 | 3024 => OUTCOME_TIMEOUT,
        crate::limits::ER_USER_LIMIT_REACHED => OUTCOME_LIMITED,
        _ => OUTCOME_ERROR,
    }
}

/// One statement that ran (or was refused by a limit or failed before running), without a
/// tenant label. With one, the session keeps the handles ([`StatementHandles`]).
pub fn statement_done(kind: &'static str, outcome: &'static str, elapsed: std::time::Duration) {
    match (kind_index(kind), outcome_index(outcome)) {
        (Some(k), Some(o)) => {
            static CELLS: [[OnceLock<StatementHandles>; OUTCOMES.len()]; KINDS.len()] =
                [const { [const { OnceLock::new() }; OUTCOMES.len()] }; KINDS.len()];
            CELLS[k][o]
                .get_or_init(|| StatementHandles::register(kind, outcome, None))
                .record(elapsed);
        }
        _ => StatementHandles::register(kind, outcome, None).record(elapsed),
    }
}

/// The two series a statement of one kind, outcome and tenant label adds to.
#[derive(Clone)]
pub struct StatementHandles {
    pub kind: &'static str,
    pub outcome: &'static str,
    pub tenant: Option<metrics::SharedString>,
    count: metrics::Counter,
    seconds: metrics::Histogram,
}

impl std::fmt::Debug for StatementHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementHandles")
            .field("kind", &self.kind)
            .field("outcome", &self.outcome)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl StatementHandles {
    pub fn register(
        kind: &'static str,
        outcome: &'static str,
        tenant: Option<metrics::SharedString>,
    ) -> Self {
        let (count, seconds) = match &tenant {
            Some(t) => (
                metrics::counter!(STATEMENTS_TOTAL, "kind" => kind, "outcome" => outcome, "tenant" => t.clone()),
                metrics::histogram!(STATEMENT_SECONDS, "kind" => kind, "outcome" => outcome, "tenant" => t.clone()),
            ),
            None => (
                metrics::counter!(STATEMENTS_TOTAL, "kind" => kind, "outcome" => outcome),
                metrics::histogram!(STATEMENT_SECONDS, "kind" => kind, "outcome" => outcome),
            ),
        };
        StatementHandles {
            kind,
            outcome,
            tenant,
            count,
            seconds,
        }
    }

    pub fn record(&self, elapsed: std::time::Duration) {
        self.count.increment(1);
        self.seconds.record(elapsed.as_secs_f64());
    }
}

/// One tenant label's statement series, registered the first time each is used and kept
/// for all the sessions that share the label.
pub struct TenantHandles([[OnceLock<StatementHandles>; OUTCOMES.len()]; KINDS.len()]);

impl Default for TenantHandles {
    fn default() -> Self {
        TenantHandles([const { [const { OnceLock::new() }; OUTCOMES.len()] }; KINDS.len()])
    }
}

impl std::fmt::Debug for TenantHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantHandles").finish_non_exhaustive()
    }
}

impl TenantHandles {
    /// Records a statement of `kind` and `outcome` under the label `label` gives.
    pub fn record(
        &self,
        label: impl FnOnce() -> metrics::SharedString,
        kind: &'static str,
        outcome: &'static str,
        elapsed: std::time::Duration,
    ) {
        match (kind_index(kind), outcome_index(outcome)) {
            (Some(k), Some(o)) => self.0[k][o]
                .get_or_init(|| StatementHandles::register(kind, outcome, Some(label())))
                .record(elapsed),
            _ => StatementHandles::register(kind, outcome, Some(label())).record(elapsed),
        }
    }
}

/// Statement kinds and outcomes of the statement series, for the handle tables.
const KINDS: [&str; 7] = [
    "select",
    "insert",
    "update",
    "delete",
    "transaction",
    "set",
    "other",
];
const OUTCOMES: [&str; 4] = [OUTCOME_OK, OUTCOME_ERROR, OUTCOME_TIMEOUT, OUTCOME_LIMITED];

fn kind_index(kind: &str) -> Option<usize> {
    KINDS.iter().position(|k| *k == kind)
}

fn outcome_index(outcome: &str) -> Option<usize> {
    OUTCOMES.iter().position(|o| *o == outcome)
}

/// One statement refused by the policy (counted, not timed).
pub fn statement_refused(
    kind: &'static str,
    code: u16,
    reason: &'static str,
    tenant: Option<metrics::SharedString>,
) {
    match tenant {
        Some(t) => metrics::counter!(STATEMENTS_TOTAL, "kind" => kind, "outcome" => OUTCOME_REFUSED, "tenant" => t)
            .increment(1),
        None => metrics::counter!(STATEMENTS_TOTAL, "kind" => kind, "outcome" => OUTCOME_REFUSED)
            .increment(1),
    }
    refusal_for(code, reason);
}

/// A refusal with its `reason` label.
pub fn refusal_for(code: u16, reason: &'static str) {
    metrics::counter!(REFUSALS_TOTAL, "code" => code.to_string(), "reason" => reason).increment(1);
}

/// A backend connection lent (`+1`) or given back or closed (`-1`).
pub fn backend_active(delta: f64) {
    static CELL: OnceLock<metrics::Gauge> = OnceLock::new();
    CELL.get_or_init(|| metrics::gauge!(BACKEND_CONNECTIONS, "state" => "active"))
        .increment(delta);
}

/// Backend connections put in (`+n`) or taken out of (`-n`) an idle list.
pub fn backend_idle(delta: f64) {
    static CELL: OnceLock<metrics::Gauge> = OnceLock::new();
    CELL.get_or_init(|| metrics::gauge!(BACKEND_CONNECTIONS, "state" => "idle"))
        .increment(delta);
}

pub fn digest_overflow() {
    metrics::counter!(DIGEST_OVERFLOW_TOTAL).increment(1);
}

pub fn digest_flush(ok: bool) {
    let outcome = if ok { OUTCOME_OK } else { OUTCOME_ERROR };
    metrics::counter!(DIGEST_FLUSHES_TOTAL, "outcome" => outcome).increment(1);
}

pub fn tenant_labels(n: usize) {
    metrics::gauge!(TENANT_LABELS).set(n as f64);
}

// --- End of issue 6 block ---

/// The session gauge of worker `index`.
pub fn worker_sessions(index: usize) -> metrics::Gauge {
    metrics::gauge!(WORKER_SESSIONS, "worker" => index.to_string())
}

pub fn backend_moved() {
    static CELL: OnceLock<metrics::Counter> = OnceLock::new();
    CELL.get_or_init(|| metrics::counter!(BACKEND_MOVES_TOTAL))
        .increment(1);
}

/// The open-connections gauge, registered once (a registration hashes the name).
fn connections_open() -> &'static metrics::Gauge {
    static CELL: OnceLock<metrics::Gauge> = OnceLock::new();
    CELL.get_or_init(|| metrics::gauge!(CONNECTIONS_OPEN))
}

pub fn connection_opened() {
    static TOTAL: OnceLock<metrics::Counter> = OnceLock::new();
    TOTAL
        .get_or_init(|| metrics::counter!(CONNECTIONS_TOTAL))
        .increment(1);
    connections_open().increment(1.0);
}

pub fn connection_closed() {
    connections_open().decrement(1.0);
}

/// Connections from a `proxy_protocol_from` address closed because no valid PROXY protocol
/// header came first (`crate::proxy_header`).
pub const PROXY_HEADER_REFUSALS_TOTAL: &str = "octodb_proxy_proxy_header_refusals_total";

pub fn proxy_header_refused() {
    metrics::counter!(PROXY_HEADER_REFUSALS_TOTAL).increment(1);
}

pub fn auth_failure(reason: &'static str) {
    metrics::counter!(AUTH_FAILURES_TOTAL, "reason" => reason).increment(1);
}

pub fn command(cmd: u8) {
    use crate::protocol::command::*;
    const NAMES: [&str; 14] = [
        "quit",
        "init_db",
        "query",
        "field_list",
        "ping",
        "change_user",
        "stmt_prepare",
        "stmt_execute",
        "stmt_send_long_data",
        "stmt_close",
        "stmt_reset",
        "set_option",
        "reset_connection",
        "unknown",
    ];
    static CELLS: [OnceLock<metrics::Counter>; NAMES.len()] =
        [const { OnceLock::new() }; NAMES.len()];
    let at = match cmd {
        QUIT => 0,
        INIT_DB => 1,
        QUERY => 2,
        FIELD_LIST => 3,
        PING => 4,
        CHANGE_USER => 5,
        STMT_PREPARE => 6,
        STMT_EXECUTE => 7,
        STMT_SEND_LONG_DATA => 8,
        STMT_CLOSE => 9,
        STMT_RESET => 10,
        SET_OPTION => 11,
        RESET_CONNECTION => 12,
        _ => 13,
    };
    CELLS[at]
        .get_or_init(|| metrics::counter!(COMMANDS_TOTAL, "command" => NAMES[at]))
        .increment(1);
}

/// A refusal outside the policy, its `reason` read from the code: 1040 `client_connections`,
/// 1226 `statements_per_second` (the tenant's limits), anything else `login` (refused at
/// login: collation, database).
pub fn refusal(code: u16) {
    let reason = match code {
        crate::error::codes::ER_CON_COUNT => "client_connections",
        crate::limits::ER_USER_LIMIT_REACHED => "statements_per_second",
        _ => "login",
    };
    refusal_for(code, reason);
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

/// `outcome` label values of [`BACKEND_CHECKOUTS_TOTAL`].
pub const CHECKOUT_IDLE: &str = "idle";
pub const CHECKOUT_NEW: &str = "new";
pub const CHECKOUT_TIMEOUT: &str = "timeout";
pub const CHECKOUT_ERROR: &str = "error";

/// A checkout's outcome, and the time it waited when it did.
pub fn backend_checkout(outcome: &'static str, waited: Option<std::time::Duration>) {
    const OUTCOMES: [&str; 4] = [
        CHECKOUT_IDLE,
        CHECKOUT_NEW,
        CHECKOUT_TIMEOUT,
        CHECKOUT_ERROR,
    ];
    static CELLS: [OnceLock<metrics::Counter>; OUTCOMES.len()] =
        [const { OnceLock::new() }; OUTCOMES.len()];
    static SECONDS: OnceLock<metrics::Histogram> = OnceLock::new();
    match OUTCOMES.iter().position(|o| *o == outcome) {
        Some(at) => CELLS[at]
            .get_or_init(|| metrics::counter!(BACKEND_CHECKOUTS_TOTAL, "outcome" => outcome))
            .increment(1),
        None => metrics::counter!(BACKEND_CHECKOUTS_TOTAL, "outcome" => outcome).increment(1),
    }
    if let Some(waited) = waited {
        SECONDS
            .get_or_init(|| metrics::histogram!(BACKEND_CHECKOUT_SECONDS))
            .record(waited.as_secs_f64());
    }
}

pub fn state_replays(n: usize) {
    static CELL: OnceLock<metrics::Counter> = OnceLock::new();
    CELL.get_or_init(|| metrics::counter!(STATE_REPLAYS_TOTAL))
        .increment(n as u64);
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

// Result cache (see `crate::result_cache`).

/// SELECTs answered from the result cache (tenants that opted in).
pub const RESULT_CACHE_HITS_TOTAL: &str = "octodb_proxy_result_cache_hits_total";
/// Cacheable SELECTs of opted-in tenants that found no good entry (absent, expired, or a
/// table it read was written since) and ran on the backend.
pub const RESULT_CACHE_MISSES_TOTAL: &str = "octodb_proxy_result_cache_misses_total";
/// Write statements (and ends of writing transactions) that marked tables as written,
/// making the cached results that read them stale.
pub const RESULT_CACHE_INVALIDATIONS_TOTAL: &str = "octodb_proxy_result_cache_invalidations_total";
/// Bytes of cached results held by this proxy, all tenants.
pub const RESULT_CACHE_BYTES: &str = "octodb_proxy_result_cache_bytes";

pub fn result_cache_hit() {
    metrics::counter!(RESULT_CACHE_HITS_TOTAL).increment(1);
}

pub fn result_cache_miss() {
    metrics::counter!(RESULT_CACHE_MISSES_TOTAL).increment(1);
}

pub fn result_cache_invalidation() {
    metrics::counter!(RESULT_CACHE_INVALIDATIONS_TOTAL).increment(1);
}

pub fn result_cache_bytes(bytes: u64) {
    metrics::gauge!(RESULT_CACHE_BYTES).set(bytes as f64);
}

/// Write marks shared with the other proxies through Redis (`crate::peers`), by `outcome`:
/// `published` (messages sent), `dropped` (marks or messages that could not be sent: the
/// others notice the gap and drop their whole cache), `heard` (messages of other proxies
/// applied), `gap` (a message of another proxy was missed: every entry became stale).
pub const RESULT_CACHE_PEER_MESSAGES_TOTAL: &str = "octodb_proxy_result_cache_peer_messages_total";

fn result_cache_peer(outcome: &'static str) {
    metrics::counter!(RESULT_CACHE_PEER_MESSAGES_TOTAL, "outcome" => outcome).increment(1);
}

pub fn result_cache_peer_published() {
    result_cache_peer("published");
}

pub fn result_cache_peer_dropped() {
    result_cache_peer("dropped");
}

pub fn result_cache_peer_heard() {
    result_cache_peer("heard");
}

pub fn result_cache_peer_gap() {
    result_cache_peer("gap");
}

// Decision cache, shape level (see `crate::cache`).

/// COM_QUERY statements that reached the decision cache's shape level (an exact-text miss
/// with plain literals), by `outcome`: `hit` (decided from the shape's template), `miss`
/// (first of its shape in its context: checked in full, a template tried), `mismatch` (a
/// template that did not reproduce the full check and was not kept: should stay at 0).
pub const SHAPE_CACHE_STATEMENTS_TOTAL: &str = "octodb_proxy_shape_cache_statements_total";
pub const SHAPE_HIT: &str = "hit";
pub const SHAPE_MISS: &str = "miss";
pub const SHAPE_MISMATCH: &str = "mismatch";

pub fn shape_cache(outcome: &'static str) {
    const OUTCOMES: [&str; 3] = [SHAPE_HIT, SHAPE_MISS, SHAPE_MISMATCH];
    static CELLS: [OnceLock<metrics::Counter>; OUTCOMES.len()] =
        [const { OnceLock::new() }; OUTCOMES.len()];
    match OUTCOMES.iter().position(|o| *o == outcome) {
        Some(at) => CELLS[at]
            .get_or_init(|| metrics::counter!(SHAPE_CACHE_STATEMENTS_TOTAL, "outcome" => outcome))
            .increment(1),
        None => metrics::counter!(SHAPE_CACHE_STATEMENTS_TOTAL, "outcome" => outcome).increment(1),
    }
}
