//! What a session carries from one statement to the next under multiplexing: the state every
//! backend connection serving it must have (replayed where it differs), the values of
//! LAST_INSERT_ID(), ROW_COUNT() and FOUND_ROWS() its own statements produced, and what pins
//! it to its connection.

use octodb_policy::session_values::{self, SessionValues, SetEffect};
use octodb_policy::{Forward, StatementKind};

use super::results::Done;
use super::tx::TxState;
use crate::backend::state::{CHARSET, NAMES};
use crate::backend::{ConnState, PinReason, Pins};

/// What the policy found in the statement being run (decided once per statement text, with the
/// cached decision): the session never reads the text again to learn it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementFacts {
    /// It leaves a user variable on the connection.
    pub sets_user_variable: bool,
    /// It may call LAST_INSERT_ID(), ROW_COUNT() or FOUND_ROWS().
    pub uses_session_values: bool,
    /// It mentions SQL_CALC_FOUND_ROWS.
    pub calc_found_rows: bool,
    /// It is a SELECT: run outside a transaction, it changes nothing that lasts.
    pub select: bool,
}

impl From<&Forward> for StatementFacts {
    fn from(f: &Forward) -> Self {
        StatementFacts {
            sets_user_variable: f.sets_user_variable,
            uses_session_values: f.uses_session_values,
            calc_found_rows: f.calc_found_rows,
            select: f.kind == StatementKind::Select,
        }
    }
}

/// A BEGIN the session answered itself, with no backend connection held: it goes to the
/// backend with the transaction's first statement (see `lease`), and a transaction that ends
/// before running anything never reaches the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Begin {
    #[default]
    None,
    /// Answered, not yet sent.
    Deferred(String),
    /// Queued on the held connection ahead of a statement not yet answered: sent again if
    /// that statement is retried on another connection.
    Queued(String),
}

/// The session's movable state and its own statement outcomes.
#[derive(Debug, Clone)]
pub struct SessionState {
    /// What a backend connection must have to serve this session.
    pub conn: ConnState,
    /// The session's own LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS().
    pub values: SessionValues,
    /// User variables were set: they live on the current connection only.
    pub user_variables: bool,
    /// A SET was run that could not be recorded for replay.
    pub untracked: bool,
    /// The last statement used SQL_CALC_FOUND_ROWS.
    pub calc_found_rows: bool,
    /// The last statement left warnings.
    pub warnings: bool,
    /// The statement being run, set by [`SessionState::begin`] before it is sent.
    pub current: StatementFacts,
    /// A BEGIN not yet run on a backend connection.
    pub deferred: Begin,
}

impl SessionState {
    /// A fresh session whose client asked for `names` at the handshake (`None`: the backend's
    /// default character set).
    pub fn new(names: Option<String>) -> Self {
        let mut conn = ConnState::default();
        if let Some(set_names) = names {
            conn.set(NAMES, set_names);
        }
        SessionState {
            conn,
            values: SessionValues {
                last_insert_id: 0,
                row_count: -1,
                found_rows: Some(0),
            },
            user_variables: false,
            untracked: false,
            calc_found_rows: false,
            warnings: false,
            current: StatementFacts::default(),
            deferred: Begin::None,
        }
    }

    /// A statement with `facts` is about to run: what `after_success` and the session-value
    /// substitution read instead of the text.
    pub fn begin(&mut self, facts: StatementFacts) {
        self.current = facts;
    }

    /// The values to write into the next statement: FOUND_ROWS() is left to the connection
    /// after SQL_CALC_FOUND_ROWS (the session is pinned to it until then).
    pub fn values_for_next(&self) -> SessionValues {
        SessionValues {
            found_rows: if self.calc_found_rows {
                None
            } else {
                self.values.found_rows
            },
            ..self.values
        }
    }

    /// Records what a successful statement left behind.
    pub fn after_success(&mut self, kind: &StatementKind, sql: &str, done: &Done) {
        self.warnings = done.warnings > 0;
        self.calc_found_rows = false;
        if done.result_set {
            self.values.row_count = -1;
            self.values.found_rows = Some(done.rows);
            self.calc_found_rows = *kind == StatementKind::Select && self.current.calc_found_rows;
        } else {
            self.values.row_count = i64::try_from(done.affected_rows).unwrap_or(i64::MAX);
            if done.last_insert_id != 0 {
                self.values.last_insert_id = done.last_insert_id;
            }
        }
        match kind {
            StatementKind::SetAutocommit(on) => self.conn.autocommit = *on,
            StatementKind::SetNames { .. } => {
                let key = if starts_with_ci(sql, "SET NAMES") {
                    NAMES
                } else {
                    CHARSET
                };
                self.conn.set(key, sql.to_string());
            }
            StatementKind::SetSession => self.record_set(sql),
            _ => {
                if self.current.sets_user_variable {
                    self.user_variables = true;
                }
            }
        }
    }

