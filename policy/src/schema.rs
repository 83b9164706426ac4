//! Schema scripts for the operator CLI: CREATE TABLE statements run with a tenant's physical
//! database as the default database.
//!
//! Guards against a schema script reaching outside that database: only `CREATE TABLE` is
//! accepted, and no table name may be qualified, neither the created table nor a FOREIGN KEY
//! ... REFERENCES target (MySQL would create the table, or point the key, in whatever database
//! the qualifier names). `CREATE TABLE ... LIKE` / `AS SELECT` / temporary tables, executable
//! comments and denied functions in defaults are refused. Each statement is returned rendered
//! the same safe way as forwarded statements (re-parsed and compared).

use std::ops::ControlFlow;

use sqlparser::ast::{
    ColumnOption, CommentDef, CreateTable, CreateTableOptions, ObjectName, SqlOption, Statement,
    TableConstraint, Visit, Visitor,
};

use crate::{classify, lexical, parse, render, shape, Refusal};

struct Unqualified;

impl Visitor for Unqualified {
    type Break = Refusal;

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Refusal> {
        unqualified(relation).map_or_else(ControlFlow::Break, ControlFlow::Continue)
    }
}

fn unqualified(name: &ObjectName) -> Result<(), Refusal> {
    match name.0.as_slice() {
        [part] if part.as_ident().is_some() => Ok(()),
        _ => Err(Refusal::forbidden(format!(
            "schema scripts may not qualify table names: {name}"
        ))),
    }
}

fn check_create(create: &CreateTable) -> Result<(), Refusal> {
    if create.temporary || create.or_replace || create.like.is_some() || create.clone.is_some() {
        return Err(Refusal::not_allowed("this form of CREATE TABLE"));
    }
    if create.query.is_some() {
        return Err(Refusal::not_allowed("CREATE TABLE ... AS SELECT"));
    }
    unqualified(&create.name)?;
    for constraint in &create.constraints {
        if let TableConstraint::ForeignKey(fk) = constraint {
            unqualified(&fk.foreign_table)?;
        }
    }
    for column in &create.columns {
        for option in &column.options {
            if let ColumnOption::ForeignKey(fk) = &option.option {
                unqualified(&fk.foreign_table)?;
            }
        }
    }
    Ok(())
}

/// Writes column and table comments in MySQL escape syntax (see [`render`]).
fn escape_comments(stmt: &mut Statement) {
    let Statement::CreateTable(create) = stmt else {
        return;
    };
    for column in &mut create.columns {
        for option in &mut column.options {
            if let ColumnOption::Comment(c) = &mut option.option {
                *c = render::escape(c);
            }
        }
    }
    let (CreateTableOptions::With(options)
    | CreateTableOptions::Options(options)
    | CreateTableOptions::Plain(options)
    | CreateTableOptions::TableProperties(options)) = &mut create.table_options
    else {
        return;
    };
    for option in options {
        if let SqlOption::Comment(CommentDef::WithEq(c) | CommentDef::WithoutEq(c)) = option {
            *c = render::escape(c);
        }
    }
}

/// Parses a script of CREATE TABLE statements (MySQL dialect) and returns each statement
/// rendered safely, in order. Anything else, or any qualified table name, is refused.
pub fn parse_schema(sql: &str) -> Result<Vec<String>, Refusal> {
    let comments = lexical::check_raw(sql)?;
    let tokens = parse::tokenize(sql)?;
    lexical::check_tokens(sql, &tokens, comments)?;
    crate::depth::check_tokens(&parse::significant(&tokens))?;
    let statements = parse::parse_many(tokens)?;
    let mut out = Vec::with_capacity(statements.len());
    for stmt in &statements {
        let Statement::CreateTable(create) = stmt else {
            return Err(Refusal::not_allowed(&classify::kind_name(stmt)));
        };
        check_create(create)?;
        if let ControlFlow::Break(r) = stmt.visit(&mut Unqualified) {
            return Err(r);
        }
        shape::check(stmt, false)?;
        out.push(render::render_with(stmt, true, escape_comments, None)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_tables_render() {
        let out = parse_schema(
            "CREATE TABLE a (id INT PRIMARY KEY);\n\
             CREATE TABLE b (id INT, a_id INT, FOREIGN KEY (a_id) REFERENCES a (id));",
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[1].contains("REFERENCES a(id)"), "{}", out[1]);
    }

    #[test]
    fn comments_and_defaults_with_quotes_and_backslashes() {
        let out = parse_schema(
            r"CREATE TABLE a (id INT COMMENT 'a\\b''c', s VARCHAR(10) DEFAULT 'x''y') COMMENT = 'it''s\\'",
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                r"CREATE TABLE a (id INT COMMENT 'a\\b\'c', s VARCHAR(10) DEFAULT 'x\'y') COMMENT = 'it\'s\\'"
            ]
        );
    }

    #[test]
    fn qualified_and_other_statements_refused() {
        let code = |s: &str| parse_schema(s).map_err(|r| r.code);
        assert_eq!(code("CREATE TABLE other.a (id INT)"), Err(1227));
        assert_eq!(
            code("CREATE TABLE b (a_id INT, FOREIGN KEY (a_id) REFERENCES mysql.user (id))"),
            Err(1227)
        );
        assert_eq!(
            code("CREATE TABLE b (a_id INT REFERENCES other.a (id))"),
            Err(1227)
        );
        assert_eq!(code("CREATE TABLE a (id INT); DROP TABLE a"), Err(1227));
        assert_eq!(code("CREATE TABLE a LIKE other.b"), Err(1227));
        assert_eq!(code("CREATE TABLE a AS SELECT * FROM other.b"), Err(1227));
        assert_eq!(
            code("/*!40101 SET NAMES utf8 */; CREATE TABLE a (id INT)"),
            Err(1227)
        );
    }
}
