//! The session state a backend connection carries, and the statements that move a connection
//! from one state to another.
//!
//! Under multiplexing a connection serves many sessions in turn; each pooled connection
//! remembers the state last applied on it, so a borrower replays only what differs (most
//! often nothing). Replaying `SET` statements in the order they took effect gives the same
//! final values whatever came before (`SET NAMES` and a later `SET character_set_results`,
//! for instance); a variable the borrower never set goes back to the server's default.

/// Key of the entry holding the character set (`SET NAMES`, the handshake's collation).
pub const NAMES: &str = "names";
/// Key of the entry holding `SET CHARACTER SET`.
pub const CHARSET: &str = "charset";

/// What the backend pools' connections start with (utf8mb4_general_ci, collation 45).
const DEFAULT_NAMES: &str = "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci";

/// Session state that can move from one backend connection to another (hashable: part of
/// the result cache's key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnState {
    /// `(variable, statement)` in the order the statements took effect, one per variable.
    vars: Vec<(String, String)>,
    pub autocommit: bool,
}

impl Default for ConnState {
    /// A freshly opened (or reset) backend connection.
    fn default() -> Self {
        ConnState {
            vars: Vec::new(),
            autocommit: true,
        }
    }
}

impl ConnState {
    /// Records that `statement` gave `variable` its current value (after any earlier one).
    pub fn set(&mut self, variable: &str, statement: String) {
        self.vars.retain(|(k, _)| k != variable);
        self.vars.push((variable.to_string(), statement));
    }

    /// The statement that returns `variable` to what a fresh connection has. Names come from
    /// the policy's allow-list (letters, digits, `_`), never from the client's text.
    fn default_for(variable: &str) -> String {
        if variable == NAMES || variable == CHARSET {
            DEFAULT_NAMES.to_string()
        } else {
            format!("SET @@session.{variable} = DEFAULT")
        }
    }

    /// Statements that turn a connection in state `self` into one in state `to`; empty when
    /// they are already equal.
    pub fn plan(&self, to: &ConnState) -> Vec<String> {
        let mut out = Vec::new();
        let removed: Vec<&str> = self
            .vars
            .iter()
            .filter(|(k, _)| !to.vars.iter().any(|(k2, _)| k2 == k))
            .map(|(k, _)| k.as_str())
            .collect();
        out.extend(removed.iter().map(|k| Self::default_for(k)));
        // Defaults can undo part of an entry kept in place (character_set_results reset after
        // SET NAMES): after any removal, everything is replayed.
        let start = if removed.is_empty() {
            self.vars
                .iter()
                .zip(&to.vars)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            0
        };
        out.extend(to.vars[start..].iter().map(|(_, s)| s.clone()));
        if self.autocommit != to.autocommit {
            out.push(format!("SET autocommit = {}", u8::from(to.autocommit)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(vars: &[(&str, &str)], autocommit: bool) -> ConnState {
        let mut s = ConnState {
            autocommit,
            ..ConnState::default()
        };
        for (k, v) in vars {
            s.set(k, v.to_string());
        }
        s
    }

    #[test]
    fn equal_states_need_nothing() {
        let a = state(&[("time_zone", "SET tz"), ("sql_mode", "SET m")], true);
        assert!(a.plan(&a.clone()).is_empty());
        assert!(ConnState::default().plan(&ConnState::default()).is_empty());
    }

    #[test]
    fn only_the_difference_is_replayed() {
        let from = state(&[("time_zone", "SET tz")], true);
        let to = state(&[("time_zone", "SET tz"), ("sql_mode", "SET m")], false);
        assert_eq!(from.plan(&to), vec!["SET m", "SET autocommit = 0"]);
        // A changed value is replayed from where it differs.
        let to = state(&[("time_zone", "SET tz2")], true);
        assert_eq!(from.plan(&to), vec!["SET tz2"]);
    }

    #[test]
    fn variables_not_set_by_the_borrower_go_back_to_defaults() {
        let from = state(
            &[
                (NAMES, "SET NAMES latin1"),
                ("character_set_results", "SET r"),
            ],
            true,
        );
        let to = state(&[(NAMES, "SET NAMES latin1")], true);
        assert_eq!(
            from.plan(&to),
            vec![
                "SET @@session.character_set_results = DEFAULT",
                "SET NAMES latin1"
            ]
        );
        let from = state(&[(NAMES, "SET NAMES latin1")], false);
        assert_eq!(
            from.plan(&ConnState::default()),
            vec![DEFAULT_NAMES, "SET autocommit = 1"]
        );
    }

    #[test]
    fn setting_again_moves_the_variable_last() {
        let mut s = state(&[("a", "SET a1"), ("b", "SET b")], true);
        s.set("a", "SET a2".into());
        assert_eq!(ConnState::default().plan(&s), vec!["SET b", "SET a2"]);
    }
}
