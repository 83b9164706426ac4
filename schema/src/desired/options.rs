//! Table options of a desired CREATE TABLE: an allow-list, canonical keys, and our own rendering.
//!
//! Why an allow-list: desired DDL comes from templates and tenants but runs as the admin's root
//! user in a workspace. `DATA DIRECTORY`/`INDEX DIRECTORY` write server files, `ENGINE=CONNECT`
//! reads them, `ENGINE=MERGE ... UNION=(...)` and `ENGINE=FEDERATED CONNECTION=...` reach other
//! schemas and servers. Only options that shape a table on its own are accepted.
//!
//! Why our own rendering: sqlparser 0.64 prints a table `COMMENT` without escaping its quotes,
//! and spells keys as written (`CHARACTER SET`, `DEFAULT CHARSET`, `CHARSET`). We keep one key per
//! option and print it ourselves with `quote_string`.

use serde::{Deserialize, Serialize};
use sqlparser::ast::{CommentDef, Expr, SqlOption, Value};

use crate::ident::quote_string;

/// A table option we accept, by its canonical key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TableOptionKey {
    Engine,
    Charset,
    Collate,
    Comment,
    RowFormat,
    AutoIncrement,
    KeyBlockSize,
    StatsPersistent,
    StatsAutoRecalc,
    StatsSamplePages,
    PackKeys,
    Checksum,
    AvgRowLength,
    MinRows,
    MaxRows,
    DelayKeyWrite,
}

/// Storage engines a desired table may name (case-insensitive).
pub const ALLOWED_ENGINES: &[&str] = &["InnoDB", "Aria", "MyISAM", "MEMORY"];

impl TableOptionKey {
    /// The key for an option as sqlparser spells it (`DEFAULT CHARSET`, `ROW_FORMAT`...).
    fn from_written(key: &str) -> Option<TableOptionKey> {
        let key = key
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        let key = key.strip_prefix("DEFAULT ").unwrap_or(&key);
        Some(match key {
            "ENGINE" => TableOptionKey::Engine,
            "CHARSET" | "CHARACTER SET" => TableOptionKey::Charset,
            "COLLATE" => TableOptionKey::Collate,
            "COMMENT" => TableOptionKey::Comment,
            "ROW_FORMAT" => TableOptionKey::RowFormat,
            "AUTO_INCREMENT" => TableOptionKey::AutoIncrement,
            "KEY_BLOCK_SIZE" => TableOptionKey::KeyBlockSize,
            "STATS_PERSISTENT" => TableOptionKey::StatsPersistent,
            "STATS_AUTO_RECALC" => TableOptionKey::StatsAutoRecalc,
            "STATS_SAMPLE_PAGES" => TableOptionKey::StatsSamplePages,
            "PACK_KEYS" => TableOptionKey::PackKeys,
            "CHECKSUM" => TableOptionKey::Checksum,
            "AVG_ROW_LENGTH" => TableOptionKey::AvgRowLength,
            "MIN_ROWS" => TableOptionKey::MinRows,
            "MAX_ROWS" => TableOptionKey::MaxRows,
            "DELAY_KEY_WRITE" => TableOptionKey::DelayKeyWrite,
            _ => return None,
        })
    }

    /// How the key is written when we render it.
    pub fn keyword(self) -> &'static str {
        match self {
            TableOptionKey::Engine => "ENGINE",
            TableOptionKey::Charset => "DEFAULT CHARSET",
            TableOptionKey::Collate => "COLLATE",
            TableOptionKey::Comment => "COMMENT",
            TableOptionKey::RowFormat => "ROW_FORMAT",
            TableOptionKey::AutoIncrement => "AUTO_INCREMENT",
            TableOptionKey::KeyBlockSize => "KEY_BLOCK_SIZE",
            TableOptionKey::StatsPersistent => "STATS_PERSISTENT",
            TableOptionKey::StatsAutoRecalc => "STATS_AUTO_RECALC",
            TableOptionKey::StatsSamplePages => "STATS_SAMPLE_PAGES",
            TableOptionKey::PackKeys => "PACK_KEYS",
            TableOptionKey::Checksum => "CHECKSUM",
            TableOptionKey::AvgRowLength => "AVG_ROW_LENGTH",
            TableOptionKey::MinRows => "MIN_ROWS",
            TableOptionKey::MaxRows => "MAX_ROWS",
            TableOptionKey::DelayKeyWrite => "DELAY_KEY_WRITE",
        }
    }
}

