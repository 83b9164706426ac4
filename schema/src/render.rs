//! SQL fragments for plan steps, written from the model (the server's own descriptions) with
//! every name quoted by `quote_ident` and every string by `quote_string`. Expressions
//! (defaults, generated columns, checks) and column types are the server's text from
//! information_schema, written back as they were read.

use crate::ident::{qualified, quote_ident, quote_string, SchemaName};
use crate::model::{Check, Column, ForeignKey, Index, IndexKind, IndexPart};

/// A column definition for ADD COLUMN / CHANGE COLUMN, in the order MariaDB's SHOW CREATE TABLE
/// prints the attributes.
pub(crate) fn column_definition(c: &Column) -> String {
    let mut s = format!("{} {}", quote_ident(&c.name), c.column_type);
    if let (Some(cs), Some(co)) = (&c.charset, &c.collation) {
        s.push_str(&format!(" CHARACTER SET {cs} COLLATE {co}"));
    }
    match &c.generated {
        Some(g) => {
            let storage = if g.stored { "STORED" } else { "VIRTUAL" };
            s.push_str(&format!(
                " GENERATED ALWAYS AS ({}) {storage}",
                g.expression
            ));
        }
        None => s.push_str(if c.nullable { " NULL" } else { " NOT NULL" }),
    }
    if c.invisible {
        s.push_str(" INVISIBLE");
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    if c.auto_increment {
        s.push_str(" AUTO_INCREMENT");
    }
    if let Some(u) = &c.on_update {
        s.push_str(&format!(" ON UPDATE {u}"));
    }
    if !c.comment.is_empty() {
        s.push_str(&format!(" COMMENT {}", quote_string(&c.comment)));
    }
    if let Some(check) = &c.check {
        s.push_str(&format!(" CHECK ({check})"));
    }
    s
}

fn index_part(p: &IndexPart) -> String {
    let mut s = quote_ident(&p.column);
    if let Some(n) = p.sub_part {
        s.push_str(&format!("({n})"));
    }
    if p.descending {
        s.push_str(" DESC");
    }
    s
}

/// An index definition for ADD. `engine` decides whether the index type must be spelled out:
/// HASH is the default on MEMORY tables and an explicit choice (long UNIQUE) elsewhere.
pub(crate) fn index_definition(i: &Index, engine: &str) -> String {
    let parts: Vec<String> = i.parts.iter().map(index_part).collect();
    let parts = parts.join(", ");
    let name = quote_ident(&i.name);
    let mut s = match i.kind {
        IndexKind::Primary => format!("PRIMARY KEY ({parts})"),
        IndexKind::Unique => format!("UNIQUE INDEX {name} ({parts})"),
        IndexKind::Plain => format!("INDEX {name} ({parts})"),
        IndexKind::Fulltext => format!("FULLTEXT INDEX {name} ({parts})"),
        IndexKind::Spatial => format!("SPATIAL INDEX {name} ({parts})"),
    };
    let memory = engine.eq_ignore_ascii_case("MEMORY");
    let explicit = match i.index_type.as_str() {
        "HASH" => !memory,
        "BTREE" => memory,
        _ => false,
    };
    if explicit
        && matches!(
            i.kind,
            IndexKind::Primary | IndexKind::Unique | IndexKind::Plain
        )
    {
        s.push_str(&format!(" USING {}", i.index_type));
    }
    if !i.comment.is_empty() {
        s.push_str(&format!(" COMMENT {}", quote_string(&i.comment)));
    }
    if i.ignored {
        s.push_str(" IGNORED");
    }
    s
}

/// Referential actions the server reports; anything else is written as the default.
const ACTIONS: &[&str] = &["CASCADE", "SET NULL", "NO ACTION", "SET DEFAULT"];

/// A foreign key definition for ADD, its parent qualified with `target`.
pub(crate) fn foreign_key_definition(fk: &ForeignKey, target: &SchemaName) -> String {
    let cols = |list: &[String]| {
        list.iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
        quote_ident(&fk.name),
        cols(&fk.columns),
        qualified(target, &fk.referenced_table),
        cols(&fk.referenced_columns)
    );
    // RESTRICT is the default and SHOW CREATE TABLE leaves it out: so do we.
    if let Some(a) = ACTIONS.iter().find(|a| **a == fk.on_delete) {
        s.push_str(&format!(" ON DELETE {a}"));
    }
    if let Some(a) = ACTIONS.iter().find(|a| **a == fk.on_update) {
        s.push_str(&format!(" ON UPDATE {a}"));
    }
    s
}

/// A table-level CHECK for ADD.
pub(crate) fn check_definition(c: &Check) -> String {
    format!("CONSTRAINT {} CHECK ({})", quote_ident(&c.name), c.clause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Generated;

    fn column() -> Column {
        Column {
            name: "c`x".into(),
            column_type: "varchar(10)".into(),
            nullable: false,
            default: Some("'a''b'".into()),
            auto_increment: false,
            on_update: None,
            invisible: false,
            generated: None,
            charset: Some("utf8mb4".into()),
            collation: Some("utf8mb4_bin".into()),
            comment: "it's \\".into(),
            check: None,
        }
    }

    #[test]
    fn renders_columns() {
        assert_eq!(
            column_definition(&column()),
            "`c``x` varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT 'a''b' \
             COMMENT 'it''s \\\\'"
        );
        let g = Column {
            generated: Some(Generated {
                expression: "`a` + 1".into(),
                stored: true,
            }),
            default: None,
            charset: None,
            collation: None,
            comment: String::new(),
            column_type: "int(11)".into(),
            invisible: true,
            ..column()
        };
        assert_eq!(
            column_definition(&g),
            "`c``x` int(11) GENERATED ALWAYS AS (`a` + 1) STORED INVISIBLE"
        );
        let ts = Column {
            column_type: "timestamp(3)".into(),
            charset: None,
            collation: None,
            comment: String::new(),
            default: Some("current_timestamp(3)".into()),
            on_update: Some("current_timestamp(3)".into()),
            ..column()
        };
        assert_eq!(
            column_definition(&ts),
            "`c``x` timestamp(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3)"
        );
    }

    fn index(kind: IndexKind, index_type: &str) -> Index {
        Index {
            name: "ix".into(),
            kind,
            index_type: index_type.into(),
            parts: vec![
                IndexPart {
                    column: "a".into(),
                    sub_part: Some(10),
                    descending: true,
                },
                IndexPart {
                    column: "b".into(),
                    sub_part: None,
                    descending: false,
                },
            ],
            comment: String::new(),
            ignored: false,
        }
    }

    #[test]
    fn renders_indexes() {
        assert_eq!(
            index_definition(&index(IndexKind::Plain, "BTREE"), "InnoDB"),
            "INDEX `ix` (`a`(10) DESC, `b`)"
        );
        assert_eq!(
            index_definition(&index(IndexKind::Primary, "BTREE"), "InnoDB"),
            "PRIMARY KEY (`a`(10) DESC, `b`)"
        );
        assert_eq!(
            index_definition(&index(IndexKind::Unique, "HASH"), "InnoDB"),
            "UNIQUE INDEX `ix` (`a`(10) DESC, `b`) USING HASH"
        );
        assert_eq!(
            index_definition(&index(IndexKind::Plain, "HASH"), "MEMORY"),
            "INDEX `ix` (`a`(10) DESC, `b`)"
        );
        let mut ft = index(IndexKind::Fulltext, "FULLTEXT");
        ft.comment = "c'".into();
        ft.ignored = true;
        assert_eq!(
            index_definition(&ft, "InnoDB"),
            "FULLTEXT INDEX `ix` (`a`(10) DESC, `b`) COMMENT 'c''' IGNORED"
        );
    }

    #[test]
    fn renders_foreign_keys_qualified_to_the_target() {
        let fk = ForeignKey {
            name: "fk".into(),
            columns: vec!["p_id".into()],
            referenced_table: "p".into(),
            referenced_columns: vec!["id".into()],
            on_update: "RESTRICT".into(),
            on_delete: "CASCADE".into(),
        };
        let target = SchemaName::new("t_acme__shop").unwrap();
        assert_eq!(
            foreign_key_definition(&fk, &target),
            "CONSTRAINT `fk` FOREIGN KEY (`p_id`) REFERENCES `t_acme__shop`.`p` (`id`) ON DELETE CASCADE"
        );
    }
}
