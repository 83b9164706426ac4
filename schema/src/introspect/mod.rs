//! Reading a database's schema into a [`SchemaModel`]: information_schema for the definitions
//! (one query per kind of object for the whole database), SHOW CREATE TABLE per table for the
//! text that CREATE steps and restore checks use, and for the server's key order.
//!
//! A rollout reads every database twice (snapshot, verification), so the reads are batched:
//! the five information_schema queries go in one round trip as a multi-statement text query
//! when the schema name is plain (ASCII letters, digits, `_`, `$`: a literal that needs no
//! escaping under any `sql_mode`; other names use one prepared statement per query), and every
//! table's SHOW CREATE TABLE goes in one more round trip.
//!
//! Written against MariaDB 10.11. MySQL 8 differs in ways noted where they matter:
//! `COLUMN_DEFAULT` holds unquoted literals there (and `EXTRA` says `DEFAULT_GENERATED` for
//! expression defaults), `CHECK_CONSTRAINTS` has no `TABLE_NAME`/`LEVEL` (join
//! `TABLE_CONSTRAINTS`), indexes are `IS_VISIBLE` rather than `IGNORED`, and functional key parts
//! appear in `EXPRESSION`.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::ident::{qualified, quote_string, SchemaName};
use crate::model::{
    Check, Column, ForeignKey, Generated, Index, IndexKind, IndexPart, SchemaModel, TableModel,
};
use crate::transient::is_transient;

mod server_text;

use server_text::{order_like_create, parse_create_options, parse_extra};

/// Why a schema could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    /// The server or the connection failed.
    #[error("mysql: {0}")]
    Mysql(mysql_async::Error),

    /// Something this engine does not manage (partitioning, a foreign key to another database,
    /// a column attribute it cannot reproduce).
    #[error("table {table}: {what} is not supported")]
    Unsupported { table: String, what: String },

    /// information_schema returned something unexpected.
    #[error("unexpected information_schema data: {0}")]
    Unexpected(String),
}

impl IntrospectError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            IntrospectError::Mysql(_) => "mysql",
            IntrospectError::Unsupported { .. } => "unsupported",
            IntrospectError::Unexpected(_) => "unexpected",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, IntrospectError::Mysql(e) if is_transient(e))
    }
}

impl From<mysql_async::Error> for IntrospectError {
    fn from(e: mysql_async::Error) -> Self {
        IntrospectError::Mysql(e)
    }
}

/// A database's default character set and collation, which tables declared without one inherit.
/// A workspace must be created with the same defaults as the databases it is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DatabaseDefaults {
    pub charset: String,
    pub collation: String,
}

/// The defaults of `schema`, or `None` when it does not exist.
pub async fn database_defaults(
    conn: &mut Conn,
    schema: &SchemaName,
) -> Result<Option<DatabaseDefaults>, IntrospectError> {
    let row: Option<(String, String)> = conn
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (schema.as_str(),),
        )
        .await?;
    Ok(row.map(|(charset, collation)| DatabaseDefaults { charset, collation }))
}

/// Reads every base table of `schema` (views and sequences are not managed and left out).
pub async fn introspect(
    conn: &mut Conn,
    schema: &SchemaName,
) -> Result<SchemaModel, IntrospectError> {
    let [tables, columns, indexes, foreign_keys, rules, checks] =
        read_definitions(conn, schema).await?;
    let mut tables = read_tables(tables)?;
    read_columns(columns, &mut tables)?;
    read_indexes(indexes, &mut tables)?;
    read_foreign_keys(foreign_keys, rules, schema, &mut tables)?;
    read_checks(checks, &mut tables)?;
    read_create_statements(conn, schema, &mut tables).await?;
    Ok(SchemaModel { tables })
}

