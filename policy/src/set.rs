//! `SET` statements: which session variables a tenant may change.
//!
//! Guards against MySQL's server-wide and persistent settings (`SET GLOBAL`, `@@global.`,
//! `SET PERSIST`), against session variables that change how the server parses or executes
//! later statements (`sql_mode` with `NO_BACKSLASH_ESCAPES` or `ANSI_QUOTES` would make the
//! forwarded text mean something else), and against client character sets in which a byte
//! 0x5C (`\`) can be the second byte of a multi-byte character (gbk, big5, sjis, cp932,
//! gb18030): the classic escaping bypass. Allowed: user variables (`@x`), `autocommit`,
//! `SET NAMES`/`character_set_*`/`collation_*` with safe charsets, transaction isolation and
//! read-only, `time_zone`, `sql_mode` (checked by [`crate::sql_mode`]), timeouts and a few
//! per-session limits and checks ([`SESSION_VARIABLES`]). Each value must have the shape the
//! variable takes (a number, a switch, a name): no expressions that could read anything.

use sqlparser::ast::{ContextModifier, Expr, Ident, ObjectName, Set, Value};

use crate::{Refusal, StatementKind};

/// Character sets in which every byte 0x5C is a backslash (ASCII-compatible, no multi-byte
/// sequence may contain 0x27, 0x5C or 0x22).
const SAFE_CHARSETS: &[&str] = &["utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary"];

/// The canonical (lower-case) name of an allowed client character set.
pub(crate) fn allowed_charset(name: &str) -> Result<String, Refusal> {
    let lower = name.to_ascii_lowercase();
    if SAFE_CHARSETS.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(Refusal::forbidden(format!(
            "character set '{name}' is not allowed through OctoDB: use one of {}",
            SAFE_CHARSETS.join(", ")
        )))
    }
}

fn valid_collation(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Classifies an allowed `SET`, or refuses it.
pub(crate) fn classify(set: &Set) -> Result<StatementKind, Refusal> {
    match set {
        Set::SingleAssignment {
            scope,
            hivevar: false,
            variable,
            values,
        } if values.len() == 1 => assignment(*scope, variable, &values[0]),
        Set::MultipleAssignments { assignments } => {
            for a in assignments {
                if assignment(a.scope, &a.name, &a.value)? != StatementKind::SetSession {
                    return Err(Refusal::forbidden(
                        "autocommit must be set in a SET statement of its own through OctoDB",
                    ));
                }
            }
            Ok(StatementKind::SetSession)
        }
        Set::SetNames {
            charset_name,
            collation_name,
        } => {
            let charset = allowed_charset(&charset_name.value)?;
            let collation = match collation_name {
                Some(c) if valid_collation(c) => Some(c.to_ascii_lowercase()),
                Some(c) => {
                    return Err(Refusal::forbidden(format!(
                        "collation '{c}' is not a valid collation name"
                    )))
                }
                None => None,
            };
            Ok(StatementKind::SetNames { charset, collation })
        }
        Set::SetNamesDefault {} => Err(Refusal::not_allowed("SET NAMES DEFAULT")),
        Set::SetTransaction { .. } => Err(Refusal::not_allowed("this form of SET TRANSACTION")),
        Set::SetRole { .. } => Err(Refusal::not_allowed("SET ROLE")),
        Set::SetTimeZone { .. } => Err(Refusal::not_allowed("SET TIME ZONE")),
        _ => Err(Refusal::not_allowed("this SET statement")),
    }
}

fn ident_parts(name: &ObjectName) -> Option<Vec<&Ident>> {
    name.0.iter().map(|p| p.as_ident()).collect()
}

/// The shape of value a session variable takes.
#[derive(Clone, Copy)]
enum Shape {
    /// A non-negative number (timeouts, limits).
    Number,
    /// 0, 1, ON, OFF, TRUE, FALSE.
    Switch,
    /// A safe character set (or NULL for `character_set_results`).
    Charset,
    /// A collation of a safe character set.
    Collation,
    /// `READ-COMMITTED` and the other isolation levels.
    Isolation,
    /// A time zone name or offset.
    TimeZone,
    /// A locale name (`en_US`).
    Locale,
    /// [`crate::sql_mode`].
    SqlMode,
}

/// The session variables a tenant may set, with the shape of their values.
const SESSION_VARIABLES: &[(&str, Shape)] = &[
    ("character_set_client", Shape::Charset),
    ("character_set_connection", Shape::Charset),
    ("character_set_results", Shape::Charset),
    ("character_set_database", Shape::Charset),
    ("character_set_server", Shape::Charset),
    ("collation_connection", Shape::Collation),
    ("collation_database", Shape::Collation),
    ("collation_server", Shape::Collation),
    ("tx_isolation", Shape::Isolation),
    ("transaction_isolation", Shape::Isolation),
    ("tx_read_only", Shape::Switch),
    ("transaction_read_only", Shape::Switch),
    ("time_zone", Shape::TimeZone),
    ("lc_time_names", Shape::Locale),
    ("sql_mode", Shape::SqlMode),
    ("wait_timeout", Shape::Number),
    ("interactive_timeout", Shape::Number),
    ("net_read_timeout", Shape::Number),
    ("net_write_timeout", Shape::Number),
    ("lock_wait_timeout", Shape::Number),
    ("innodb_lock_wait_timeout", Shape::Number),
    ("max_statement_time", Shape::Number),
    ("max_execution_time", Shape::Number),
    ("sql_select_limit", Shape::Number),
    ("group_concat_max_len", Shape::Number),
    ("max_join_size", Shape::Number),
    ("div_precision_increment", Shape::Number),
    ("sql_auto_is_null", Shape::Switch),
    ("sql_safe_updates", Shape::Switch),
    ("sql_big_selects", Shape::Switch),
    ("sql_notes", Shape::Switch),
    ("sql_warnings", Shape::Switch),
    ("sql_quote_show_create", Shape::Switch),
    ("foreign_key_checks", Shape::Switch),
    ("unique_checks", Shape::Switch),
];

/// One `name = value`.
fn assignment(
    scope: Option<ContextModifier>,
    name: &ObjectName,
    value: &Expr,
) -> Result<StatementKind, Refusal> {
    if scope == Some(ContextModifier::Global) {
        return Err(Refusal::not_allowed("SET GLOBAL"));
    }
    let parts = ident_parts(name).ok_or_else(|| Refusal::not_allowed("this SET statement"))?;
    let lower: Vec<String> = parts.iter().map(|p| p.value.to_ascii_lowercase()).collect();
    let variable = match lower.as_slice() {
        [first, ..] if first == "@@global" => return Err(Refusal::not_allowed("SET GLOBAL")),
        [first, ..] if first.starts_with("@@persist") => {
            return Err(Refusal::not_allowed("SET PERSIST"))
        }
        [scope, var] if scope == "@@session" || scope == "@@local" => var.clone(),
        [var] if var.starts_with("@@") => var[2..].to_string(),
        [var] if var.starts_with('@') && scope.is_none() && parts[0].quote_style.is_none() => {
            return Ok(StatementKind::SetSession);
        }
        [var] if parts[0].quote_style.is_none() => var.clone(),
        _ => return Err(Refusal::not_allowed(&format!("SET {name}"))),
    };
    if variable == "autocommit" {
        return autocommit_value(value).map(StatementKind::SetAutocommit);
    }
    if variable == "password" {
        return Err(Refusal::not_allowed("SET PASSWORD"));
    }
    let Some((_, shape)) = SESSION_VARIABLES.iter().find(|(v, _)| *v == variable) else {
        return Err(Refusal::not_allowed(&format!("SET {variable}")));
    };
    if let Shape::SqlMode = shape {
        crate::sql_mode::check(value)?;
        return Ok(StatementKind::SetSession);
    }
    check_value(*shape, value).map_err(|()| {
        Refusal::forbidden(format!(
            "the value {value} is not allowed for {variable} through OctoDB"
        ))
    })?;
    Ok(StatementKind::SetSession)
}

/// A bare word, a string, or a number, as text.
fn word(value: &Expr) -> Option<&str> {
    match value {
        Expr::Identifier(i) if i.quote_style.is_none() || i.quote_style == Some('`') => {
            Some(&i.value)
        }
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s),
            Value::Number(n, false) => Some(n),
            _ => None,
        },
        _ => None,
    }
}

