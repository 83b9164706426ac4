//! Session values under multiplexing: what a forwarded statement reads from, or leaves in, the
//! backend connection's session, when the session's next statement may run on another
//! connection.
//!
//! Guards against MySQL answering `LAST_INSERT_ID()`, `ROW_COUNT()` and `FOUND_ROWS()` with
//! what another client's statement left on a shared backend connection: the session tracks
//! its own values and [`substitute`] writes them into the statement as literals, after the
//! policy's (cached) decision, so a cached decision never carries a stale value. Also tells
//! the session which `SET` assignments it must replay on another connection ([`set_effects`])
//! and which statements leave user variables behind ([`sets_user_variable`]), which pin the
//! session to its connection.
//!
//! Every function here works on text the policy already rendered (re-parsing it gives the
//! approved tree), and a substituted statement is rendered and verified again by
//! [`crate::render`]: only integer literals are ever added.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, Set, Statement, UnaryOperator, Value, Visit, VisitMut,
    Visitor, VisitorMut,
};

use crate::{parse, render, share_lock};
use sqlparser::tokenizer::Token;

/// The session's own values of the functions that read the previous statement's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionValues {
    /// The first AUTO_INCREMENT value the session's last generating INSERT produced.
    pub last_insert_id: u64,
    /// Affected rows of the previous statement; -1 after a result set or an error.
    pub row_count: i64,
    /// Rows of the previous result set; `None` leaves `FOUND_ROWS()` to the server (after
    /// `SQL_CALC_FOUND_ROWS`, which only the connection that ran it knows).
    pub found_rows: Option<u64>,
}

/// What one assignment of an allowed `SET` leaves in the backend session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetEffect {
    /// A session variable (lower-case name, without `@@session.`) and the statement that gives
    /// it this value on any connection.
    Variable { name: String, statement: String },
    /// A user variable (`@x`): lives only on this connection.
    UserVariable,
}

const FUNCTIONS: [&str; 3] = ["LAST_INSERT_ID", "ROW_COUNT", "FOUND_ROWS"];

/// Whether `sql` may call one of the session-value functions (a cheap, case-insensitive scan:
/// a false positive only costs a parse).
pub fn mentions_session_function(sql: &str) -> bool {
    FUNCTIONS.iter().any(|f| contains_ignore_case(sql, f))
}

/// Whether `sql` mentions `SQL_CALC_FOUND_ROWS` (case-insensitive; in a string literal too,
/// which only pins the session for one statement more than needed).
pub fn mentions_calc_found_rows(sql: &str) -> bool {
    contains_ignore_case(sql, "SQL_CALC_FOUND_ROWS")
}

/// What the session needs to know about a statement's text, read once per distinct statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextFacts {
    /// It may call a session-value function ([`mentions_session_function`]).
    pub session_function: bool,
    /// It mentions `SQL_CALC_FOUND_ROWS` ([`mentions_calc_found_rows`]).
    pub calc_found_rows: bool,
}

impl TextFacts {
    /// From the text: every occurrence counts, in string literals too (harmless).
    pub fn of_text(sql: &str) -> Self {
        TextFacts {
            session_function: mentions_session_function(sql),
            calc_found_rows: mentions_calc_found_rows(sql),
        }
    }

    /// From a statement's significant tokens: the function names and the modifier are words
    /// wherever they can take effect (quoted identifiers count too, harmlessly).
    pub(crate) fn of_tokens(sig: &[&Token]) -> Self {
        let mut facts = TextFacts::default();
        for token in sig {
            if let Token::Word(w) = token {
                let v = w.value.as_bytes();
                match v.len() {
                    9 | 10 | 14 => {
                        facts.session_function |= FUNCTIONS
                            .iter()
                            .any(|f| v.eq_ignore_ascii_case(f.as_bytes()))
                    }
                    19 => facts.calc_found_rows |= v.eq_ignore_ascii_case(b"SQL_CALC_FOUND_ROWS"),
                    _ => {}
                }
            }
        }
        facts
    }
}

/// Case-insensitive substring search for an upper-case ASCII `word`, comparing only where the
/// first byte matches: this runs once per distinct statement, on every uncached check.
fn contains_ignore_case(sql: &str, word: &str) -> bool {
    let (b, w) = (sql.as_bytes(), word.as_bytes());
    let Some(&first) = w.first() else {
        return true;
    };
    let lower = first.to_ascii_lowercase();
    b.len() >= w.len()
        && (0..=b.len() - w.len())
            .any(|i| (b[i] == first || b[i] == lower) && b[i..i + w.len()].eq_ignore_ascii_case(w))
}