/// The information_schema queries, in the order [`introspect`] reads them; `?` is the schema.
/// Each filters its own table by the schema: MariaDB opens only that schema's tables then,
/// whereas a join of KEY_COLUMN_USAGE with REFERENTIAL_CONSTRAINTS on the constraint schema
/// reads every table of the server (50 ms with 2,000 tables, growing with the fleet).
const QUERIES: [&str; 6] = [
    "SELECT t.TABLE_NAME, t.ENGINE, t.TABLE_COLLATION, c.CHARACTER_SET_NAME, \
            t.CREATE_OPTIONS, t.TABLE_COMMENT \
     FROM information_schema.TABLES t \
     LEFT JOIN information_schema.COLLATIONS c ON c.COLLATION_NAME = t.TABLE_COLLATION \
     WHERE t.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'",
    "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
            CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_COMMENT, GENERATION_EXPRESSION \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
     ORDER BY TABLE_NAME, ORDINAL_POSITION",
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, \
            COLLATION, INDEX_TYPE, INDEX_COMMENT, IGNORED \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
     ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, \
            REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
     FROM information_schema.KEY_COLUMN_USAGE \
     WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL \
     ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    "SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE \
     FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
    "SELECT TABLE_NAME, CONSTRAINT_NAME, LEVEL, CHECK_CLAUSE \
     FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? \
     ORDER BY TABLE_NAME, CONSTRAINT_NAME",
];

