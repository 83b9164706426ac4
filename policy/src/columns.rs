//! Database qualifiers outside table references: `db.t.col` columns, `db.t.*` wildcards,
//! `MATCH (db.t.col)`, INSERT column lists and assignment targets.
//!
//! Guards against MySQL resolving a three-part column reference or a qualified wildcard
//! against a database the statement never named as a table: each such qualifier must be one
//! of the tenant's logical databases and becomes the physical name, exactly like table
//! references. Names with more parts than MySQL accepts are refused rather than guessed at.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Assignment, AssignmentTarget, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectName, OnInsert, Select, SelectItem, SelectItemQualifiedWildcardKind, Statement, VisitMut,
    VisitorMut,
};

use crate::tables::{ident_parts_mut, physical_ident};
use crate::{Refusal, SessionContext};

struct Columns<'a, 'c> {
    ctx: &'a SessionContext<'c>,
}

impl Columns<'_, '_> {
    /// `col`, `t.col` stay; `db.t.col` gets the physical db; more parts are refused.
    fn column(&self, parts: &mut [&mut Ident]) -> Result<(), Refusal> {
        match parts {
            [_] | [_, _] => Ok(()),
            [db, _, _] => {
                **db = physical_ident(self.ctx, db)?;
                Ok(())
            }
            _ => Err(Refusal::forbidden(
                "column references have at most three parts (db.table.column)",
            )),
        }
    }

    fn column_name(&self, name: &mut ObjectName) -> Result<(), Refusal> {
        self.column(&mut ident_parts_mut(name)?)
    }

    /// The prefix of `prefix.*`: `t` stays, `db.t` gets the physical db.
    fn wildcard(&self, prefix: &mut ObjectName) -> Result<(), Refusal> {
        match ident_parts_mut(prefix)?.as_mut_slice() {
            [_] => Ok(()),
            [db, _] => {
                **db = physical_ident(self.ctx, db)?;
                Ok(())
            }
            _ => Err(Refusal::forbidden(
                "qualified wildcards have at most two parts (db.table.*)",
            )),
        }
    }

    fn assignments(&self, list: &mut [Assignment]) -> Result<(), Refusal> {
        for a in list {
            match &mut a.target {
                AssignmentTarget::ColumnName(n) => self.column_name(n)?,
                AssignmentTarget::Tuple(names) => {
                    for n in names {
                        self.column_name(n)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn expr(&self, expr: &mut Expr) -> Result<(), Refusal> {
        match expr {
            Expr::CompoundIdentifier(parts) => {
                self.column(&mut parts.iter_mut().collect::<Vec<_>>())
            }
            Expr::QualifiedWildcard(prefix, _) => self.wildcard(prefix),
            Expr::MatchAgainst { columns, .. } => {
                columns.iter_mut().try_for_each(|c| self.column_name(c))
            }
            Expr::CompoundFieldAccess { .. } => Err(Refusal::forbidden_construct(
                "field access on an expression",
            )),
            Expr::Function(f) => match &mut f.args {
                FunctionArguments::List(list) => list.args.iter_mut().try_for_each(|a| {
                    let (FunctionArg::Named { arg, .. }
                    | FunctionArg::ExprNamed { arg, .. }
                    | FunctionArg::Unnamed(arg)) = a;
                    match arg {
                        FunctionArgExpr::QualifiedWildcard(prefix) => self.wildcard(prefix),
                        _ => Ok(()),
                    }
                }),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Statement-level name lists the expression visitor does not reach.
    fn statement(&self, stmt: &mut Statement) -> Result<(), Refusal> {
        match stmt {
            Statement::Insert(i) => {
                for c in &mut i.columns {
                    self.column_name(c)?;
                }
                self.assignments(&mut i.assignments)?;
                if let Some(OnInsert::DuplicateKeyUpdate(list)) = &mut i.on {
                    self.assignments(list)?;
                }
                Ok(())
            }
            Statement::Update(u) => self.assignments(&mut u.assignments),
            _ => Ok(()),
        }
    }
}

fn flow(r: Result<(), Refusal>) -> ControlFlow<Refusal> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }
}

impl VisitorMut for Columns<'_, '_> {
    type Break = Refusal;

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<Refusal> {
        for item in &mut select.projection {
            if let SelectItem::QualifiedWildcard(kind, _) = item {
                flow(match kind {
                    SelectItemQualifiedWildcardKind::ObjectName(prefix) => self.wildcard(prefix),
                    SelectItemQualifiedWildcardKind::Expr(_) => {
                        Err(Refusal::forbidden_construct("a wildcard on an expression"))
                    }
                })?;
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Refusal> {
        flow(self.expr(expr))
    }
}

/// Rewrites database qualifiers of columns and wildcards in `stmt`.
pub(crate) fn rewrite(stmt: &mut Statement, ctx: &SessionContext<'_>) -> Result<(), Refusal> {
    let mut v = Columns { ctx };
    v.statement(stmt)?;
    match stmt.visit(&mut v) {
        ControlFlow::Break(r) => Err(r),
        ControlFlow::Continue(()) => Ok(()),
    }
}
