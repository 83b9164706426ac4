//! One desired table: its columns, named constraints and allowed options, read from a
//! sqlparser CREATE TABLE, checked, canonicalised and rendered back.
//!
//! What reaches the server is never the author's text: it is this structure rendered again
//! (comments, `/*! executable comments */` and unknown clauses cannot ride along), and every
//! rendering is parsed once more and must give back the same structure. That last check matters
//! because sqlparser's printer does not escape every string the way MySQL reads it (backslashes,
//! quotes after a backslash); anything that would not survive is refused instead of being sent
//! with a different meaning.

use sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use sqlparser::ast::{
    ColumnDef, ColumnOption, CreateTable, CreateTableOptions, Expr, Ident, ObjectName,
    ObjectNamePart, Statement, TableConstraint,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::element::{constraint_element, index_part_column, Element};
use super::options::TableOption;
use super::safety::refused_expression;
use super::DesiredError;
use crate::ident::{qualified, quote_ident, SchemaName};

/// A validated CREATE TABLE of a desired schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredTable {
    pub(crate) name: String,
    pub(crate) columns: Vec<ColumnDef>,
    pub(crate) constraints: Vec<TableConstraint>,
    pub(crate) options: Vec<TableOption>,
}

impl DesiredTable {
    /// The table's name as declared.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Column names in declaration order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.value.as_str()).collect()
    }

    /// The elements this table defines (columns, indexes, foreign keys, checks, options).
    pub fn elements(&self) -> Vec<Element> {
        let mut out: Vec<Element> = self
            .columns
            .iter()
            .map(|c| Element::Column(c.name.value.clone()))
            .collect();
        out.extend(
            self.constraints
                .iter()
                .filter_map(|c| constraint_element(c).ok()),
        );
        out.extend(self.options.iter().map(|o| Element::Option(o.key)));
        out
    }

    /// The statement, with the table name qualified by `schema` when given.
    pub fn render(&self, schema: Option<&SchemaName>) -> String {
        let name = match schema {
            Some(s) => qualified(s, &self.name),
            None => quote_ident(&self.name),
        };
        let items: Vec<String> = self
            .columns
            .iter()
            .map(|c| c.to_string())
            .chain(self.constraints.iter().map(|c| c.to_string()))
            .collect();
        let mut sql = format!("CREATE TABLE {name} (\n  {}\n)", items.join(",\n  "));
        for o in &self.options {
            sql.push(' ');
            sql.push_str(&o.render());
        }
        sql
    }

    /// Reads, checks and canonicalises `ct`, then proves the rendering reads back the same.
    pub(crate) fn from_ast(ct: CreateTable) -> Result<DesiredTable, DesiredError> {
        let table = build(ct)?;
        let rendered = table.render(None);
        let again = reparse(&rendered).and_then(|ct| build(ct).ok());
        if again.as_ref() != Some(&table) {
            return Err(DesiredError::Unrepresentable {
                table: table.name.clone(),
            });
        }
        Ok(table)
    }
}

/// The single statement `sql` holds, if it is a CREATE TABLE.
fn reparse(sql: &str) -> Option<CreateTable> {
    let mut statements = Parser::parse_sql(&MySqlDialect {}, sql).ok()?;
    match (statements.pop(), statements.is_empty()) {
        (Some(Statement::CreateTable(ct)), true) => Some(ct),
        _ => None,
    }
}

/// The table name, which must be unqualified.
fn table_name(name: &ObjectName) -> Result<String, DesiredError> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Ok(i.value.clone()),
        _ => Err(DesiredError::CrossSchema {
            table: name.to_string(),
            name: name.to_string(),
        }),
    }
}

