//! information_schema: the tenant's own objects, under logical names.
//!
//! Guards against MySQL's information_schema listing every database the backend account can
//! see, and against ORMs asking about their logical database by name (`TABLE_SCHEMA = 'app'`),
//! which exists on the server only under its physical name. Only [`TABLES`] may be queried (the
//! table pass refuses every other view, and information_schema outside a query). In a
//! statement that reads one of them:
//! 1. every schema column ([`SCHEMA_COLUMNS`]) reads as the logical name: predicates, bound
//!    parameters and `LIKE` patterns are evaluated against logical names only, so a physical
//!    name (the tenant's own or another's) never matches;
//! 2. every SELECT that reads a view gets `<alias>.<schema column> IN (<the tenant's physical
//!    databases>)` and-ed into its WHERE, or into the ON of a LEFT JOIN that reads it;
//! 3. the session maps physical names in the result back to logical ones (`remap_names`).

use std::ops::ControlFlow;

use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Ident, InTarget, JoinConstraint, JoinOperator, ObjectNamePart,
    Select, SelectItem, Statement, TableFactor, TableWithJoins, Value, VisitMut, VisitorMut,
};

use crate::SessionContext;

/// The information_schema views a tenant may query, with the column naming their database.
const VIEWS: &[(&str, &str)] = &[
    ("SCHEMATA", "SCHEMA_NAME"),
    ("TABLES", "TABLE_SCHEMA"),
    ("COLUMNS", "TABLE_SCHEMA"),
    ("STATISTICS", "TABLE_SCHEMA"),
    ("KEY_COLUMN_USAGE", "TABLE_SCHEMA"),
    ("REFERENTIAL_CONSTRAINTS", "CONSTRAINT_SCHEMA"),
    ("TABLE_CONSTRAINTS", "TABLE_SCHEMA"),
];

/// The names of the views in [`VIEWS`], for messages.
pub(crate) const TABLES: &[&str] = &[
    "SCHEMATA",
    "TABLES",
    "COLUMNS",
    "STATISTICS",
    "KEY_COLUMN_USAGE",
    "REFERENTIAL_CONSTRAINTS",
    "TABLE_CONSTRAINTS",
];

/// Columns whose values are database names.
const SCHEMA_COLUMNS: &[&str] = &[
    "TABLE_SCHEMA",
    "SCHEMA_NAME",
    "CONSTRAINT_SCHEMA",
    "REFERENCED_TABLE_SCHEMA",
    "UNIQUE_CONSTRAINT_SCHEMA",
    "INDEX_SCHEMA",
];

/// The database column of an allowed view (`None`: not allowed).
pub(crate) fn schema_column(view: &str) -> Option<&'static str> {
    VIEWS
        .iter()
        .find(|(v, _)| v.eq_ignore_ascii_case(view))
        .map(|(_, c)| *c)
}

fn is_schema_column(expr: &Expr) -> bool {
    let last = match expr {
        Expr::Identifier(i) => i,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) => i,
            None => return false,
        },
        _ => return false,
    };
    SCHEMA_COLUMNS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&last.value))
}

/// Step 1: every reference to a schema column reads as the logical name.
///
/// `col` becomes `CASE col WHEN 'physical' THEN 'logical' ... END`, so every predicate the
/// tenant wrote (`=`, `LIKE`, `IN`, a bound parameter, a function of it) is evaluated against
/// its logical names, never against physical ones, and the value comes out logical. A plain
/// column in the select list keeps its name through an alias.
struct Logical<'a, 'c> {
    ctx: &'a SessionContext<'c>,
}

impl Logical<'_, '_> {
    fn case(&self, column: Expr) -> Expr {
        let mut pairs: Vec<(&String, &String)> = self.ctx.mapping.databases.iter().collect();
        pairs.sort();
        let conditions = pairs
            .into_iter()
            .map(|(logical, physical)| CaseWhen {
                condition: Expr::value(Value::SingleQuotedString(physical.clone())),
                result: Expr::value(Value::SingleQuotedString(logical.clone())),
            })
            .collect::<Vec<_>>();
        if conditions.is_empty() {
            return Expr::value(Value::Null);
        }
        Expr::Case {
            case_token: AttachedToken::empty(),
            end_token: AttachedToken::empty(),
            operand: Some(Box::new(column)),
            conditions,
            else_result: None,
        }
    }
}