    /// A statement failed: ROW_COUNT() is -1, and nothing holds the connection for warnings
    /// (the error is what SHOW WARNINGS would show; it is also in the ERR packet).
    pub fn after_error(&mut self) {
        self.values.row_count = -1;
        self.calc_found_rows = false;
        self.warnings = false;
    }

    fn record_set(&mut self, sql: &str) {
        match session_values::set_effects(sql) {
            Some(effects) => {
                for e in effects {
                    match e {
                        SetEffect::Variable { name, statement } => self.conn.set(&name, statement),
                        SetEffect::UserVariable => self.user_variables = true,
                    }
                }
            }
            None => self.untracked = true,
        }
    }

    /// Why the session must keep its connection now. A transaction whose BEGIN the session
    /// answered itself holds none yet.
    pub fn pins(&self, tx: TxState, multiplexing: bool) -> Pins {
        let deferred = matches!(self.deferred, Begin::Deferred(_));
        Pins::default()
            .with(PinReason::Transaction, tx.in_transaction && !deferred)
            .with(PinReason::UserVariables, self.user_variables)
            .with(PinReason::FoundRows, self.calc_found_rows)
            .with(PinReason::Warnings, self.warnings)
            .with(PinReason::SessionState, self.untracked)
            .with(PinReason::Disabled, !multiplexing)
    }

    /// The connection was lost, and with it everything that lived only there.
    pub fn connection_lost(&mut self) {
        // The transaction is gone, BEGIN and all.
        self.deferred = Begin::None;
        self.user_variables = false;
        self.untracked = false;
        self.calc_found_rows = false;
        self.warnings = false;
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(affected: u64, id: u64) -> Done {
        Done {
            affected_rows: affected,
            last_insert_id: id,
            ..Done::default()
        }
    }

    /// Runs a statement as the session does: the facts the policy decided, then the outcome.
    fn run(s: &mut SessionState, kind: &StatementKind, sql: &str, done: &Done) {
        let f = Forward::new(sql.to_string(), kind.clone(), false);
        s.begin((&f).into());
        s.after_success(kind, sql, done);
    }

    fn rows(n: u64) -> Done {
        Done {
            result_set: true,
            rows: n,
            ..Done::default()
        }
    }

    #[test]
    fn values_follow_the_sessions_statements() {
        let mut s = SessionState::new(None);
        run(&mut s, &StatementKind::Insert, "INSERT", &ok(3, 17));
        assert_eq!(s.values.last_insert_id, 17);
        assert_eq!(s.values.row_count, 3);
        run(&mut s, &StatementKind::Update, "UPDATE", &ok(2, 0));
        assert_eq!(s.values.last_insert_id, 17);
        assert_eq!(s.values.row_count, 2);
        run(&mut s, &StatementKind::Select, "SELECT a FROM t", &rows(5));
        assert_eq!(s.values.row_count, -1);
        assert_eq!(s.values_for_next().found_rows, Some(5));
        run(
            &mut s,
            &StatementKind::Select,
            "SELECT sql_calc_found_rows a",
            &rows(1),
        );
        assert_eq!(s.values_for_next().found_rows, None);
        assert!(s.pins(TxState::default(), true).has(PinReason::FoundRows));
        s.after_error();
        assert!(s.pins(TxState::default(), true).is_empty());
    }

    #[test]
    fn sets_are_recorded_or_pin() {
        let mut s = SessionState::new(None);
        run(
            &mut s,
            &StatementKind::SetSession,
            "SET time_zone = '+01:00'",
            &ok(0, 0),
        );
        assert_eq!(
            ConnState::default().plan(&s.conn),
            vec!["SET @@session.time_zone = '+01:00'"]
        );
        assert!(s.pins(TxState::default(), true).is_empty());
        run(&mut s, &StatementKind::SetSession, "SET @x = 1", &ok(0, 0));
        let p = s.pins(TxState::default(), true);
        assert!(p.has(PinReason::UserVariables) && p.dirty());
        let mut s = SessionState::new(None);
        run(
            &mut s,
            &StatementKind::Select,
            "SELECT 'a@b' FROM t",
            &rows(1),
        );
        assert!(!s.user_variables);
        run(&mut s, &StatementKind::Select, "SELECT 1 INTO @y", &rows(0));
        assert!(s.user_variables);
        run(
            &mut s,
            &StatementKind::SetAutocommit(false),
            "SET autocommit = 0",
            &ok(0, 0),
        );
        assert!(!s.conn.autocommit);
    }
}