fn build(ct: CreateTable) -> Result<DesiredTable, DesiredError> {
    let name = table_name(&ct.name)?;
    let unsupported = |what: &str| DesiredError::Unsupported {
        table: name.clone(),
        what: what.to_string(),
    };
    if ct.temporary {
        return Err(unsupported("CREATE TEMPORARY TABLE"));
    }
    if ct.or_replace {
        return Err(unsupported("CREATE OR REPLACE"));
    }
    if ct.like.is_some() || ct.clone.is_some() {
        return Err(unsupported("CREATE TABLE ... LIKE"));
    }
    if ct.query.is_some() {
        return Err(unsupported("CREATE TABLE ... AS SELECT"));
    }
    if ct.partition_by.is_some() {
        return Err(unsupported("partitioning"));
    }
    // Anything else sqlparser understood (and we would silently drop) is refused as a whole.
    let mut rest = ct.clone();
    rest.columns = Vec::new();
    rest.constraints = Vec::new();
    rest.table_options = CreateTableOptions::None;
    rest.if_not_exists = false;
    if rest != CreateTableBuilder::new(ct.name.clone()).build() {
        return Err(unsupported(
            "a clause other than columns, keys and table options",
        ));
    }

    let mut seen = std::collections::BTreeSet::new();
    let mut columns = Vec::with_capacity(ct.columns.len());
    for mut col in ct.columns {
        check_column(&name, &col)?;
        let element = Element::Column(col.name.value.clone());
        if !seen.insert(element.key()) {
            return Err(DesiredError::Duplicate {
                table: name.clone(),
                element: element.to_string(),
            });
        }
        quote(&mut col.name);
        columns.push(col);
    }

    let mut constraints = Vec::with_capacity(ct.constraints.len());
    for mut c in ct.constraints {
        let element = constraint_element(&c).map_err(|what| DesiredError::Unnamed {
            table: name.clone(),
            what: what.to_string(),
        })?;
        if !seen.insert(element.key()) {
            return Err(DesiredError::Duplicate {
                table: name.clone(),
                element: element.to_string(),
            });
        }
        check_constraint(&name, &c)?;
        canonicalise(&mut c);
        constraints.push(c);
    }

    let mut options: Vec<TableOption> = Vec::new();
    if let CreateTableOptions::Plain(list) = &ct.table_options {
        for o in list {
            let option = TableOption::from_sql(o).map_err(|what| DesiredError::Unsupported {
                table: name.clone(),
                what,
            })?;
            if options.iter().any(|x| x.key == option.key) {
                return Err(DesiredError::Duplicate {
                    table: name.clone(),
                    element: Element::Option(option.key).to_string(),
                });
            }
            options.push(option);
        }
    } else if ct.table_options != CreateTableOptions::None {
        return Err(unsupported("this form of table options"));
    }

    Ok(DesiredTable {
        name,
        columns,
        constraints,
        options,
    })
}

fn check_column(table: &str, col: &ColumnDef) -> Result<(), DesiredError> {
    for o in &col.options {
        if let ColumnOption::ForeignKey(_) = o.option {
            return Err(DesiredError::Unsupported {
                table: table.to_string(),
                what: format!(
                    "an inline REFERENCES on column {} (declare CONSTRAINT <name> FOREIGN KEY ...)",
                    col.name.value
                ),
            });
        }
    }
    match refused_expression(col) {
        Some(what) => Err(DesiredError::Unsupported {
            table: table.to_string(),
            what: format!("{what} in column {}", col.name.value),
        }),
        None => Ok(()),
    }
}

fn check_constraint(table: &str, c: &TableConstraint) -> Result<(), DesiredError> {
    if let TableConstraint::ForeignKey(fk) = c {
        if fk.foreign_table.0.len() != 1 {
            return Err(DesiredError::CrossSchema {
                table: table.to_string(),
                name: fk.foreign_table.to_string(),
            });
        }
    }
    for part in super::element::index_parts(c) {
        if index_part_column(part).is_none() {
            return Err(DesiredError::Unsupported {
                table: table.to_string(),
                what: format!(
                    "the key part {} (key parts are columns or column prefixes)",
                    part.column.expr
                ),
            });
        }
    }
    match refused_expression(c) {
        Some(what) => Err(DesiredError::Unsupported {
            table: table.to_string(),
            what,
        }),
        None => Ok(()),
    }
}

fn quote(ident: &mut Ident) {
    ident.quote_style = Some('`');
}

fn quote_opt(ident: &mut Option<Ident>) {
    if let Some(i) = ident {
        quote(i);
    }
}

/// Backtick-quotes every name a constraint holds (its own, its key parts, its references), so
/// that two spellings of one definition compare equal.
fn canonicalise(c: &mut TableConstraint) {
    let parts = match c {
        TableConstraint::PrimaryKey(p) => {
            quote_opt(&mut p.name);
            quote_opt(&mut p.index_name);
            &mut p.columns
        }
        TableConstraint::Unique(u) => {
            quote_opt(&mut u.name);
            quote_opt(&mut u.index_name);
            &mut u.columns
        }
        TableConstraint::Index(i) => {
            quote_opt(&mut i.name);
            &mut i.columns
        }
        TableConstraint::FulltextOrSpatial(f) => {
            quote_opt(&mut f.opt_index_name);
            &mut f.columns
        }
        TableConstraint::ForeignKey(fk) => {
            quote_opt(&mut fk.name);
            quote_opt(&mut fk.index_name);
            fk.columns.iter_mut().for_each(quote);
            fk.referred_columns.iter_mut().for_each(quote);
            for part in fk.foreign_table.0.iter_mut() {
                if let ObjectNamePart::Identifier(i) = part {
                    quote(i);
                }
            }
            return;
        }
        TableConstraint::Check(ck) => {
            quote_opt(&mut ck.name);
            return;
        }
        _ => return,
    };
    for part in parts.iter_mut() {
        match &mut part.column.expr {
            Expr::Identifier(i) => quote(i),
            Expr::Function(f) => {
                for p in f.name.0.iter_mut() {
                    if let ObjectNamePart::Identifier(i) = p {
                        quote(i);
                    }
                }
            }
            _ => {}
        }
    }
}
