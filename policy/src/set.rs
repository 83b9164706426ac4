//! `SET` statements: which session variables a tenant may change.
//!
//! Guards against MySQL's server-wide and persistent settings (`SET GLOBAL`, `@@global.`,
//! `SET PERSIST`), against session variables that change how the server parses or executes
//! later statements (`sql_mode` with `NO_BACKSLASH_ESCAPES` or `ANSI_QUOTES` would make the
//! forwarded text mean something else), and against client character sets in which a byte
//! 0x5C (`\`) can be the second byte of a multi-byte character (gbk, big5, sjis, cp932,
//! gb18030): the classic escaping bypass. Only `autocommit`, `SET NAMES` with a safe charset and
//! user variables (`@x`) are allowed.

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
    if variable != "autocommit" {
        return Err(Refusal::not_allowed(&format!("SET {variable}")));
    }
    autocommit_value(value).map(StatementKind::SetAutocommit)
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
