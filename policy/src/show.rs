//! `SHOW`, `DESCRIBE` and `EXPLAIN`: the read-only introspection ORMs run, in the tenant's view.
//!
//! Guards against MySQL's introspection statements naming databases the tenant does not own:
//! `SHOW TABLES FROM db`, `SHOW COLUMNS FROM t FROM db` and `SHOW CREATE TABLE db.t` would list
//! any database the backend account can see, and without a `FROM` they use the backend
//! connection's default database, which the proxy does not control. So the database is always
//! written out: the named logical database (or the session's current one) becomes its physical
//! name, and the session maps physical names in the result back (`remap_names`).
//!
//! `SHOW DATABASES` is answered by the session from the tenant's logical databases;
//! `SHOW VARIABLES` gets a filter that hides the variables describing the backend host (see
//! [`crate::sysvars`]); `SHOW GLOBAL VARIABLES`, server status and everything else about the
//! server or other sessions is refused. `EXPLAIN` is allowed for statements that are allowed
//! themselves (the inner statement goes through every other pass like a top-level one).

use std::ops::ControlFlow;

use sqlparser::ast::{
    DescribeAlias, Expr, Ident, ObjectName, ObjectNamePart, ShowCreateObject, ShowStatementFilter,
    ShowStatementFilterPosition, ShowStatementIn, ShowStatementInClause, ShowStatementOptions,
    Statement, VisitMut, VisitorMut,
};

use crate::classify::Classified;
use crate::tables::current_physical;
use crate::{render, sysvars, Local, Refusal, SessionContext, StatementKind};

/// Forward an introspection statement whose result names databases.
fn introspect() -> Classified {
    Classified::Forward {
        kind: StatementKind::Other,
        remap_names: true,
    }
}

/// Only plain `[FROM|IN] name [LIKE|WHERE]` options (no Snowflake-style extras).
fn plain_options(o: &ShowStatementOptions) -> Result<(), Refusal> {
    let in_ok = o.show_in.as_ref().is_none_or(|i| {
        i.parent_type.is_none()
            && matches!(
                i.clause,
                ShowStatementInClause::FROM | ShowStatementInClause::IN
            )
    });
    let filter_ok = !matches!(
        o.filter_position,
        Some(ShowStatementFilterPosition::Infix(_))
            | Some(ShowStatementFilterPosition::Suffix(
                ShowStatementFilter::ILike(_) | ShowStatementFilter::NoKeyword(_)
            ))
    );
    if in_ok && filter_ok && o.starts_with.is_none() && o.limit.is_none() && o.limit_from.is_none()
    {
        Ok(())
    } else {
        Err(Refusal::syntax("unsupported SHOW options"))
    }
}

fn like_only(filter: &Option<ShowStatementFilter>) -> Result<Option<String>, Refusal> {
    match filter {
        None => Ok(None),
        Some(ShowStatementFilter::Like(p)) => Ok(Some(p.clone())),
        Some(_) => Err(Refusal::forbidden(
            "only SHOW DATABASES [LIKE 'pattern'] is supported through OctoDB",
        )),
    }
}

/// Classifies the statements of this module; `None` when `stmt` is not one of them.
pub(crate) fn classify(stmt: &Statement) -> Option<Result<Classified, Refusal>> {
    let other = || Classified::Forward {
        kind: StatementKind::Other,
        remap_names: false,
    };
    Some(match stmt {
        Statement::ShowTables {
            terse: false,
            history: false,
            extended: false,
            external: false,
            show_options,
            ..
        } => plain_options(show_options).map(|()| introspect()),
        Statement::ShowColumns {
            extended: false,
            show_options,
            ..
        } => plain_options(show_options).and_then(|()| match &show_options.show_in {
            Some(_) => Ok(other()),
            None => Err(Refusal::syntax("SHOW COLUMNS needs FROM table")),
        }),
        Statement::ShowCreate {
            obj_type: ShowCreateObject::Table | ShowCreateObject::View,
            ..
        } => Ok(introspect()),
        Statement::ShowVariables { global: true, .. } => {
            Err(Refusal::not_allowed("SHOW GLOBAL VARIABLES"))
        }
        Statement::ShowVariables { .. } | Statement::ShowCollation { .. } => Ok(other()),
        Statement::ShowCharset(_) => Ok(other()),
        Statement::ShowDatabases {
            terse: false,
            history: false,
            show_options,
        }
        | Statement::ShowSchemas {
            terse: false,
            history: false,
            show_options,
        } => show_databases(show_options),
        Statement::ExplainTable {
            hive_format: None,
            has_table_keyword: false,
            ..
        } => Ok(other()),
        Statement::Explain {
            describe_alias: DescribeAlias::Explain | DescribeAlias::Describe,
            analyze: false,
            verbose: false,
            query_plan: false,
            estimate: false,
            options: None,
            statement,
            ..
        } => match statement.as_ref() {
            Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_) => Ok(other()),
            inner => Err(Refusal::not_allowed(&format!(
                "EXPLAIN {}",
                crate::classify::kind_name(inner)
            ))),
        },
        _ => return None,
    })
}

