//! Reading text the server wrote: `CREATE_OPTIONS`, `EXTRA`, and the key and constraint order
//! of SHOW CREATE TABLE. Nothing here is ever sent back as SQL except through the model.

use std::collections::BTreeMap;

use super::IntrospectError;
use crate::model::TableModel;

/// `CREATE_OPTIONS` (`stats_persistent=0 row_format=COMPACT`) as a map. Options we could not
/// write back (partitioning, engine-defined `` `KEY`='value' `` options) are refused.
pub(super) fn parse_create_options(
    table: &str,
    raw: &str,
) -> Result<BTreeMap<String, String>, IntrospectError> {
    let mut out = BTreeMap::new();
    for item in raw.split_whitespace() {
        let word =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match item.split_once('=') {
            Some((k, v)) if word(k) && word(v) => {
                out.insert(k.to_ascii_lowercase(), v.to_string());
            }
            _ => {
                return Err(IntrospectError::Unsupported {
                    table: table.to_string(),
                    what: format!("the table option {item:?}"),
                })
            }
        }
    }
    Ok(out)
}

/// What MariaDB's `EXTRA` says.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Extra {
    pub(super) auto_increment: bool,
    pub(super) on_update: Option<String>,
    pub(super) invisible: bool,
    /// `Some(stored)` for generated columns.
    pub(super) generated: Option<bool>,
}

/// MariaDB writes `auto_increment, INVISIBLE`, `on update current_timestamp(3)`,
/// `STORED GENERATED`, `VIRTUAL GENERATED`. (MySQL 8: `DEFAULT_GENERATED on update ...`.)
pub(super) fn parse_extra(table: &str, column: &str, raw: &str) -> Result<Extra, IntrospectError> {
    let mut extra = Extra::default();
    for item in raw.split(", ").map(str::trim).filter(|s| !s.is_empty()) {
        let lower = item.to_ascii_lowercase();
        if lower == "auto_increment" {
            extra.auto_increment = true;
        } else if lower == "invisible" {
            extra.invisible = true;
        } else if lower == "stored generated" || lower == "persistent generated" {
            extra.generated = Some(true);
        } else if lower == "virtual generated" {
            extra.generated = Some(false);
        } else if let Some(expr) = lower.strip_prefix("on update ") {
            extra.on_update = Some(expr.to_string());
        } else {
            return Err(IntrospectError::Unsupported {
                table: table.to_string(),
                what: format!("the column attribute {item:?} of {column}"),
            });
        }
    }
    Ok(extra)
}

/// Puts indexes and checks in the order SHOW CREATE TABLE prints them: the server's key order
/// (primary, unique, plain, fulltext; creation order within each kind), which information_schema
/// does not promise. Restores compare that order exactly.
pub(super) fn order_like_create(t: &mut TableModel) {
    let mut keys = Vec::new();
    let mut checks = Vec::new();
    for line in t.create_sql.lines() {
        let line = line.trim_start();
        if line.starts_with("PRIMARY KEY ") {
            keys.push("PRIMARY".to_string());
            continue;
        }
        for prefix in ["UNIQUE KEY ", "KEY ", "FULLTEXT KEY ", "SPATIAL KEY "] {
            if let Some(name) = line.strip_prefix(prefix).and_then(leading_ident) {
                keys.push(name);
            }
        }
        if let Some(rest) = line.strip_prefix("CONSTRAINT ") {
            if let Some(name) = leading_ident(rest) {
                checks.push(name);
            }
        }
    }
    let position =
        |list: &[String], name: &str| list.iter().position(|n| n == name).unwrap_or(usize::MAX);
    t.indexes.sort_by_key(|i| position(&keys, &i.name));
    t.checks.sort_by_key(|c| position(&checks, &c.name));
}

/// The backtick-quoted identifier `s` starts with, unquoted.
fn leading_ident(s: &str) -> Option<String> {
    let mut chars = s.strip_prefix('`')?.chars().peekable();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        if c == '`' {
            if chars.peek() == Some(&'`') {
                chars.next();
                out.push('`');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Check, Index, IndexKind};
    use rstest::rstest;

    #[rstest]
    #[case("", Extra::default())]
    #[case("auto_increment", Extra { auto_increment: true, ..Extra::default() })]
    #[case("auto_increment, INVISIBLE", Extra { auto_increment: true, invisible: true, ..Extra::default() })]
    #[case("on update current_timestamp(3)", Extra { on_update: Some("current_timestamp(3)".into()), ..Extra::default() })]
    #[case("STORED GENERATED, INVISIBLE", Extra { generated: Some(true), invisible: true, ..Extra::default() })]
    #[case("VIRTUAL GENERATED", Extra { generated: Some(false), ..Extra::default() })]
    fn reads_mariadb_extra(#[case] raw: &str, #[case] expected: Extra) {
        assert_eq!(parse_extra("t", "c", raw).unwrap(), expected);
    }

    #[test]
    fn refuses_unknown_extra() {
        assert!(parse_extra("t", "c", "something new").is_err());
    }

    #[test]
    fn reads_create_options() {
        let o = parse_create_options("t", "stats_persistent=0 row_format=COMPACT").unwrap();
        assert_eq!(o.get("row_format").map(String::as_str), Some("COMPACT"));
        assert_eq!(o.get("stats_persistent").map(String::as_str), Some("0"));
        assert!(parse_create_options("t", "partitioned").is_err());
        assert!(parse_create_options("t", "`page_compressed`='ON'").is_err());
        assert!(parse_create_options("t", "").unwrap().is_empty());
    }

    #[rstest]
    #[case("`a` (x)", Some("a"))]
    #[case("`a``b` (x)", Some("a`b"))]
    #[case("`unterminated", None)]
    #[case("plain", None)]
    fn reads_leading_identifiers(#[case] s: &str, #[case] name: Option<&str>) {
        assert_eq!(leading_ident(s).as_deref(), name);
    }

    #[test]
    fn orders_indexes_and_checks_like_show_create() {
        let mut t = TableModel {
            name: "t".into(),
            engine: "InnoDB".into(),
            charset: "utf8mb4".into(),
            collation: "utf8mb4_general_ci".into(),
            comment: String::new(),
            options: BTreeMap::new(),
            columns: Vec::new(),
            indexes: ["zz", "PRIMARY", "ft", "aa"]
                .iter()
                .map(|n| Index {
                    name: n.to_string(),
                    kind: IndexKind::Plain,
                    index_type: "BTREE".into(),
                    parts: Vec::new(),
                    comment: String::new(),
                    ignored: false,
                })
                .collect(),
            foreign_keys: Vec::new(),
            checks: ["c1", "c2"]
                .iter()
                .map(|n| Check {
                    name: n.to_string(),
                    clause: "1".into(),
                })
                .collect(),
            create_sql: "CREATE TABLE `t` (\n  `id` int,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `aa` (`x`),\n  \
                         KEY `zz` (`n`),\n  FULLTEXT KEY `ft` (`b`),\n  CONSTRAINT `c2` CHECK (1),\n  \
                         CONSTRAINT `c1` CHECK (1)\n) ENGINE=InnoDB"
                .into(),
        };
        order_like_create(&mut t);
        let names: Vec<&str> = t.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["PRIMARY", "aa", "zz", "ft"]);
        let checks: Vec<&str> = t.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(checks, ["c2", "c1"]);
    }
}