/// One accepted table option. `value` is a bare word or number, except for `Comment` where it
/// is the comment's text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableOption {
    pub key: TableOptionKey,
    pub value: String,
}

impl TableOption {
    /// `KEY=value` as we render it.
    pub fn render(&self) -> String {
        let value = match self.key {
            TableOptionKey::Comment => quote_string(&self.value),
            _ => self.value.clone(),
        };
        format!("{}={value}", self.key.keyword())
    }

    /// Reads one sqlparser option; `Err` carries a message for the tenant.
    pub(crate) fn from_sql(option: &SqlOption) -> Result<TableOption, String> {
        let (key, value) = match option {
            SqlOption::Comment(CommentDef::WithEq(c) | CommentDef::WithoutEq(c)) => {
                (TableOptionKey::Comment, c.clone())
            }
            SqlOption::NamedParenthesizedList(list) if list.values.is_empty() => {
                let key = TableOptionKey::from_written(&list.key.value)
                    .ok_or_else(|| format!("table option {} is not allowed", list.key.value))?;
                let name = list
                    .name
                    .as_ref()
                    .ok_or_else(|| format!("table option {} has no value", list.key.value))?;
                (key, name.value.clone())
            }
            SqlOption::KeyValue { key, value } => {
                let written = key.to_string();
                let key = TableOptionKey::from_written(&written)
                    .ok_or_else(|| format!("table option {written} is not allowed"))?;
                (key, word_value(value)?)
            }
            other => return Err(format!("table option {other} is not allowed")),
        };
        if key != TableOptionKey::Comment && !is_word(&value) {
            return Err(format!(
                "table option {} has an unexpected value {value:?}",
                key.keyword()
            ));
        }
        if key == TableOptionKey::Engine
            && !ALLOWED_ENGINES
                .iter()
                .any(|e| e.eq_ignore_ascii_case(&value))
        {
            return Err(format!(
                "ENGINE={value} is not allowed (allowed: {})",
                ALLOWED_ENGINES.join(", ")
            ));
        }
        Ok(TableOption { key, value })
    }
}

/// The value of `KEY = value` as a bare word (identifier, number, or a quoted word such as
/// `ROW_FORMAT='DYNAMIC'`).
fn word_value(value: &Expr) -> Result<String, String> {
    match value {
        Expr::Identifier(ident) => Ok(ident.value.clone()),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Ok(n.clone()),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            other => Err(format!("unexpected table option value {other}")),
        },
        other => Err(format!("unexpected table option value {other}")),
    }
}

/// Letters, digits and `_` only: safe to print unquoted after `KEY=`.
fn is_word(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("DEFAULT CHARSET", Some(TableOptionKey::Charset))]
    #[case("character  set", Some(TableOptionKey::Charset))]
    #[case("DEFAULT COLLATE", Some(TableOptionKey::Collate))]
    #[case("row_format", Some(TableOptionKey::RowFormat))]
    #[case("DATA DIRECTORY", None)]
    #[case("INDEX DIRECTORY", None)]
    #[case("UNION", None)]
    #[case("CONNECTION", None)]
    fn maps_written_keys(#[case] written: &str, #[case] key: Option<TableOptionKey>) {
        assert_eq!(TableOptionKey::from_written(written), key);
    }

    #[test]
    fn renders_comments_escaped() {
        let o = TableOption {
            key: TableOptionKey::Comment,
            value: "it's a \\ test".into(),
        };
        assert_eq!(o.render(), "COMMENT='it''s a \\\\ test'");
    }

    #[rstest]
    #[case("InnoDB", true)]
    #[case("x y", false)]
    #[case("1;DROP", false)]
    #[case("", false)]
    fn words_are_plain(#[case] value: &str, #[case] ok: bool) {
        assert_eq!(is_word(value), ok);
    }
}
