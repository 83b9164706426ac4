//! Table references: logical -> physical database names.
//!
//! Guards against cross-tenant and system-schema access (`mysql.user`, `information_schema`,
//! another tenant's database, even the tenant's own physical name): every table reference
//! becomes `<physical>.t`, where the qualifier must be one of the tenant's logical databases
//! and an unqualified name takes the session's current logical database. An unqualified name
//! is left alone only when it is a CTE in scope or MySQL's `DUAL`. CTE scope follows MySQL:
//! a CTE body sees the earlier CTEs of its `WITH` (and itself under `RECURSIVE`), the query
//! body sees them all, and an inner `WITH` shadows nothing outside its own query.
//!
//! sqlparser visits FROM/JOIN tables, subqueries, CTE bodies, INSERT targets and UPDATE tables
//! as relations; the multi-table DELETE target list (`DELETE t1, t2 FROM ...`, and the FROM
//! list of `DELETE FROM t1 USING ...`) is not, so it is handled here by hand. A target that
//! names an alias of the statement's tables stays as written (MySQL matches aliases there).

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Delete, FromTable, Ident, ObjectName, ObjectNamePart, Query, Statement, TableFactor,
    TableWithJoins, VisitMut, VisitorMut, With,
};

use crate::{infoschema, Refusal, SessionContext};

/// The physical database for a logical qualifier, as a quoted identifier.
pub(crate) fn physical_ident(ctx: &SessionContext<'_>, logical: &Ident) -> Result<Ident, Refusal> {
    physical_of(ctx, &logical.value)
}

fn physical_of(ctx: &SessionContext<'_>, logical: &str) -> Result<Ident, Refusal> {
    ctx.mapping
        .physical(logical)
        .map(|p| Ident::with_quote('`', p))
        .ok_or_else(|| Refusal::database(ctx.user, logical))
}

/// The physical database for unqualified names.
pub(crate) fn current_physical(ctx: &SessionContext<'_>) -> Result<Ident, Refusal> {
    let current = ctx.current_db.ok_or_else(Refusal::no_database)?;
    physical_of(ctx, current)
}

/// The identifier parts of a name; function parts are refused.
pub(crate) fn ident_parts_mut(name: &mut ObjectName) -> Result<Vec<&mut Ident>, Refusal> {
    name.0
        .iter_mut()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(i),
            ObjectNamePart::Function(_) => {
                Err(Refusal::forbidden_construct("a computed object name"))
            }
        })
        .collect()
}

struct Tables<'a, 'c> {
    ctx: &'a SessionContext<'c>,
    /// CTE names of the enclosing queries, innermost last.
    scopes: Vec<Vec<String>>,
    /// The rewritten `WITH` clauses of the queries being visited, innermost last.
    hidden: Vec<Option<With>>,
    /// information_schema views may be read (the statement is a query or an EXPLAIN of one).
    allow_info: bool,
    /// An information_schema view was referenced.
    info: bool,
}

impl Tables<'_, '_> {
    fn in_cte_scope(&self, name: &str) -> bool {
        self.scopes.iter().flatten().any(|c| c == name)
    }

    fn rewrite(&mut self, name: &mut ObjectName) -> Result<(), Refusal> {
        if let [ObjectNamePart::Identifier(db), ObjectNamePart::Identifier(table)] =
            name.0.as_slice()
        {
            if db.value.eq_ignore_ascii_case("information_schema") {
                return self.information_schema(table);
            }
        }
        if let [ObjectNamePart::Identifier(table)] = name.0.as_slice() {
            let keep = self.in_cte_scope(&table.value)
                || (table.quote_style.is_none() && table.value.eq_ignore_ascii_case("DUAL"));
            if keep {
                return Ok(());
            }
        }
        qualify(self.ctx, name)
    }

    /// `information_schema.X` stays as written when X is one of the views the tenant may read
    /// (see [`crate::infoschema`]) and the statement is a query; the filter pass then limits it.
    fn information_schema(&mut self, table: &Ident) -> Result<(), Refusal> {
        if self.allow_info && infoschema::schema_column(&table.value).is_some() {
            self.info = true;
            Ok(())
        } else {
            Err(Refusal::forbidden(format!(
                "information_schema.{} is not available through OctoDB: only queries on {} are",
                table.value,
                infoschema::TABLES.join(", ")
            ))
            .with_code(1044))
        }
    }
}

/// `t` -> `<current physical>.t`, `db.t` -> `<physical of db>.t`; anything else is refused.
pub(crate) fn qualify(ctx: &SessionContext<'_>, name: &mut ObjectName) -> Result<(), Refusal> {
    if name.0.len() > 2 {
        return Err(Refusal::forbidden(format!(
            "table name {name} has too many parts: use db.table"
        )));
    }
    let mut parts = ident_parts_mut(name)?;
    match parts.as_mut_slice() {
        [db, _table] => {
            **db = physical_ident(ctx, db)?;
            return Ok(());
        }
        [_table] => {}
        _ => return Err(Refusal::syntax("empty table name")),
    }
    let db = current_physical(ctx)?;
    name.0.insert(0, ObjectNamePart::Identifier(db));
    Ok(())
}

