//! Small builders for models in unit tests (diff, plan, lint).

use std::collections::BTreeMap;

use crate::model::{
    Check, Column, ForeignKey, Index, IndexKind, IndexPart, SchemaModel, TableModel,
};

pub fn col(name: &str, column_type: &str) -> Column {
    let string = column_type.contains("char") || column_type.contains("text");
    Column {
        name: name.into(),
        column_type: column_type.into(),
        nullable: true,
        default: Some("NULL".into()),
        auto_increment: false,
        on_update: None,
        invisible: false,
        generated: None,
        charset: string.then(|| "utf8mb4".into()),
        collation: string.then(|| "utf8mb4_general_ci".into()),
        comment: String::new(),
        check: None,
    }
}

pub fn not_null(mut c: Column) -> Column {
    c.nullable = false;
    c.default = None;
    c
}

pub fn index(name: &str, kind: IndexKind, cols: &[&str]) -> Index {
    Index {
        name: name.into(),
        kind,
        index_type: match kind {
            IndexKind::Fulltext => "FULLTEXT".into(),
            _ => "BTREE".into(),
        },
        parts: cols
            .iter()
            .map(|c| IndexPart {
                column: c.to_string(),
                sub_part: None,
                descending: false,
            })
            .collect(),
        comment: String::new(),
        ignored: false,
    }
}

pub fn pk(cols: &[&str]) -> Index {
    index("PRIMARY", IndexKind::Primary, cols)
}

pub fn fk(name: &str, cols: &[&str], parent: &str, parent_cols: &[&str]) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        referenced_table: parent.into(),
        referenced_columns: parent_cols.iter().map(|c| c.to_string()).collect(),
        on_update: "RESTRICT".into(),
        on_delete: "RESTRICT".into(),
    }
}

pub fn check(name: &str, clause: &str) -> Check {
    Check {
        name: name.into(),
        clause: clause.into(),
    }
}

/// A table with an `id int(11)` primary key first, then `columns`.
pub fn table(name: &str, columns: Vec<Column>) -> TableModel {
    let mut all = vec![not_null(col("id", "int(11)"))];
    all.extend(columns);
    TableModel {
        name: name.into(),
        engine: "InnoDB".into(),
        charset: "utf8mb4".into(),
        collation: "utf8mb4_general_ci".into(),
        comment: String::new(),
        options: BTreeMap::new(),
        columns: all,
        indexes: vec![pk(&["id"])],
        foreign_keys: Vec::new(),
        checks: Vec::new(),
        create_sql: format!("CREATE TABLE `{name}` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB"),
    }
}

pub fn schema(tables: Vec<TableModel>) -> SchemaModel {
    SchemaModel {
        tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
    }
}
