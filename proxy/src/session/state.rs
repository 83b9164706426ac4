//! What a session carries from one statement to the next under multiplexing: the state every
//! backend connection serving it must have (replayed where it differs), the values of
//! LAST_INSERT_ID(), ROW_COUNT() and FOUND_ROWS() its own statements produced, and what pins
//! it to its connection.

use octodb_policy::session_values::{self, SessionValues, SetEffect};
use octodb_policy::StatementKind;

use super::results::Done;
use super::tx::TxState;
use crate::backend::state::{CHARSET, NAMES};
use crate::backend::{ConnState, PinReason, Pins};

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
        }
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
            self.calc_found_rows = *kind == StatementKind::Select && calc_found_rows(sql);
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
                if session_values::sets_user_variable(sql) {
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

    /// Why the session must keep its connection now.
    pub fn pins(&self, tx: TxState, multiplexing: bool) -> Pins {
        Pins::default()
            .with(PinReason::Transaction, tx.in_transaction)
            .with(PinReason::UserVariables, self.user_variables)
            .with(PinReason::FoundRows, self.calc_found_rows)
            .with(PinReason::Warnings, self.warnings)
            .with(PinReason::SessionState, self.untracked)
            .with(PinReason::Disabled, !multiplexing)
    }

    /// The connection was lost, and with it everything that lived only there.
    pub fn connection_lost(&mut self) {
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

fn calc_found_rows(sql: &str) -> bool {
    const WORD: &[u8] = b"SQL_CALC_FOUND_ROWS";
    sql.as_bytes()
        .windows(WORD.len())
        .any(|w| w.eq_ignore_ascii_case(WORD))
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
        s.after_success(&StatementKind::Insert, "INSERT", &ok(3, 17));
        assert_eq!(s.values.last_insert_id, 17);
        assert_eq!(s.values.row_count, 3);
        s.after_success(&StatementKind::Update, "UPDATE", &ok(2, 0));
        assert_eq!(s.values.last_insert_id, 17);
        assert_eq!(s.values.row_count, 2);
        s.after_success(&StatementKind::Select, "SELECT a FROM t", &rows(5));
        assert_eq!(s.values.row_count, -1);
        assert_eq!(s.values_for_next().found_rows, Some(5));
        s.after_success(
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
        s.after_success(
            &StatementKind::SetSession,
            "SET time_zone = '+01:00'",
            &ok(0, 0),
        );
        assert_eq!(
            ConnState::default().plan(&s.conn),
            vec!["SET @@session.time_zone = '+01:00'"]
        );
        assert!(s.pins(TxState::default(), true).is_empty());
        s.after_success(&StatementKind::SetSession, "SET @x = 1", &ok(0, 0));
        let p = s.pins(TxState::default(), true);
        assert!(p.has(PinReason::UserVariables) && p.dirty());
        let mut s = SessionState::new(None);
        s.after_success(&StatementKind::Select, "SELECT 1 INTO @y", &rows(0));
        assert!(s.user_variables);
        s.after_success(
            &StatementKind::SetAutocommit(false),
            "SET autocommit = 0",
            &ok(0, 0),
        );
        assert!(!s.conn.autocommit);
    }
}