impl VisitorMut for Tables<'_, '_> {
    type Break = Refusal;

    /// CTE bodies are visited here, each with only the CTEs it can see in scope (the earlier
    /// ones, plus itself when `RECURSIVE`); the `WITH` is hidden from the generic traversal
    /// until [`Self::post_visit_query`] puts it back.
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Refusal> {
        let mut names = Vec::new();
        if let Some(mut with) = query.with.take() {
            for cte in &mut with.cte_tables {
                let name = cte.alias.name.value.clone();
                if with.recursive {
                    names.push(name.clone());
                }
                self.scopes.push(names.clone());
                let flow = cte.query.visit(self);
                self.scopes.pop();
                flow?;
                if !with.recursive {
                    names.push(name);
                }
            }
            self.hidden.push(Some(with));
        } else {
            self.hidden.push(None);
        }
        self.scopes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<Refusal> {
        self.scopes.pop();
        query.with = self.hidden.pop().flatten();
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<Refusal> {
        match self.rewrite(relation) {
            Ok(()) => ControlFlow::Continue(()),
            Err(r) => ControlFlow::Break(r),
        }
    }
}

/// Aliases (and names) introduced by the table factors of `tables`.
fn aliases(tables: &[TableWithJoins], out: &mut HashSet<String>) {
    for t in tables {
        for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            match factor {
                TableFactor::Table { alias, .. } | TableFactor::Derived { alias, .. } => {
                    out.extend(alias.iter().map(|a| a.name.value.clone()));
                }
                TableFactor::NestedJoin {
                    table_with_joins,
                    alias,
                } => {
                    out.extend(alias.iter().map(|a| a.name.value.clone()));
                    aliases(std::slice::from_ref(table_with_joins), out);
                }
                _ => {}
            }
        }
    }
}

fn from_tables(from: &mut FromTable) -> &mut Vec<TableWithJoins> {
    match from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    }
}

/// Rewrites the DELETE target lists the visitor does not see, and hides the `FROM` target list
/// of `DELETE FROM targets USING sources` from the visitor (returned, to be put back).
fn delete_targets(
    v: &mut Tables<'_, '_>,
    delete: &mut Delete,
) -> Result<Option<Vec<TableWithJoins>>, Refusal> {
    let mut names = HashSet::new();
    if let Some(using) = &delete.using {
        aliases(using, &mut names);
    }
    if !delete.tables.is_empty() {
        aliases(from_tables(&mut delete.from), &mut names);
    }
    let mut target = |name: &mut ObjectName| -> Result<(), Refusal> {
        match name.0.as_slice() {
            [ObjectNamePart::Identifier(i)] if names.contains(&i.value) => Ok(()),
            _ => v.rewrite(name),
        }
    };
    for t in &mut delete.tables {
        target(t)?;
    }
    if delete.using.is_none() {
        return Ok(None);
    }
    let mut targets = std::mem::take(from_tables(&mut delete.from));
    for t in &mut targets {
        match &mut t.relation {
            TableFactor::Table {
                name, alias: None, ..
            } if t.joins.is_empty() => target(name)?,
            _ => return Err(Refusal::forbidden_construct("this DELETE target list")),
        }
    }
    Ok(Some(targets))
}

/// Rewrites every table reference in `stmt` to its physical database. Returns whether an
/// information_schema view was referenced (the caller then runs [`crate::infoschema`]).
pub(crate) fn rewrite(stmt: &mut Statement, ctx: &SessionContext<'_>) -> Result<bool, Refusal> {
    let allow_info = match stmt {
        Statement::Query(_) => true,
        Statement::Explain { statement, .. } => matches!(statement.as_ref(), Statement::Query(_)),
        _ => false,
    };
    let mut v = Tables {
        ctx,
        scopes: Vec::new(),
        hidden: Vec::new(),
        allow_info,
        info: false,
    };
    let hidden = match stmt {
        Statement::Delete(d) => delete_targets(&mut v, d)?,
        _ => None,
    };
    // SHOW TABLES FROM db names a database, not a table: `show` rewrote it already.
    let show_in = match stmt {
        Statement::ShowTables { show_options, .. } => show_options.show_in.take(),
        _ => None,
    };
    let result = stmt.visit(&mut v);
    match stmt {
        Statement::Delete(d) => {
            if let Some(targets) = hidden {
                *from_tables(&mut d.from) = targets;
            }
        }
        Statement::ShowTables { show_options, .. } => show_options.show_in = show_in,
        _ => {}
    }
    match result {
        ControlFlow::Break(r) => Err(r),
        ControlFlow::Continue(()) => Ok(v.info),
    }
}
