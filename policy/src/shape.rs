//! Constructs refused inside otherwise allowed statements.
//!
//! Guards against MySQL features that reach outside the tenant's rows even from a SELECT:
//! `SELECT ... INTO` a table or file (`INTO @var` is allowed: user variables are per session),
//! host-describing system variables ([`crate::sysvars`]), file and lock functions (`LOAD_FILE`, `GET_LOCK`
//! and friends: locks are server-wide, so tenants could signal or block each other),
//! `SLEEP`/`BENCHMARK` (connection-holding and CPU burning), replication waits, stored
//! functions in other databases (`db.f()`), table functions and `TABLE t` (table references
//! sqlparser does not expose as relations), data-modifying CTE bodies, optimizer hints, and
//! `?` placeholders outside COM_STMT_PREPARE (in COM_QUERY MySQL would answer a syntax error
//! anyway; refusing here keeps the decision explicit).

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Query, Select, SetExpr, Statement, TableFactor, TableObject, Value, ValueWithSpan, Visit,
    Visitor,
};

use crate::{sysvars, Refusal};

/// Functions no tenant may call (compared case-insensitively).
const DENIED_FUNCTIONS: &[&str] = &[
    "LOAD_FILE",
    "SLEEP",
    "BENCHMARK",
    "GET_LOCK",
    "RELEASE_LOCK",
    "RELEASE_ALL_LOCKS",
    "IS_FREE_LOCK",
    "IS_USED_LOCK",
    "MASTER_POS_WAIT",
    "MASTER_GTID_WAIT",
    "SOURCE_POS_WAIT",
    "WAIT_FOR_EXECUTED_GTID_SET",
    "WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS",
    "BINLOG_GTID_POS",
    "DES_ENCRYPT",
    "DES_DECRYPT",
    "NEXTVAL",
    "LASTVAL",
    "SETVAL",
    "SYS_EXEC",
    "SYS_EVAL",
    "LIB_MYSQLUDF_SYS_INFO",
];

/// Whether a function name (any case) is refused: the list above, and the `sys_*` family of
/// UDFs (`sys_exec`, `sys_eval`...) except MariaDB's built-in `SYS_GUID()`.
fn denied(name: &str) -> bool {
    let sys = name
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SYS_"));
    DENIED_FUNCTIONS
        .iter()
        .any(|d| d.eq_ignore_ascii_case(name))
        || (sys && !name.eq_ignore_ascii_case("SYS_GUID"))
}

struct Shape {
    prepared: bool,
}

fn hints() -> Refusal {
    Refusal::forbidden("optimizer hints (/*+ ... */) are not allowed through OctoDB")
}

impl Visitor for Shape {
    type Break = Refusal;

    fn pre_visit_statement(&mut self, stmt: &Statement) -> ControlFlow<Refusal> {
        let refusal = match stmt {
            Statement::Insert(i) if !i.optimizer_hints.is_empty() => Some(hints()),
            Statement::Insert(i) if matches!(i.table, TableObject::TableFunction(_)) => {
                Some(Refusal::forbidden_construct("INSERT INTO a table function"))
            }
            Statement::Update(u) if !u.optimizer_hints.is_empty() => Some(hints()),
            Statement::Delete(d) if !d.optimizer_hints.is_empty() => Some(hints()),
            _ => None,
        };
        refusal.map_or(ControlFlow::Continue(()), ControlFlow::Break)
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                if let Some(from) = &cte.from {
                    return ControlFlow::Break(Refusal::forbidden_construct(&format!(
                        "CTE ... FROM {from}"
                    )));
                }
            }
        }
        set_expr(&query.body)
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refusal> {
        if let Some(into) = &select.into {
            // `INTO @var` sets session-local user variables; anything else (a table, a file)
            // is refused.
            let vars = !into.temporary
                && !into.unlogged
                && !into.table
                && into.targets.iter().all(|t| {
                    matches!(t, Expr::Identifier(i) if i.quote_style.is_none()
                        && i.value.starts_with('@')
                        && !i.value.starts_with("@@"))
                });
            if !vars {
                return ControlFlow::Break(Refusal::forbidden_construct(
                    "SELECT ... INTO anything but @user_variables",
                ));
            }
        }
        if !select.optimizer_hints.is_empty() {
            return ControlFlow::Break(hints());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        match factor {
            TableFactor::Table {
                args: None,
                version: None,
                with_ordinality: false,
                json_path: None,
                sample: None,
                inheritance: None,
                with_hints,
                ..
            } if with_hints.is_empty() => ControlFlow::Continue(()),
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Break(Refusal::forbidden_construct("this kind of table reference")),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        if let Err(r) = sysvars::check_expr(expr) {
            return ControlFlow::Break(r);
        }
        if let Expr::Function(f) = expr {
            if f.name.0.len() != 1 {
                return ControlFlow::Break(Refusal::forbidden_construct(&format!(
                    "calling the qualified function {}",
                    f.name
                )));
            }
            let name = f.name.0[0].as_ident().map_or("", |i| i.value.as_str());
            if denied(name) {
                return ControlFlow::Break(Refusal::forbidden_construct(&format!(
                    "the function {}",
                    name.to_ascii_uppercase()
                )));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<Refusal> {
        match &value.value {
            Value::Placeholder(p) if p == "?" && self.prepared => ControlFlow::Continue(()),
            Value::Placeholder(p) if p == "?" => ControlFlow::Break(Refusal::syntax(
                "'?' placeholders are only allowed in prepared statements",
            )),
            Value::Placeholder(p) => ControlFlow::Break(Refusal::syntax(&format!(
                "unsupported placeholder '{p}': use '?'"
            ))),
            _ => ControlFlow::Continue(()),
        }
    }
}

fn set_expr(body: &SetExpr) -> ControlFlow<Refusal> {
    match body {
        SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => ControlFlow::Continue(()),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr(left)?;
            set_expr(right)
        }
        SetExpr::Table(_) => ControlFlow::Break(Refusal::forbidden_construct("TABLE")),
        _ => ControlFlow::Break(Refusal::forbidden_construct(
            "a data-modifying statement inside a query",
        )),
    }
}

/// Refuses the constructs above anywhere in `stmt`.
pub(crate) fn check(stmt: &Statement, prepared: bool) -> Result<(), Refusal> {
    match stmt.visit(&mut Shape { prepared }) {
        ControlFlow::Break(r) => Err(r),
        ControlFlow::Continue(()) => Ok(()),
    }
}
