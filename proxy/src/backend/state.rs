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

/// Entries that [`DEFAULT_NAMES`] puts back as a fresh connection has them.
const CONNECTION_CHARSETS: &[&str] = &[
    NAMES,
    CHARSET,
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
];

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
    /// the policy's allow-list (letters, digits, `_`), never from the client's text. The
    /// connection's character sets came from the pool's handshake, not from the server's
    /// defaults (which `= DEFAULT` would give): they go back with the pool's SET NAMES.
    fn default_for(variable: &str) -> String {
        if CONNECTION_CHARSETS.contains(&variable) {
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
        for k in &removed {
            let default = Self::default_for(k);
            if !out.contains(&default) {
                out.push(default);
            }
        }
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

/// `plan` as statements to send: one SET carrying every assignment, in order, so that a
/// borrower replays its state in one round trip whatever it differs in. The server checks
/// every assignment of a SET before it applies them left to right, which ends in the same
/// state as the statements one after another. A plan entry that is not a plain `SET ...`
/// (none is today) keeps the statements apart.
pub fn batched(plan: Vec<String>) -> Vec<String> {
    if plan.len() < 2 {
        return plan;
    }
    let mut parts = Vec::with_capacity(plan.len());
    for stmt in &plan {
        match stmt.strip_prefix("SET ") {
            Some(rest) if !rest.contains(';') => parts.push(rest),
            _ => return plan,
        }
    }
    vec![format!("SET {}", parts.join(", "))]
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
        // The character sets a fresh connection has came from the handshake.
        assert_eq!(from.plan(&to), vec![DEFAULT_NAMES, "SET NAMES latin1"]);
        let with_zone = state(
            &[
                ("time_zone", "SET tz"),
                ("collation_connection", "SET c"),
                (CHARSET, "SET CHARACTER SET latin1"),
            ],
            true,
        );
        assert_eq!(
            with_zone.plan(&ConnState::default()),
            vec!["SET @@session.time_zone = DEFAULT", DEFAULT_NAMES]
        );
        let from = state(&[(NAMES, "SET NAMES latin1")], false);
        assert_eq!(
            from.plan(&ConnState::default()),
            vec![DEFAULT_NAMES, "SET autocommit = 1"]
        );
    }

    #[test]
    fn a_plan_goes_out_as_one_statement() {
        let from = state(
            &[
                (NAMES, "SET NAMES latin1"),
                ("character_set_results", "SET r"),
            ],
            true,
        );
        let to = state(
            &[("sql_mode", "SET @@session.sql_mode = 'TRADITIONAL'")],
            false,
        );
        assert_eq!(
            batched(from.plan(&to)),
            vec![
                "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci, \
                 @@session.sql_mode = 'TRADITIONAL', autocommit = 0"
            ]
        );
        // One statement, or none, stays as it is.
        assert_eq!(
            batched(vec!["SET NAMES latin1".into()]),
            vec!["SET NAMES latin1"]
        );
        assert!(batched(Vec::new()).is_empty());
        // Anything but a plain SET keeps them apart.
        let odd = vec!["SET a = 1".to_string(), "DO 1".to_string()];
        assert_eq!(batched(odd.clone()), odd);
        let odd = vec!["SET a = 1".to_string(), "SET b = 2; DO 1".to_string()];
        assert_eq!(batched(odd.clone()), odd);
    }

    #[test]
    fn setting_again_moves_the_variable_last() {
        let mut s = state(&[("a", "SET a1"), ("b", "SET b")], true);
        s.set("a", "SET a2".into());
        assert_eq!(ConnState::default().plan(&s), vec!["SET b", "SET a2"]);
    }
}
