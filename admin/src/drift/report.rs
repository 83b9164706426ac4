//! A drift report in words: each difference between a database's live schema and the schema
//! its recorded version promises, as one item (which table, which column, index, foreign key,
//! check or table options, what was expected and what is there).
//!
//! Items come from the schema engine's diff (live -> desired). A changed element shows up there
//! as a drop plus an add of the same name; here it becomes one `different` item, so that an
//! operator reads "column qty: expected `int(11) NOT NULL DEFAULT 1`, actual `bigint(20)`"
//! rather than two half-stories.

use std::collections::BTreeMap;

use octodb_schema::diff::TableOptions;
use octodb_schema::model::{Check, Column, ForeignKey, Index, IndexKind};
use octodb_schema::{Change, SchemaDiff};
use serde::Serialize;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DriftItem {
    /// `table`, `column`, `index`, `foreign_key`, `check` or `table_options`.
    pub object: &'static str,
    pub table: String,
    /// The column, index, foreign key or check (none for tables and table options).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `missing` (expected, not there), `unexpected` (there, not expected) or `different`.
    pub problem: &'static str,
    /// The expected definition (none when `unexpected`).
    pub expected: Option<String>,
    /// The live definition (none when `missing`).
    pub actual: Option<String>,
}

/// Every difference in `d`, table by table.
pub(crate) fn items(d: &SchemaDiff) -> Vec<DriftItem> {
    let mut out: Vec<DriftItem> = d
        .created
        .iter()
        .map(|t| DriftItem {
            object: "table",
            table: t.name.clone(),
            name: None,
            problem: "missing",
            expected: Some(t.create_sql.clone()),
            actual: None,
        })
        .collect();
    out.extend(d.dropped.iter().map(|t| DriftItem {
        object: "table",
        table: t.name.clone(),
        name: None,
        problem: "unexpected",
        expected: None,
        actual: Some(t.create_sql.clone()),
    }));
    for a in &d.altered {
        out.extend(table_items(&a.table, &a.changes));
    }
    out
}

/// (object, lower-cased name) of an element.
type ElementKey = (&'static str, String);
/// An element's name, live definition and desired definition.
type Pair = (String, Option<String>, Option<String>);

/// (object, name, definition) of a change, and whether it removes (`true`) or adds.
fn element(c: &Change) -> Option<(&'static str, String, String, bool)> {
    Some(match c {
        Change::DropColumn { column } => ("column", column.name.clone(), column_def(column), true),
        Change::AddColumn { column, .. } => {
            ("column", column.name.clone(), column_def(column), false)
        }
        Change::DropIndex { index } => ("index", index.name.clone(), index_def(index), true),
        Change::AddIndex { index } => ("index", index.name.clone(), index_def(index), false),
        Change::DropForeignKey { foreign_key } => (
            "foreign_key",
            foreign_key.name.clone(),
            foreign_key_def(foreign_key),
            true,
        ),
        Change::AddForeignKey { foreign_key } => (
            "foreign_key",
            foreign_key.name.clone(),
            foreign_key_def(foreign_key),
            false,
        ),
        Change::DropCheck { check } => ("check", check.name.clone(), check_def(check), true),
        Change::AddCheck { check } => ("check", check.name.clone(), check_def(check), false),
        Change::ModifyColumn { .. } | Change::Options { .. } => return None,
    })
}

fn table_items(table: &str, changes: &[Change]) -> Vec<DriftItem> {
    let item = |object, name: Option<String>, problem, expected, actual| DriftItem {
        object,
        table: table.to_string(),
        name,
        problem,
        expected,
        actual,
    };
    // Drops and adds of the same element, paired; `order` keeps the first appearance.
    let mut paired: BTreeMap<ElementKey, Pair> = BTreeMap::new();
    let mut order = Vec::new();
    let mut out = Vec::new();
    for c in changes {
        match c {
            Change::ModifyColumn { from, to, position } => {
                let mut expected = column_def(to);
                if let Some(p) = position {
                    expected.push_str(&match p {
                        octodb_schema::diff::Position::First => " FIRST".to_string(),
                        octodb_schema::diff::Position::After(c) => format!(" AFTER `{c}`"),
                    });
                }
                out.push(item(
                    "column",
                    Some(to.name.clone()),
                    "different",
                    Some(expected),
                    Some(column_def(from)),
                ));
            }
            Change::Options { from, to } => out.push(item(
                "table_options",
                None,
                "different",
                Some(options_def(to)),
                Some(options_def(from)),
            )),
            other => {
                let Some((object, name, def, removes)) = element(other) else {
                    continue;
                };
                let key = (object, name.to_ascii_lowercase());
                let entry = paired.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    (name, None, None)
                });
                if removes {
                    entry.1 = Some(def);
                } else {
                    entry.2 = Some(def);
                }
            }
        }
    }
    for key in order {
        let Some((name, actual, expected)) = paired.remove(&key) else {
            continue;
        };
        let problem = match (&actual, &expected) {
            (Some(a), Some(e)) if a == e => continue, // re-created for a retyped column only
            (Some(_), Some(_)) => "different",
            (Some(_), None) => "unexpected",
            _ => "missing",
        };
        out.push(item(key.0, Some(name), problem, expected, actual));
    }
    out
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A column's definition without its name: `int(11) NOT NULL DEFAULT 1`.
fn column_def(c: &Column) -> String {
    let mut s = c.column_type.clone();
    if let (Some(cs), Some(co)) = (&c.charset, &c.collation) {
        s.push_str(&format!(" CHARACTER SET {cs} COLLATE {co}"));
    }
    if let Some(g) = &c.generated {
        let storage = if g.stored { "STORED" } else { "VIRTUAL" };
        s.push_str(&format!(" AS ({}) {storage}", g.expression));
    }
    s.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    if c.auto_increment {
        s.push_str(" AUTO_INCREMENT");
    }
    if let Some(u) = &c.on_update {
        s.push_str(&format!(" ON UPDATE {u}"));
    }
    if c.invisible {
        s.push_str(" INVISIBLE");
    }
    if !c.comment.is_empty() {
        s.push_str(&format!(" COMMENT {}", quote(&c.comment)));
    }
    if let Some(check) = &c.check {
        s.push_str(&format!(" CHECK ({check})"));
    }
    s
}