/// Parses rendered text, without the `LOCK IN SHARE MODE` suffix sqlparser cannot read
/// (returned separately, to put back).
fn reparse(sql: &str) -> Option<(Statement, &'static str)> {
    let (body, suffix) = match sql.strip_suffix(share_lock::SUFFIX) {
        Some(body) => (body, share_lock::SUFFIX),
        None => (sql, ""),
    };
    let mut stmts = parse::reparse(body)?;
    (stmts.len() == 1).then(|| (stmts.remove(0), suffix))
}

fn is_user_variable(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none()
        && i.value.starts_with('@') && !i.value.starts_with("@@"))
}

/// The assignments of an allowed `SET` (rendered by the policy), or `None` when the text is
/// not one the session can track (it then pins the session instead).
pub fn set_effects(sql: &str) -> Option<Vec<SetEffect>> {
    let (stmt, _) = reparse(sql)?;
    let Statement::Set(set) = stmt else {
        return None;
    };
    let pairs: Vec<(sqlparser::ast::ObjectName, Expr)> = match set {
        Set::SingleAssignment {
            variable, values, ..
        } if values.len() == 1 => vec![(variable, values.into_iter().next()?)],
        Set::MultipleAssignments { assignments } => {
            assignments.into_iter().map(|a| (a.name, a.value)).collect()
        }
        _ => return None,
    };
    pairs
        .into_iter()
        .map(|(name, value)| {
            let parts: Vec<String> = name
                .0
                .iter()
                .map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
                .collect::<Option<_>>()?;
            let var = match parts.as_slice() {
                [scope, var] if scope == "@@session" || scope == "@@local" => var.clone(),
                [var] if var.starts_with("@@") => var[2..].to_string(),
                [var] if var.starts_with('@') => return Some(SetEffect::UserVariable),
                [var] => var.clone(),
                _ => return None,
            };
            if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            let statement = render::render(&Statement::Set(Set::SingleAssignment {
                scope: None,
                hivevar: false,
                variable: sqlparser::ast::ObjectName::from(vec![
                    sqlparser::ast::Ident::new("@@session"),
                    sqlparser::ast::Ident::new(var.clone()),
                ]),
                values: vec![value],
            }))
            .ok()?;
            Some(SetEffect::Variable {
                name: var,
                statement,
            })
        })
        .collect()
}

/// Finds assignments to user variables.
struct UserVariables;