fn is_default(value: &Expr) -> bool {
    matches!(value, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT"))
}

fn check_value(shape: Shape, value: &Expr) -> Result<(), ()> {
    if is_default(value) {
        return Ok(());
    }
    let is_null = matches!(value, Expr::Value(v) if v.value == Value::Null);
    let text = word(value);
    let ok = match shape {
        Shape::Number => {
            matches!(value, Expr::Value(v) if matches!(&v.value, Value::Number(n, false) if n.bytes().all(|b| b.is_ascii_digit() || b == b'.')))
        }
        Shape::Switch => autocommit_value(value).is_ok(),
        Shape::Charset => is_null || text.is_some_and(|t| allowed_charset(t).is_ok()),
        Shape::Collation => text.is_some_and(safe_collation),
        Shape::Isolation => text.is_some_and(|t| {
            [
                "READ-UNCOMMITTED",
                "READ-COMMITTED",
                "REPEATABLE-READ",
                "SERIALIZABLE",
            ]
            .iter()
            .any(|l| l.eq_ignore_ascii_case(t))
        }),
        Shape::TimeZone => text.is_some_and(|t| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_+-:".contains(&b))
        }),
        Shape::Locale => text.is_some_and(|t| {
            !t.is_empty()
                && t.len() <= 16
                && t.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
        }),
        Shape::SqlMode => false,
    };
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

/// A collation of a safe character set (`utf8mb4_unicode_ci`, `binary`).
fn safe_collation(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    valid_collation(&lower)
        && (lower == "binary"
            || SAFE_CHARSETS
                .iter()
                .any(|c| lower.starts_with(&format!("{c}_"))))
}

fn autocommit_value(value: &Expr) -> Result<bool, Refusal> {
    let on = match value {
        Expr::Value(v) => match &v.value {
            Value::Number(n, false) if n == "1" => Some(true),
            Value::Number(n, false) if n == "0" => Some(false),
            Value::Boolean(b) => Some(*b),
            _ => None,
        },
        Expr::Identifier(i) if i.quote_style.is_none() => {
            match i.value.to_ascii_uppercase().as_str() {
                "ON" => Some(true),
                "OFF" => Some(false),
                _ => None,
            }
        }
        _ => None,
    };
    on.ok_or_else(|| {
        Refusal::forbidden("autocommit can only be set to 0, 1, ON, OFF, TRUE or FALSE")
    })
}