impl VisitorMut for Logical<'_, '_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) = item {
                if let Some(name) = schema_column_name(e) {
                    let alias = Ident::with_quote('`', name);
                    let expr = std::mem::replace(e, Expr::value(Value::Null));
                    *item = SelectItem::ExprWithAlias { expr, alias };
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if is_schema_column(expr) {
            let column = std::mem::replace(expr, Expr::value(Value::Null));
            *expr = self.case(column);
        }
        ControlFlow::Continue(())
    }
}

fn schema_column_name(expr: &Expr) -> Option<String> {
    let last = match expr {
        Expr::Identifier(i) => i,
        Expr::CompoundIdentifier(parts) => parts.last()?,
        _ => return None,
    };
    is_schema_column(expr).then(|| last.value.clone())
}

/// Step 2: the filter on every view reference.
struct Filters<'a, 'c> {
    ctx: &'a SessionContext<'c>,
}

impl Filters<'_, '_> {
    /// `qualifier.column IN ('phys1', ...)` for a table factor reading an allowed view.
    fn filter(&self, factor: &TableFactor) -> Option<Expr> {
        let TableFactor::Table { name, alias, .. } = factor else {
            return None;
        };
        let [ObjectNamePart::Identifier(db), ObjectNamePart::Identifier(view)] = name.0.as_slice()
        else {
            return None;
        };
        if !db.value.eq_ignore_ascii_case("information_schema") {
            return None;
        }
        let column = schema_column(&view.value)?;
        let qualifier = alias.as_ref().map_or_else(
            || Ident::with_quote('`', view.value.clone()),
            |a| a.name.clone(),
        );
        let mut physical: Vec<&String> = self.ctx.mapping.databases.values().collect();
        physical.sort();
        let column = Expr::CompoundIdentifier(vec![qualifier, Ident::new(column)]);
        if physical.is_empty() {
            return Some(Expr::value(Value::Boolean(false)));
        }
        Some(Expr::In {
            expr: Box::new(column),
            target: InTarget::List(
                physical
                    .into_iter()
                    .map(|p| Expr::value(Value::SingleQuotedString(p.clone())))
                    .collect(),
            ),
            negated: false,
            global: false,
        })
    }

    /// Filters for `tables`: those that can go into the ON of a LEFT JOIN go there, the
    /// others are returned for the WHERE.
    fn from(&self, tables: &mut [TableWithJoins], out: &mut Vec<Expr>) {
        for t in tables {
            self.factor(&mut t.relation, out);
            for join in &mut t.joins {
                match &mut join.join_operator {
                    JoinOperator::Left(JoinConstraint::On(on))
                    | JoinOperator::LeftOuter(JoinConstraint::On(on))
                        if matches!(join.relation, TableFactor::Table { .. }) =>
                    {
                        if let Some(f) = self.filter(&join.relation) {
                            and_into(on, f);
                        }
                    }
                    _ => self.factor(&mut join.relation, out),
                }
            }
        }
    }

    fn factor(&self, factor: &mut TableFactor, out: &mut Vec<Expr>) {
        match factor {
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.from(std::slice::from_mut(table_with_joins.as_mut()), out),
            other => out.extend(self.filter(other)),
        }
    }
}

fn and_into(target: &mut Expr, filter: Expr) {
    let old = std::mem::replace(target, Expr::value(Value::Null));
    *target = Expr::BinaryOp {
        left: Box::new(Expr::Nested(Box::new(old))),
        op: BinaryOperator::And,
        right: Box::new(filter),
    };
}

impl VisitorMut for Filters<'_, '_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let mut filters = Vec::new();
        self.from(&mut select.from, &mut filters);
        for f in filters {
            match &mut select.selection {
                Some(where_) => and_into(where_, f),
                None => select.selection = Some(f),
            }
        }
        ControlFlow::Continue(())
    }
}

/// Applies steps 1 and 2 to a statement that reads information_schema (step 2 after step 1,
/// so its filters compare physical names).
pub(crate) fn rewrite(stmt: &mut Statement, ctx: &SessionContext<'_>) {
    let _ = stmt.visit(&mut Logical { ctx });
    let _ = stmt.visit(&mut Filters { ctx });
}
