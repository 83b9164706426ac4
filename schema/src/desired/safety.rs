//! Expressions inside a desired table (defaults, generated columns, CHECK clauses) must stay
//! inside the table: no qualified names (another schema's sequence or table), no subqueries, and
//! none of the functions that reach outside a row (files, sequences, locks, sleeping).
//!
//! Defaults and checks run later with the inserting tenant's privileges, so the backend's grants
//! would stop most of these anyway (layer 3); refusing them here gives the author a clear error at
//! submit time instead of a failure at insert time, and keeps the root workspace clean.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, Visit, Visitor};

/// Functions a schema definition may not call (case-insensitive).
const REFUSED_FUNCTIONS: &[&str] = &[
    "load_file",
    "nextval",
    "lastval",
    "setval",
    "sleep",
    "benchmark",
    "get_lock",
    "release_lock",
    "is_free_lock",
    "is_used_lock",
    "master_pos_wait",
    "master_gtid_wait",
    "sys_exec",
    "sys_eval",
];

/// Why an expression in `node` is refused, if one is.
pub(crate) fn refused_expression<V: Visit>(node: &V) -> Option<String> {
    match node.visit(&mut Guard) {
        ControlFlow::Break(why) => Some(why),
        ControlFlow::Continue(()) => None,
    }
}

/// Stops at the first refused expression or subquery.
struct Guard;

impl Visitor for Guard {
    type Break = String;

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<String> {
        ControlFlow::Break("a subquery".to_string())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::CompoundIdentifier(parts) => ControlFlow::Break(format!(
                "the qualified name {} (expressions may only name the table's own columns)",
                parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            )),
            Expr::Function(f) => {
                if f.name.0.len() > 1 {
                    return ControlFlow::Break(format!("the qualified function name {}", f.name));
                }
                let name = f.name.to_string().trim_matches('`').to_ascii_lowercase();
                if REFUSED_FUNCTIONS.contains(&name.as_str()) {
                    ControlFlow::Break(format!("the function {name}()"))
                } else {
                    ControlFlow::Continue(())
                }
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn expr(sql: &str) -> Expr {
        Parser::new(&MySqlDialect {})
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap()
    }

    #[rstest]
    #[case("a + 1", false)]
    #[case("concat(a, 'x')", false)]
    #[case("CURRENT_TIMESTAMP", false)]
    #[case("other.t.a", true)]
    #[case("t.a", true)]
    #[case("nextval(other_db.seq)", true)]
    #[case("NEXTVAL(seq)", true)]
    #[case("load_file('/etc/passwd')", true)]
    #[case("(SELECT 1)", true)]
    #[case("a IN (SELECT id FROM octodb_meta.tenants)", true)]
    #[case("EXISTS (SELECT 1)", true)]
    #[case("db.f(1)", true)]
    fn classifies_expressions(#[case] sql: &str, #[case] refused: bool) {
        assert_eq!(refused_expression(&expr(sql)).is_some(), refused, "{sql}");
    }
}