fn show_databases(o: &ShowStatementOptions) -> Result<Classified, Refusal> {
    if o.show_in.is_some() || o.starts_with.is_some() || o.limit.is_some() {
        return Err(Refusal::syntax("unsupported SHOW DATABASES options"));
    }
    let filter = match &o.filter_position {
        None => None,
        Some(ShowStatementFilterPosition::Suffix(f)) => Some(f.clone()),
        Some(ShowStatementFilterPosition::Infix(_)) => {
            return Err(Refusal::syntax("unsupported SHOW DATABASES options"))
        }
    };
    let like = like_only(&filter)?;
    Ok(Classified::Local(Local::ShowDatabases { like }))
}

/// `SHOW TABLES` always names its database: the given logical one or the current one, as the
/// physical name. Also renames `Tables_in_<logical>` in a `WHERE` filter to the physical
/// column name MySQL will produce.
fn show_tables(
    options: &mut ShowStatementOptions,
    ctx: &SessionContext<'_>,
) -> Result<(), Refusal> {
    let (logical, physical) = match &options.show_in {
        Some(ShowStatementIn {
            parent_name: Some(name),
            ..
        }) => match name.0.as_slice() {
            [ObjectNamePart::Identifier(db)] => {
                (db.value.clone(), crate::tables::physical_ident(ctx, db)?)
            }
            _ => return Err(Refusal::syntax("SHOW TABLES FROM needs a database name")),
        },
        _ => {
            let current = ctx.current_db.ok_or_else(Refusal::no_database)?;
            (current.to_string(), current_physical(ctx)?)
        }
    };
    if let Some(ShowStatementFilterPosition::Suffix(ShowStatementFilter::Where(expr))) =
        &mut options.filter_position
    {
        let mut v = TablesIn {
            from: format!("tables_in_{}", logical.to_ascii_lowercase()),
            to: format!("Tables_in_{}", physical.value),
        };
        let _ = expr.visit(&mut v);
    }
    options.show_in = Some(ShowStatementIn {
        clause: ShowStatementInClause::FROM,
        parent_type: None,
        parent_name: Some(ObjectName(vec![ObjectNamePart::Identifier(physical)])),
    });
    Ok(())
}

struct TablesIn {
    from: String,
    to: String,
}

impl VisitorMut for TablesIn {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Identifier(i) = expr {
            if i.value.eq_ignore_ascii_case(&self.from) {
                *i = Ident::with_quote('`', self.to.clone());
            }
        }
        ControlFlow::Continue(())
    }
}

/// The rewrites of this module that the generic table pass does not do. `SHOW TABLES`'s
/// database is handled here and hidden from the table pass by [`crate::tables`].
pub(crate) fn rewrite(stmt: &mut Statement, ctx: &SessionContext<'_>) -> Result<(), Refusal> {
    match stmt {
        Statement::ShowTables { show_options, .. } => show_tables(show_options, ctx),
        Statement::ShowCreate { obj_name, .. } => crate::tables::qualify(ctx, obj_name),
        Statement::ShowVariables { filter, .. } => {
            *filter = Some(ShowStatementFilter::Where(sysvars::show_filter(
                filter.take(),
            )?));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether [`escape_patterns`] may change `stmt` (it is one of the SHOW kinds it handles).
pub(crate) fn may_have_patterns(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCollation { .. }
            | Statement::ShowCharset(_)
    )
}

/// Writes `LIKE` patterns of SHOW statements in MySQL escape syntax for rendering (sqlparser
/// keeps them as plain strings, which the literal escaper of [`render`] does not reach).
pub(crate) fn escape_patterns(stmt: &mut Statement) {
    let filter = match stmt {
        Statement::ShowTables { show_options, .. }
        | Statement::ShowColumns { show_options, .. } => match &mut show_options.filter_position {
            Some(ShowStatementFilterPosition::Suffix(f)) => f,
            _ => return,
        },
        Statement::ShowCollation { filter: Some(f) } => f,
        Statement::ShowCharset(c) => match &mut c.filter {
            Some(f) => f,
            None => return,
        },
        _ => return,
    };
    if let ShowStatementFilter::Like(p) = filter {
        *p = render::escape(p);
    }
}
