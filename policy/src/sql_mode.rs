//! `SET sql_mode = ...`: the resulting mode must not change how the server reads SQL text.
//!
//! Guards against MySQL modes under which the forwarded text means something other than the
//! tree the policy approved: `ANSI_QUOTES` (double-quoted strings become identifiers),
//! `NO_BACKSLASH_ESCAPES` (a backslash no longer escapes a quote: the renderer's escaping would
//! end strings early), `PIPES_AS_CONCAT`, `IGNORE_SPACE`, `HIGH_NOT_PRECEDENCE`, and the
//! combination modes that include any of them (`ANSI`, `ORACLE`, `MSSQL`, `DB2`, `POSTGRESQL`,
//! `MAXDB`, `MYSQL323`, `MYSQL40`).
//!
//! `sql_mode = 'a,b'` replaces the whole mode, so the result is exactly the listed modes; each
//! must be a known safe mode. The value may also build on the current mode, which is safe by
//! induction (every earlier change passed this check, and the server default is the
//! operator's): `@@sql_mode` (any scope), `CONCAT(...)`/`CONCAT_WS(...)` of allowed parts, and
//! `REPLACE(mode, 'NAME', '...')` that removes a whole mode name. `DEFAULT` restores the
//! server's default.

use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value};

use crate::Refusal;

/// Modes that do not change how the server tokenizes or parses statements.
const SAFE_MODES: &[&str] = &[
    "ALLOW_INVALID_DATES",
    "EMPTY_STRING_IS_NULL",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "IGNORE_BAD_TABLE_OPTIONS",
    "NO_AUTO_CREATE_USER",
    "NO_AUTO_VALUE_ON_ZERO",
    "NO_DIR_IN_CREATE",
    "NO_ENGINE_SUBSTITUTION",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_UNSIGNED_SUBTRACTION",
    "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE",
    "ONLY_FULL_GROUP_BY",
    "PAD_CHAR_TO_FULL_LENGTH",
    "REAL_AS_FLOAT",
    "SIMULTANEOUS_ASSIGNMENT",
    "STRICT_ALL_TABLES",
    "STRICT_TRANS_TABLES",
    "TIME_ROUND_FRACTIONAL",
    "TRADITIONAL",
];

fn refuse(what: &str) -> Refusal {
    Refusal::forbidden(format!(
        "sql_mode {what} is not allowed through OctoDB: ANSI_QUOTES, NO_BACKSLASH_ESCAPES, \
         PIPES_AS_CONCAT, IGNORE_SPACE, HIGH_NOT_PRECEDENCE and the modes that include them \
         (ANSI, ORACLE, MSSQL, DB2, POSTGRESQL, MAXDB, MYSQL323, MYSQL40) change how SQL is read"
    ))
}

/// Checks a comma-separated list of mode names.
fn check_list(list: &str) -> Result<(), Refusal> {
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !SAFE_MODES.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            return Err(refuse(&format!("'{name}'")));
        }
    }
    Ok(())
}

fn string(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn is_current_mode(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(i) => i.value.eq_ignore_ascii_case("@@sql_mode"),
        Expr::CompoundIdentifier(p) => {
            p.len() == 2
                && ["@@session", "@@local", "@@global"]
                    .iter()
                    .any(|s| p[0].value.eq_ignore_ascii_case(s))
                && p[1].value.eq_ignore_ascii_case("sql_mode")
        }
        _ => false,
    }
}

fn args(expr: &Expr) -> Option<(String, Vec<&Expr>)> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let [part] = f.name.0.as_slice() else {
        return None;
    };
    let name = part.as_ident()?.value.to_ascii_uppercase();
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    if f.over.is_some() || f.filter.is_some() || !list.clauses.is_empty() {
        return None;
    }
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((name, args))
}

/// Checks the value of `SET sql_mode = value`.
pub(crate) fn check(value: &Expr) -> Result<(), Refusal> {
    if let Some(s) = string(value) {
        return check_list(s);
    }
    if is_current_mode(value) {
        return Ok(());
    }
    match value {
        Expr::Identifier(i) if i.quote_style.is_none() => {
            if i.value.eq_ignore_ascii_case("DEFAULT") {
                Ok(())
            } else {
                check_list(&i.value)
            }
        }
        Expr::Nested(inner) => check(inner),
        _ => match args(value) {
            Some((name, parts)) if name == "CONCAT" || name == "CONCAT_WS" => {
                parts.into_iter().try_for_each(check)
            }
            Some((name, parts)) if name == "REPLACE" => match parts.as_slice() {
                [mode, from, to] => {
                    check(mode)?;
                    let whole = string(from).is_some_and(|f| {
                        SAFE_MODES
                            .iter()
                            .any(|m| m.eq_ignore_ascii_case(f.trim_matches(',')))
                    });
                    if !whole {
                        return Err(refuse("REPLACE of anything but a whole mode name"));
                    }
                    check(to)
                }
                _ => Err(refuse("with this expression")),
            },
            _ => Err(refuse("with this expression")),
        },
    }
}
