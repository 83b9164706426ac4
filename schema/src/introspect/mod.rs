//! Reading a database's schema into a [`SchemaModel`]: information_schema for the definitions
//! (one query per kind of object for the whole database), SHOW CREATE TABLE per table for the
//! text that CREATE steps and restore checks use, and for the server's key order.
//!
//! Written against MariaDB 10.11. MySQL 8 differs in ways noted where they matter:
//! `COLUMN_DEFAULT` holds unquoted literals there (and `EXTRA` says `DEFAULT_GENERATED` for
//! expression defaults), `CHECK_CONSTRAINTS` has no `TABLE_NAME`/`LEVEL` (join
//! `TABLE_CONSTRAINTS`), indexes are `IS_VISIBLE` rather than `IGNORED`, and functional key parts
//! appear in `EXPRESSION`.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::ident::{qualified, SchemaName};
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
    let mut tables = read_tables(conn, schema).await?;
    read_columns(conn, schema, &mut tables).await?;
    read_indexes(conn, schema, &mut tables).await?;
    read_foreign_keys(conn, schema, &mut tables).await?;
    read_checks(conn, schema, &mut tables).await?;
    for t in tables.values_mut() {
        let (_, sql): (String, String) = conn
            .query_first(format!("SHOW CREATE TABLE {}", qualified(schema, &t.name)))
            .await?
            .ok_or_else(|| {
                IntrospectError::Unexpected(format!("no SHOW CREATE TABLE for {}", t.name))
            })?;
        t.create_sql = sql;
        order_like_create(t);
    }
    Ok(SchemaModel { tables })
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

async fn read_tables(
    conn: &mut Conn,
    schema: &SchemaName,
) -> Result<BTreeMap<String, TableModel>, IntrospectError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT t.TABLE_NAME, t.ENGINE, t.TABLE_COLLATION, c.CHARACTER_SET_NAME, \
                    t.CREATE_OPTIONS, t.TABLE_COMMENT \
             FROM information_schema.TABLES t \
             LEFT JOIN information_schema.COLLATIONS c ON c.COLLATION_NAME = t.TABLE_COLLATION \
             WHERE t.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'",
            (schema.as_str(),),
        )
        .await?;
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

async fn read_columns(
    conn: &mut Conn,
    schema: &SchemaName,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
                    CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_COMMENT, GENERATION_EXPRESSION \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (schema.as_str(),),
        )
        .await?;
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

async fn read_indexes(
    conn: &mut Conn,
    schema: &SchemaName,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, \
                    COLLATION, INDEX_TYPE, INDEX_COMMENT, IGNORED \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            (schema.as_str(),),
        )
        .await?;
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

async fn read_foreign_keys(
    conn: &mut Conn,
    schema: &SchemaName,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, \
                    k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE \
             FROM information_schema.KEY_COLUMN_USAGE k \
             JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
               ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME \
              AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
             WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            (schema.as_str(),),
        )
        .await?;
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
        t.foreign_keys.push(ForeignKey {
            name,
            columns: vec![column],
            referenced_table: required(&row, 4)?,
            referenced_columns: vec![referenced],
            on_update: required(&row, 6)?,
            on_delete: required(&row, 7)?,
        });
    }
    Ok(())
}

async fn read_checks(
    conn: &mut Conn,
    schema: &SchemaName,
    tables: &mut BTreeMap<String, TableModel>,
) -> Result<(), IntrospectError> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, LEVEL, CHECK_CLAUSE \
             FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME",
            (schema.as_str(),),
        )
        .await?;
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
