//! The statement timeout, carried by each statement itself rather than by the backend
//! connection: `SET STATEMENT max_statement_time = <s> FOR <statement>` on MariaDB, the
//! `MAX_EXECUTION_TIME(<ms>)` optimizer hint on MySQL (which, like its session variable, bounds
//! SELECT only). The server interrupts a statement that runs too long (MariaDB error 1969,
//! MySQL 3024) and the error passes through to the client.
//!
//! Why per statement: under multiplexing a session's statements run on whichever pooled
//! connection is free, and connections go back without a reset, so a session variable would
//! need tracking per connection, re-applying after every reset and after every replay of the
//! tenant's own `SET max_statement_time` (which the policy allows, and which would otherwise
//! lift the limit). A per-statement setting needs no round trip, no connection state, and wins
//! over the session value, so the tenant cannot raise or remove it.
//!
//! Only SELECT, INSERT, UPDATE and DELETE are wrapped: the statements that can run long, and
//! the ones both forms accept. The text wrapped is the policy's rendering, never the client's:
//! the prefix is fixed text and a number, so nothing the client sent is re-parsed differently.

use octodb_policy::StatementKind;

/// Which server the backends are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    MySql,
}

impl Flavor {
    /// From the version string the proxy announces (the backend's, or the configured one).
    pub fn from_version(version: &str) -> Self {
        if version.contains("MariaDB") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        }
    }
}

/// `sql` bounded to `ms` milliseconds, when `kind` can be; `None` leaves it as it is.
pub fn timed(flavor: Flavor, kind: &StatementKind, ms: u32, sql: &str) -> Option<String> {
    match (flavor, kind) {
        (
            Flavor::MariaDb,
            StatementKind::Select
            | StatementKind::Insert
            | StatementKind::Update
            | StatementKind::Delete,
        ) => Some(format!(
            "SET STATEMENT max_statement_time = {}.{:03} FOR {sql}",
            ms / 1000,
            ms % 1000
        )),
        (Flavor::MySql, StatementKind::Select) => {
            // The hint must follow the SELECT keyword; the policy renders it in capitals with
            // one space after. Anything else (a parenthesised query...) runs unbounded.
            let rest = sql.strip_prefix("SELECT ")?;
            Some(format!("SELECT /*+ MAX_EXECUTION_TIME({ms}) */ {rest}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping() {
        let m = Flavor::MariaDb;
        assert_eq!(
            timed(m, &StatementKind::Select, 1500, "SELECT 1").as_deref(),
            Some("SET STATEMENT max_statement_time = 1.500 FOR SELECT 1")
        );
        assert_eq!(
            timed(m, &StatementKind::Delete, 20, "DELETE FROM t").as_deref(),
            Some("SET STATEMENT max_statement_time = 0.020 FOR DELETE FROM t")
        );
        assert_eq!(timed(m, &StatementKind::Begin, 20, "BEGIN"), None);
        assert_eq!(timed(m, &StatementKind::SetSession, 20, "SET a = 1"), None);
        let y = Flavor::MySql;
        assert_eq!(
            timed(y, &StatementKind::Select, 250, "SELECT a FROM t").as_deref(),
            Some("SELECT /*+ MAX_EXECUTION_TIME(250) */ a FROM t")
        );
        assert_eq!(
            timed(y, &StatementKind::Update, 250, "UPDATE t SET a = 1"),
            None
        );
        assert_eq!(timed(y, &StatementKind::Select, 250, "(SELECT 1)"), None);
        assert_eq!(
            Flavor::from_version("5.5.5-10.11.6-MariaDB-OctoDB"),
            Flavor::MariaDb
        );
        assert_eq!(Flavor::from_version("8.0.36-OctoDB"), Flavor::MySql);
    }
}
