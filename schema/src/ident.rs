//! Identifier and literal quoting, and the validated name of a target database.
//!
//! Every statement this crate renders itself goes through these two functions. Backticks inside
//! a name are doubled (MySQL's only escape inside a quoted identifier); string literals escape
//! `'` and `\` so that they mean the same thing in MySQL's default mode (backslash escapes on).
//! The session that runs them is put in that mode first (see `session`), because under
//! `NO_BACKSLASH_ESCAPES` a `\\` would stay two characters.

use std::fmt;

/// The longest identifier MySQL and MariaDB accept (database, table, column, index names).
pub const MAX_IDENT_LEN: usize = 64;

/// `name` as a quoted identifier: `` `a``b` `` for ``a`b``.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' {
            out.push('`');
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// `schema`.`name`, both quoted.
pub fn qualified(schema: &SchemaName, name: &str) -> String {
    format!("{}.{}", quote_ident(schema.as_str()), quote_ident(name))
}

/// `value` as a single-quoted string literal for a session with backslash escapes on (the
/// default): `'` is doubled, `\` doubled, NUL written `\0`.
pub fn quote_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Why a database name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid database name {name:?}: {reason}")]
pub struct InvalidSchemaName {
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The name of a database (schema) a plan, a snapshot or a workspace is aimed at, validated once:
/// not empty, at most 64 characters, no NUL, no trailing space (MySQL strips it), not a system
/// schema. Tenant databases, test databases and workspaces all pass; `mysql` does not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaName(String);

/// Schemas no plan may ever touch, whatever the caller passes.
const SYSTEM_SCHEMAS: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];

impl SchemaName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<SchemaName, InvalidSchemaName> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("empty")
        } else if name.chars().count() > MAX_IDENT_LEN {
            Some("longer than 64 characters")
        } else if name.contains('\0') {
            Some("contains NUL")
        } else if name.ends_with(' ') {
            Some("ends with a space")
        } else if SYSTEM_SCHEMAS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name.as_str()))
        {
            Some("a system schema")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidSchemaName { name, reason }),
            None => Ok(SchemaName(name)),
        }
    }

    /// The name, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, quoted.
    pub fn quoted(&self) -> String {
        quote_ident(&self.0)
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("t", "`t`")]
    #[case("a`b", "`a``b`")]
    #[case("``", "``````")]
    #[case("sp ace", "`sp ace`")]
    #[case("x'y\"z\\", "`x'y\"z\\`")]
    #[case("é", "`é`")]
    fn quotes_identifiers(#[case] name: &str, #[case] quoted: &str) {
        assert_eq!(quote_ident(name), quoted);
    }

    #[rstest]
    #[case("abc", "'abc'")]
    #[case("it's", "'it''s'")]
    #[case("a\\b", "'a\\\\b'")]
    #[case("\\'", "'\\\\'''")]
    #[case("nul\0", "'nul\\0'")]
    #[case("line\nbreak", "'line\nbreak'")]
    fn quotes_strings(#[case] value: &str, #[case] quoted: &str) {
        assert_eq!(quote_string(value), quoted);
    }

    #[rstest]
    #[case("octodb_it_schema_x", true)]
    #[case("t_acme__shop", true)]
    #[case("a`b", true)]
    #[case("", false)]
    #[case("mysql", false)]
    #[case("INFORMATION_SCHEMA", false)]
    #[case("trailing ", false)]
    #[case("nul\0", false)]
    fn validates_schema_names(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(SchemaName::new(name).is_ok(), ok, "{name:?}");
    }

    #[test]
    fn refuses_names_over_64_characters() {
        assert!(SchemaName::new("a".repeat(64)).is_ok());
        assert!(SchemaName::new("a".repeat(65)).is_err());
    }

    #[test]
    fn qualifies_with_both_parts_quoted() {
        let s = SchemaName::new("d`b").unwrap();
        assert_eq!(qualified(&s, "t`"), "`d``b`.`t```");
    }
}
