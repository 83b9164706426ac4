//! The schema model: what a database's tables look like, read from the server, independent of
//! the database's name, so that a workspace and a tenant database compare equal when they are
//! equivalent. Serializable, so that plans and snapshots can be stored in the catalog or a job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every base table of one database, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SchemaModel {
    pub tables: BTreeMap<String, TableModel>,
}

/// One table. Everything but `create_sql` is compared; `AUTO_INCREMENT` counters never are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableModel {
    pub name: String,
    pub engine: String,
    /// Default character set of the table.
    pub charset: String,
    /// Default collation of the table.
    pub collation: String,
    pub comment: String,
    /// Declared options as the server lists them in `CREATE_OPTIONS` (`row_format` ->
    /// `COMPACT`, `stats_persistent` -> `0`), keys lower-cased.
    pub options: BTreeMap<String, String>,
    /// In table order.
    pub columns: Vec<Column>,
    /// In the server's key order (SHOW CREATE TABLE order): PRIMARY first, then unique, ...
    pub indexes: Vec<Index>,
    /// By name.
    pub foreign_keys: Vec<ForeignKey>,
    /// Table-level CHECK constraints, in SHOW CREATE TABLE order (column-level ones belong to
    /// their column).
    pub checks: Vec<Check>,
    /// SHOW CREATE TABLE as the server printed it (its name unqualified). Not compared.
    pub create_sql: String,
}

/// One column, as information_schema describes it (MariaDB spelling: defaults are SQL
/// expressions, `'abc'`, `NULL`, `current_timestamp()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// The full type: `int(10) unsigned`, `varchar(100)`, `enum('a','b')`.
    pub column_type: String,
    pub nullable: bool,
    /// The DEFAULT clause as SQL, `None` when the column has none.
    pub default: Option<String>,
    pub auto_increment: bool,
    /// `ON UPDATE` expression (`current_timestamp(3)`).
    pub on_update: Option<String>,
    pub invisible: bool,
    pub generated: Option<Generated>,
    /// Character set and collation of string columns.
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub comment: String,
    /// A column-level CHECK clause (MariaDB keeps `json_valid(...)` for JSON columns here).
    pub check: Option<String>,
}

/// A generated column's expression and storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    pub expression: String,
    pub stored: bool,
}

/// What an index is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    Primary,
    Unique,
    Plain,
    Fulltext,
    Spatial,
}

/// One index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub kind: IndexKind,
    /// `INDEX_TYPE`: BTREE, HASH (MariaDB long unique, MEMORY tables), FULLTEXT, SPATIAL, RTREE.
    pub index_type: String,
    pub parts: Vec<IndexPart>,
    pub comment: String,
    /// MariaDB 10.6+ `IGNORED` indexes (MySQL 8 calls them invisible).
    pub ignored: bool,
}

/// One part of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPart {
    pub column: String,
    /// Prefix length, for `col(10)`.
    pub sub_part: Option<u32>,
    pub descending: bool,
}

/// A foreign key (always to a table of the same database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
}

/// A table-level CHECK constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub clause: String,
}

impl TableModel {
    /// Whether both describe the same table (everything but `create_sql`).
    pub fn same_definition(&self, other: &TableModel) -> bool {
        let TableModel {
            name,
            engine,
            charset,
            collation,
            comment,
            options,
            columns,
            indexes,
            foreign_keys,
            checks,
            create_sql: _,
        } = self;
        *name == other.name
            && *engine == other.engine
            && *charset == other.charset
            && *collation == other.collation
            && *comment == other.comment
            && *options == other.options
            && *columns == other.columns
            && *indexes == other.indexes
            && *foreign_keys == other.foreign_keys
            && *checks == other.checks
    }

    /// A column by name (case-insensitive, as MySQL compares them).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// An index by name (case-insensitive).
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
    }

    /// Whether the table has a primary key.
    pub fn has_primary_key(&self) -> bool {
        self.indexes.iter().any(|i| i.kind == IndexKind::Primary)
    }
}

impl SchemaModel {
    /// SHA-256 (hex) of everything compared: databases with the same fingerprint have the same
    /// live state, so one plan serves them all.
    pub fn fingerprint(&self) -> String {
        let mut stripped = self.clone();
        for t in stripped.tables.values_mut() {
            t.create_sql.clear();
        }
        // Serializing plain structs and maps cannot fail; an empty digest input would only make
        // the fingerprint useless, never wrong twice the same way.
        let json = serde_json::to_vec(&stripped).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }

    /// Whether both describe the same tables.
    pub fn same_definition(&self, other: &SchemaModel) -> bool {
        self.tables.len() == other.tables.len()
            && self
                .tables
                .iter()
                .all(|(name, t)| other.tables.get(name).is_some_and(|o| t.same_definition(o)))
    }
}

/// SHOW CREATE TABLE text without its `AUTO_INCREMENT=n` table option, which moves with the data
/// and is never part of a schema.
pub fn without_auto_increment(create_sql: &str) -> String {
    let Some(close) = create_sql.rfind("\n)") else {
        return create_sql.to_string();
    };
    let (body, options) = create_sql.split_at(close);
    let kept: Vec<&str> = options
        .split(' ')
        .filter(|w| !w.starts_with("AUTO_INCREMENT="))
        .collect();
    format!("{body}{}", kept.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_the_table_auto_increment_option() {
        let sql =
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) \
                   ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4";
        assert_eq!(
            without_auto_increment(sql),
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
        assert_eq!(without_auto_increment("no table"), "no table");
    }
}