/// Whether `name` can be written as a string literal without any escaping.
fn plain(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// The rows of every query of [`QUERIES`] for `schema`.
async fn read_definitions(
    conn: &mut Conn,
    schema: &SchemaName,
) -> Result<[Vec<Row>; 6], IntrospectError> {
    let mut out: [Vec<Row>; 6] = Default::default();
    if plain(schema.as_str()) {
        let literal = quote_string(schema.as_str());
        let batch = QUERIES
            .iter()
            .map(|q| q.replacen('?', &literal, 1))
            .collect::<Vec<_>>()
            .join(";\n");
        let mut result = conn.query_iter(batch).await?;
        for rows in out.iter_mut() {
            *rows = result.collect::<Row>().await?;
        }
        result.drop_result().await?;
    } else {
        for (rows, query) in out.iter_mut().zip(QUERIES) {
            *rows = conn.exec(query, (schema.as_str(),)).await?;
        }
    }
    Ok(out)
}

/// Every table's SHOW CREATE TABLE, in one round trip.
async fn read_create_statements(
    conn: &mut Conn,
    schema: &SchemaName,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    if tables.is_empty() {
        return Ok(());
    }
    let batch = tables
        .values()
        .map(|t| format!("SHOW CREATE TABLE {}", qualified(schema, &t.name)))
        .collect::<Vec<_>>()
        .join(";\n");
    let mut result = conn.query_iter(batch).await?;
    for t in tables.values_mut() {
        let rows: Vec<Row> = result.collect().await?;
        let row = rows.first().ok_or_else(|| {
            IntrospectError::Unexpected(format!("no SHOW CREATE TABLE for {}", t.name))
        })?;
        t.create_sql = required(row, 1)?;
        order_like_create(t);
    }
    result.drop_result().await?;
    Ok(())
}

fn text(row: &Row, i: usize) -> Result<Option<String>, IntrospectError> {
    match row.as_ref(i) {
        None | Some(Value::NULL) => Ok(None),
        Some(Value::Bytes(b)) => String::from_utf8(b.clone())
            .map(Some)
            .map_err(|_| IntrospectError::Unexpected(format!("column {i} is not UTF-8"))),
        Some(Value::Int(n)) => Ok(Some(n.to_string())),
        Some(Value::UInt(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(IntrospectError::Unexpected(format!(
            "column {i} holds {other:?}"
        ))),
    }
}

fn required(row: &Row, i: usize) -> Result<String, IntrospectError> {
    text(row, i)?.ok_or_else(|| IntrospectError::Unexpected(format!("column {i} is NULL")))
}

fn read_tables(rows: Vec<Row>) -> Result<BTreeMap<String, TableModel>, IntrospectError> {
    let mut tables = BTreeMap::new();
    for row in rows {
        let name = required(&row, 0)?;
        let options = parse_create_options(&name, &text(&row, 4)?.unwrap_or_default())?;
        tables.insert(
            name.clone(),
            TableModel {
                engine: text(&row, 1)?.unwrap_or_default(),
                collation: text(&row, 2)?.unwrap_or_default(),
                charset: text(&row, 3)?.unwrap_or_default(),
                comment: text(&row, 5)?.unwrap_or_default(),
                options,
                name,
                columns: Vec::new(),
                indexes: Vec::new(),
                foreign_keys: Vec::new(),
                checks: Vec::new(),
                create_sql: String::new(),
            },
        );
    }
    Ok(tables)
}

fn read_columns(
    rows: Vec<Row>,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    for row in rows {
        let table = required(&row, 0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue; // a view's columns
        };
        let name = required(&row, 1)?;
        let extra = parse_extra(&table, &name, &text(&row, 5)?.unwrap_or_default())?;
        let generated = match (extra.generated, text(&row, 9)?) {
            (Some(stored), Some(expression)) => Some(Generated { expression, stored }),
            (None, _) => None,
            (Some(_), None) => {
                return Err(IntrospectError::Unexpected(format!(
                    "generated column {table}.{name} without an expression"
                )))
            }
        };
        t.columns.push(Column {
            name,
            column_type: required(&row, 2)?,
            nullable: required(&row, 3)? == "YES",
            default: if generated.is_some() {
                None
            } else {
                text(&row, 4)?
            },
            auto_increment: extra.auto_increment,
            on_update: extra.on_update,
            invisible: extra.invisible,
            generated,
            charset: text(&row, 6)?,
            collation: text(&row, 7)?,
            comment: text(&row, 8)?.unwrap_or_default(),
            check: None,
        });
    }
    Ok(())
}

fn read_indexes(
    rows: Vec<Row>,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    for row in rows {
        let table = required(&row, 0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let name = required(&row, 1)?;
        let index_type = required(&row, 7)?;
        let part = IndexPart {
            column: required(&row, 4)?,
            sub_part: text(&row, 5)?.and_then(|s| s.parse().ok()),
            descending: text(&row, 6)?.as_deref() == Some("D"),
        };
        if let Some(last) = t.indexes.last_mut().filter(|i| i.name == name) {
            last.parts.push(part);
            continue;
        }
        let kind = if name == "PRIMARY" {
            IndexKind::Primary
        } else if index_type == "FULLTEXT" {
            IndexKind::Fulltext
        } else if index_type == "SPATIAL" {
            IndexKind::Spatial
        } else if required(&row, 2)? == "0" {
            IndexKind::Unique
        } else {
            IndexKind::Plain
        };
        t.indexes.push(Index {
            name,
            kind,
            index_type,
            parts: vec![part],
            comment: text(&row, 8)?.unwrap_or_default(),
            ignored: text(&row, 9)?.as_deref() == Some("YES"),
        });
    }
    Ok(())
}

fn read_foreign_keys(
    rows: Vec<Row>,
    rule_rows: Vec<Row>,
    schema: &SchemaName,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    // (table, constraint) -> (ON UPDATE, ON DELETE)
    let mut rules = std::collections::HashMap::new();
    for row in rule_rows {
        rules.insert(
            (required(&row, 0)?, required(&row, 1)?),
            (required(&row, 2)?, required(&row, 3)?),
        );
    }
    for row in rows {
        let table = required(&row, 0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let name = required(&row, 1)?;
        if required(&row, 3)? != schema.as_str() {
            return Err(IntrospectError::Unsupported {
                table,
                what: format!("foreign key {name} to another database"),
            });
        }
        let (column, referenced) = (required(&row, 2)?, required(&row, 5)?);
        if let Some(fk) = t.foreign_keys.last_mut().filter(|f| f.name == name) {
            fk.columns.push(column);
            fk.referenced_columns.push(referenced);
            continue;
        }
        let (on_update, on_delete) = rules
            .get(&(table.clone(), name.clone()))
            .cloned()
            .ok_or_else(|| {
                IntrospectError::Unexpected(format!("no rules for foreign key {table}.{name}"))
            })?;
        t.foreign_keys.push(ForeignKey {
            name,
            columns: vec![column],
            referenced_table: required(&row, 4)?,
            referenced_columns: vec![referenced],
            on_update,
            on_delete,
        });
    }
    Ok(())
}

fn read_checks(
    rows: Vec<Row>,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    for row in rows {
        let table = required(&row, 0)?;
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let (name, clause) = (required(&row, 1)?, required(&row, 3)?);
        if required(&row, 2)? == "Column" {
            // A column-level check is named after its column.
            match t.columns.iter_mut().find(|c| c.name == name) {
                Some(c) => c.check = Some(clause),
                None => {
                    return Err(IntrospectError::Unexpected(format!(
                        "column check on unknown column {table}.{name}"
                    )))
                }
            }
        } else {
            t.checks.push(Check { name, clause });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn only_plain_names_become_literals() {
        assert!(plain("t_acme__shop"));
        assert!(plain("octodb_ws_1_ab_cd"));
        for name in ["d`b", "a'b", "a\\b", "é", "a b", "a-b"] {
            assert!(!plain(name), "{name:?}");
        }
    }
}
