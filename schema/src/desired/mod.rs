//! A desired schema: a set of CREATE TABLE statements, declarative like Skeema (the statements
//! say what the tables should look like; the plan works out how to get there).
//!
//! sqlparser (MySQL dialect) is used to split the text into statements, to refuse everything that
//! is not a plain CREATE TABLE of this schema, and to identify each table's elements for merging.
//! It does not decide whether the DDL is valid: the server does, when the workspace is built, and
//! its own message is what an author sees.

mod element;
mod options;
mod safety;
mod table;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

pub use element::Element;
pub(crate) use element::{constraint_element, foreign_reference, local_columns};
pub use options::{TableOption, TableOptionKey, ALLOWED_ENGINES};
pub use table::DesiredTable;

/// Why a desired schema was refused. Messages are meant for the template's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    /// sqlparser could not read the text.
    #[error("SQL syntax error: {0}")]
    Syntax(String),

    /// A statement other than CREATE TABLE.
    #[error(
        "statement {index} is {found}: a desired schema holds CREATE TABLE statements only \
         (no views, triggers, procedures or other statements)"
    )]
    NotCreateTable { index: usize, found: String },

    /// A name qualified with a schema (the table itself, or a foreign key's target).
    #[error(
        "table {table}: {name} names another schema; a schema may only refer to its own tables"
    )]
    CrossSchema { table: String, name: String },

    /// A clause, option or expression OctoDB does not accept.
    #[error("table {table}: {what} is not supported")]
    Unsupported { table: String, what: String },

    /// An index or constraint without a name.
    #[error(
        "table {table}: {what} needs a name (merges and plans identify indexes and constraints \
         by name)"
    )]
    Unnamed { table: String, what: String },

    /// Two definitions of one table.
    #[error("table {table} is defined twice")]
    DuplicateTable { table: String },

    /// Two definitions of one element within a table.
    #[error("table {table}: {element} is defined twice")]
    Duplicate { table: String, element: String },

    /// The statement would not mean the same once printed again (e.g. backslashes inside
    /// string literals, which sqlparser prints unescaped).
    #[error(
        "table {table}: the definition cannot be reproduced exactly (avoid backslashes in \
         string literals and identifiers)"
    )]
    Unrepresentable { table: String },

    /// A foreign key to a table the (merged) schema does not define.
    #[error("table {table}: foreign key {foreign_key} refers to {referenced}, which the schema does not define")]
    MissingReference {
        table: String,
        foreign_key: String,
        referenced: String,
    },
}

impl DesiredError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DesiredError::Syntax(_) => "syntax",
            DesiredError::NotCreateTable { .. } => "not_create_table",
            DesiredError::CrossSchema { .. } => "cross_schema",
            DesiredError::Unsupported { .. } => "unsupported",
            DesiredError::Unnamed { .. } => "unnamed",
            DesiredError::DuplicateTable { .. } => "duplicate_table",
            DesiredError::Duplicate { .. } => "duplicate",
            DesiredError::Unrepresentable { .. } => "unrepresentable",
            DesiredError::MissingReference { .. } => "missing_reference",
        }
    }
}

/// A set of desired tables, by name (MySQL on Linux compares table names case-sensitively).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredSchema {
    pub(crate) tables: BTreeMap<String, DesiredTable>,
}

impl DesiredSchema {
    /// Reads `sql`: zero or more CREATE TABLE statements separated by `;`.
    pub fn parse(sql: &str) -> Result<DesiredSchema, DesiredError> {
        let statements = Parser::parse_sql(&MySqlDialect {}, sql)
            .map_err(|e| DesiredError::Syntax(e.to_string()))?;
        let mut tables = BTreeMap::new();
        for (i, statement) in statements.into_iter().enumerate() {
            let Statement::CreateTable(ct) = statement else {
                return Err(DesiredError::NotCreateTable {
                    index: i + 1,
                    found: statement_kind(&statement),
                });
            };
            let table = DesiredTable::from_ast(ct)?;
            if tables.contains_key(&table.name) {
                return Err(DesiredError::DuplicateTable { table: table.name });
            }
            tables.insert(table.name.clone(), table);
        }
        Ok(DesiredSchema { tables })
    }

    /// A schema of the given tables (names must be distinct; a later one replaces an earlier).
    pub(crate) fn from_tables(tables: impl IntoIterator<Item = DesiredTable>) -> DesiredSchema {
        DesiredSchema {
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
        }
    }

    /// The tables, by name.
    pub fn tables(&self) -> impl Iterator<Item = &DesiredTable> {
        self.tables.values()
    }

    /// One table.
    pub fn table(&self, name: &str) -> Option<&DesiredTable> {
        self.tables.get(name)
    }

    /// Whether the schema has no table.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The canonical text: every table rendered (unqualified), sorted by name, one statement
    /// per table ending with `;`. Two schemas that differ only in spelling, comments or table
    /// order have the same text.
    pub fn normalized_sql(&self) -> String {
        let mut out = String::new();
        for t in self.tables.values() {
            out.push_str(&t.render(None));
            out.push_str(";\n");
        }
        out
    }

    /// SHA-256 (hex) of [`normalized_sql`](Self::normalized_sql): databases whose desired
    /// schemas have the same key can share one workspace and one plan.
    pub fn key(&self) -> String {
        hex::encode(Sha256::digest(self.normalized_sql().as_bytes()))
    }

    /// Every foreign key must refer to a table of this schema. Checked on a complete (merged)
    /// schema before it is built, because the server's own error for a missing parent
    /// (errno 150) does not say which table is missing.
    pub fn check_references(&self) -> Result<(), DesiredError> {
        for t in self.tables.values() {
            for c in &t.constraints {
                if let Some((referenced, _)) = foreign_reference(c) {
                    if !self.tables.contains_key(&referenced) {
                        let foreign_key = constraint_element(c)
                            .map(|e| e.to_string())
                            .unwrap_or_default();
                        return Err(DesiredError::MissingReference {
                            table: t.name.clone(),
                            foreign_key,
                            referenced,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Table names in an order where every table comes after the tables its foreign keys
    /// refer to, as far as cycles allow (tables in a cycle keep name order). The second value
    /// says whether a cycle exists (then foreign key checks must be off while creating).
    pub(crate) fn creation_order(&self) -> (Vec<String>, bool) {
        let deps: BTreeMap<String, Vec<String>> = self
            .tables
            .values()
            .map(|t| {
                let refs = t
                    .constraints
                    .iter()
                    .filter_map(foreign_reference)
                    .map(|(r, _)| r)
                    .filter(|r| r != &t.name && self.tables.contains_key(r))
                    .collect();
                (t.name.clone(), refs)
            })
            .collect();
        crate::order::dependency_order(&deps)
    }
}

/// A short name for a statement that is not a CREATE TABLE.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(4).collect();
    let take = match words.first().map(|w| w.to_ascii_uppercase()) {
        Some(w) if w == "CREATE" || w == "DROP" || w == "ALTER" => {
            // CREATE [OR REPLACE] VIEW ... : name the object kind, not its name.
            if words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("OR")) {
                4
            } else {
                2
            }
        }
        _ => 1,
    };
    let kind: Vec<&str> = words.into_iter().take(take).collect();
    format!("a {}", kind.join(" ").to_ascii_uppercase())
}

#[cfg(test)]
mod tests;
