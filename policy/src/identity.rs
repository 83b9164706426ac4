//! `DATABASE()`, `SCHEMA()`, `USER()`, `CURRENT_USER[()]`, `SESSION_USER()`, `SYSTEM_USER()`.
//!
//! Guards against the backend leaking its side of the mapping: MySQL would answer with the
//! physical database and the tenant's backend account. These calls become string literals
//! with the session's logical database (NULL when none) and `'<proxy user>@%'`. A top-level
//! unaliased SELECT item is aliased with its original text so the result column keeps the
//! name MySQL gives it (`DATABASE()`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArguments, Ident, Select, SelectItem, Statement, Value, VisitMut, VisitorMut,
};

use crate::SessionContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    Database,
    User,
}

fn identity(expr: &Expr) -> Option<Identity> {
    let name = match expr {
        Expr::Function(f) => {
            let plain = f.filter.is_none()
                && f.over.is_none()
                && f.within_group.is_empty()
                && matches!(f.parameters, FunctionArguments::None)
                && match &f.args {
                    FunctionArguments::None => true,
                    FunctionArguments::List(l) => l.args.is_empty() && l.clauses.is_empty(),
                    FunctionArguments::Subquery(_) => false,
                };
            match f.name.0.as_slice() {
                [part] if plain => part.as_ident()?,
                _ => return None,
            }
        }
        Expr::Identifier(i) if i.quote_style.is_none() => {
            return i
                .value
                .eq_ignore_ascii_case("CURRENT_USER")
                .then_some(Identity::User)
        }
        _ => return None,
    };
    if name.quote_style.is_some() {
        return None;
    }
    let is = |upper: &str| name.value.eq_ignore_ascii_case(upper);
    if is("DATABASE") || is("SCHEMA") {
        Some(Identity::Database)
    } else if is("USER") || is("CURRENT_USER") || is("SESSION_USER") || is("SYSTEM_USER") {
        Some(Identity::User)
    } else {
        None
    }
}

struct Identities<'a, 'c> {
    ctx: &'a SessionContext<'c>,
}

impl VisitorMut for Identities<'_, '_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(expr) = item {
                if identity(expr).is_some() {
                    let alias = Ident::with_quote('`', expr.to_string());
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias,
                    };
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let value = match identity(expr) {
            Some(Identity::Database) => match self.ctx.current_db {
                Some(db) => Value::SingleQuotedString(db.to_string()),
                None => Value::Null,
            },
            Some(Identity::User) => Value::SingleQuotedString(format!("{}@%", self.ctx.user)),
            None => return ControlFlow::Continue(()),
        };
        *expr = Expr::value(value);
        ControlFlow::Continue(())
    }
}

/// Replaces identity calls in `stmt` with the session's logical answers.
pub(crate) fn rewrite(stmt: &mut Statement, ctx: &SessionContext<'_>) {
    let _ = stmt.visit(&mut Identities { ctx });
}