impl Visitor for UserVariables {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Assignment,
                ..
            } if is_user_variable(left) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_query(&mut self, query: &sqlparser::ast::Query) -> ControlFlow<()> {
        if let sqlparser::ast::SetExpr::Select(s) = query.body.as_ref() {
            if s.into
                .as_ref()
                .is_some_and(|i| i.targets.iter().any(is_user_variable))
            {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, stmt: &Statement) -> ControlFlow<()> {
        match stmt {
            Statement::Set(_) => match set_effects(&stmt.to_string()) {
                Some(effects) if !effects.contains(&SetEffect::UserVariable) => {
                    ControlFlow::Continue(())
                }
                _ => ControlFlow::Break(()),
            },
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Whether running `sql` leaves a user variable set on the connection (`SET @x`, `INTO @x`,
/// `@x := ...`). Text that cannot be read is assumed to.
pub fn sets_user_variable(sql: &str) -> bool {
    if !sql.contains('@') {
        return false;
    }
    match reparse(sql) {
        Some((Statement::Set(_), _)) => {
            set_effects(sql).is_none_or(|effects| effects.contains(&SetEffect::UserVariable))
        }
        Some((stmt, _)) => stmt.visit(&mut UserVariables).is_break(),
        None => true,
    }
}

/// Replaces argument-less calls of the session-value functions with literals.
struct Substitute {
    values: SessionValues,
    changed: bool,
}

impl VisitorMut for Substitute {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let no_args = match &f.args {
            FunctionArguments::None => true,
            FunctionArguments::List(l) => l.args.is_empty() && l.clauses.is_empty(),
            FunctionArguments::Subquery(_) => false,
        };
        let name = match f.name.0.as_slice() {
            [part] => part.as_ident().map(|i| i.value.to_ascii_uppercase()),
            _ => None,
        };
        let value: Option<i128> = match name.as_deref() {
            Some("LAST_INSERT_ID") if no_args => Some(self.values.last_insert_id.into()),
            Some("ROW_COUNT") if no_args => Some(self.values.row_count.into()),
            Some("FOUND_ROWS") if no_args => self.values.found_rows.map(i128::from),
            _ => None,
        };
        if let Some(v) = value {
            let n = Expr::value(Value::Number(v.unsigned_abs().to_string(), false));
            // A negative literal parses as a minus applied to a number: built the same way,
            // so the rendered text re-parses to this tree.
            *expr = if v < 0 {
                Expr::UnaryOp {
                    op: UnaryOperator::Minus,
                    expr: Box::new(n),
                }
            } else {
                n
            };
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// `sql` with the session's own values in place of `LAST_INSERT_ID()`, `ROW_COUNT()` and
/// `FOUND_ROWS()`; `None` when there is nothing to replace (or the text cannot be read, in
/// which case the server's values stand).
pub fn substitute(sql: &str, values: &SessionValues) -> Option<String> {
    if !mentions_session_function(sql) {
        return None;
    }
    let (mut stmt, suffix) = reparse(sql)?;
    let mut v = Substitute {
        values: *values,
        changed: false,
    };
    let _ = VisitMut::visit(&mut stmt, &mut v);
    if !v.changed {
        return None;
    }
    let mut out = render::render(&stmt).ok()?;
    out.push_str(suffix);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: SessionValues = SessionValues {
        last_insert_id: 42,
        row_count: -1,
        found_rows: Some(7),
    };

    #[test]
    fn functions_become_the_sessions_values() {
        let out = substitute(
            "SELECT LAST_INSERT_ID(), row_count(), Found_Rows() FROM `t_a__app`.`t`",
            &V,
        )
        .unwrap();
        assert_eq!(out, "SELECT 42, -1, 7 FROM `t_a__app`.`t`");
        let out = substitute(
            "INSERT INTO `t_a__app`.`c` (p) VALUES (LAST_INSERT_ID())",
            &V,
        )
        .unwrap();
        assert!(out.ends_with("VALUES (42)"), "{out}");
        // With an argument, LAST_INSERT_ID(expr) sets the value: left to the server.
        assert_eq!(substitute("SELECT LAST_INSERT_ID(5)", &V), None);
        assert_eq!(substitute("SELECT 1", &V), None);
        let calc = SessionValues {
            found_rows: None,
            ..V
        };
        assert_eq!(substitute("SELECT FOUND_ROWS()", &calc), None);
        let out = substitute(
            "SELECT LAST_INSERT_ID() FROM `t_a__app`.`t` LOCK IN SHARE MODE",
            &V,
        )
        .unwrap();
        assert_eq!(out, "SELECT 42 FROM `t_a__app`.`t` LOCK IN SHARE MODE");
        // Strings naming the functions are not calls.
        assert_eq!(substitute("SELECT 'LAST_INSERT_ID()'", &V), None);
    }

    #[test]
    fn set_assignments_are_named() {
        let e =
            set_effects("SET sql_mode = 'ANSI', @@session.time_zone = '+02:00', @x = 1").unwrap();
        assert_eq!(
            e,
            vec![
                SetEffect::Variable {
                    name: "sql_mode".into(),
                    statement: "SET @@session.sql_mode = 'ANSI'".into()
                },
                SetEffect::Variable {
                    name: "time_zone".into(),
                    statement: "SET @@session.time_zone = '+02:00'".into()
                },
                SetEffect::UserVariable,
            ]
        );
        assert_eq!(set_effects("SELECT 1"), None);
    }

    #[test]
    fn decisions_carry_the_session_facts() {
        let m = crate::Mapping {
            databases: [("app".to_string(), "t_a__app".to_string())].into(),
            version: 1,
        };
        let ctx = crate::SessionContext {
            mapping: &m,
            current_db: Some("app"),
            user: "u",
        };
        let facts = |sql: &str| match crate::check(sql, &ctx, false) {
            Ok(crate::Decision::Forward(f)) => (
                f.sets_user_variable,
                f.uses_session_values,
                f.calc_found_rows,
            ),
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(facts("SELECT c FROM t WHERE id = 5"), (false, false, false));
        assert_eq!(facts("SELECT 'x@y' FROM t"), (false, false, false));
        assert_eq!(facts("SELECT @v := c FROM t"), (true, false, false));
        assert_eq!(facts("SELECT @v FROM t"), (false, false, false));
        assert_eq!(facts("SELECT LAST_INSERT_ID()"), (false, true, false));
        assert!(facts("SELECT SQL_CALC_FOUND_ROWS c FROM t LIMIT 1").2);
        // Statements the policy recognises from tokens get the same facts.
        assert_eq!(facts("SHOW WARNINGS"), (false, false, false));
    }

    #[test]
    fn user_variables_are_seen() {
        assert!(sets_user_variable("SET @x = 1"));
        assert!(sets_user_variable("SELECT 1 INTO @x"));
        assert!(sets_user_variable("SELECT @x := 5"));
        assert!(sets_user_variable("SELECT a FROM t WHERE b = (@n := 3)"));
        assert!(!sets_user_variable("SELECT 'a@b.c'"));
        assert!(!sets_user_variable("SELECT @x"));
        assert!(!sets_user_variable("SET @@session.time_zone = '+00:00'"));
        assert!(!sets_user_variable("SELECT 1"));
    }
}