/// `UNIQUE KEY (a, b(10) DESC)`.
fn index_def(i: &Index) -> String {
    let kind = match i.kind {
        IndexKind::Primary => "PRIMARY KEY",
        IndexKind::Unique => "UNIQUE KEY",
        IndexKind::Plain => "KEY",
        IndexKind::Fulltext => "FULLTEXT KEY",
        IndexKind::Spatial => "SPATIAL KEY",
    };
    let parts: Vec<String> = i
        .parts
        .iter()
        .map(|p| {
            let mut s = format!("`{}`", p.column);
            if let Some(n) = p.sub_part {
                s.push_str(&format!("({n})"));
            }
            if p.descending {
                s.push_str(" DESC");
            }
            s
        })
        .collect();
    let mut s = format!("{kind} ({})", parts.join(", "));
    if !matches!(i.index_type.as_str(), "BTREE" | "FULLTEXT" | "SPATIAL" | "") {
        s.push_str(&format!(" USING {}", i.index_type));
    }
    if !i.comment.is_empty() {
        s.push_str(&format!(" COMMENT {}", quote(&i.comment)));
    }
    if i.ignored {
        s.push_str(" IGNORED");
    }
    s
}

/// `(item_id) REFERENCES items (id) ON DELETE CASCADE ON UPDATE RESTRICT`.
fn foreign_key_def(fk: &ForeignKey) -> String {
    format!(
        "({}) REFERENCES `{}` ({}) ON DELETE {} ON UPDATE {}",
        fk.columns.join(", "),
        fk.referenced_table,
        fk.referenced_columns.join(", "),
        fk.on_delete,
        fk.on_update
    )
}

fn check_def(c: &Check) -> String {
    format!("CHECK ({})", c.clause)
}

/// `ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci ROW_FORMAT=DYNAMIC`.
fn options_def(o: &TableOptions) -> String {
    let mut s = format!(
        "ENGINE={} DEFAULT CHARSET={} COLLATE={}",
        o.engine, o.charset, o.collation
    );
    if !o.comment.is_empty() {
        s.push_str(&format!(" COMMENT={}", quote(&o.comment)));
    }
    for (k, v) in &o.options {
        s.push_str(&format!(" {}={v}", k.to_ascii_uppercase()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use octodb_schema::diff::TableDiff;
    use octodb_schema::model::IndexPart;

    fn column(name: &str, ty: &str, nullable: bool) -> Column {
        Column {
            name: name.into(),
            column_type: ty.into(),
            nullable,
            default: None,
            auto_increment: false,
            on_update: None,
            invisible: false,
            generated: None,
            charset: None,
            collation: None,
            comment: String::new(),
            check: None,
        }
    }

    fn index(name: &str, kind: IndexKind, cols: &[&str]) -> Index {
        Index {
            name: name.into(),
            kind,
            index_type: "BTREE".into(),
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

    #[test]
    fn changes_become_readable_items_with_pairs_merged() {
        let d = SchemaDiff {
            created: Vec::new(),
            dropped: Vec::new(),
            altered: vec![TableDiff {
                table: "items".into(),
                changes: vec![
                    Change::DropIndex {
                        index: index("ix_name", IndexKind::Plain, &["name"]),
                    },
                    Change::DropColumn {
                        column: column("extra", "int(11)", true),
                    },
                    Change::ModifyColumn {
                        from: column("qty", "bigint(20)", true),
                        to: column("qty", "int(11)", false),
                        position: None,
                    },
                    Change::AddIndex {
                        index: index("ix_name", IndexKind::Unique, &["name"]),
                    },
                    Change::AddIndex {
                        index: index("ix_color", IndexKind::Plain, &["color"]),
                    },
                ],
            }],
        };
        let items = items(&d);
        let find = |name: &str| {
            items
                .iter()
                .find(|i| i.name.as_deref() == Some(name))
                .unwrap()
        };
        assert_eq!(items.len(), 4, "{items:?}");
        let qty = find("qty");
        assert_eq!((qty.object, qty.problem), ("column", "different"));
        assert_eq!(qty.expected.as_deref(), Some("int(11) NOT NULL"));
        assert_eq!(qty.actual.as_deref(), Some("bigint(20) NULL"));
        let extra = find("extra");
        assert_eq!(
            (extra.problem, extra.expected.as_deref()),
            ("unexpected", None)
        );
        let ix = find("ix_name");
        assert_eq!((ix.object, ix.problem), ("index", "different"));
        assert_eq!(ix.expected.as_deref(), Some("UNIQUE KEY (`name`)"));
        assert_eq!(ix.actual.as_deref(), Some("KEY (`name`)"));
        let color = find("ix_color");
        assert_eq!((color.problem, color.actual.as_deref()), ("missing", None));
    }
}
