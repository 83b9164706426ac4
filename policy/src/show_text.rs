//! `SHOW INDEX|INDEXES|KEYS` and `SHOW TABLE STATUS`, recognised from tokens.
//!
//! Guards against the same database exposure as [`crate::show`] for two statements sqlparser
//! 0.64 cannot represent (it reads `SHOW INDEX FROM t` as a variable name and drops the pattern
//! of `SHOW TABLE STATUS ... LIKE`). The forwarded text is rebuilt from fixed keywords, the
//! physical database and table as backtick identifiers (embedded backticks doubled) and the
//! pattern in MySQL escape syntax, never copied from the input. `WHERE` filters are refused.

use sqlparser::tokenizer::{Token, Word};

use crate::parse::{is_word, keyword};
use crate::tables::{current_physical, physical_ident};
use crate::{lexical, render, Decision, Forward, Refusal, SessionContext, StatementKind};

fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// An identifier token: a bare or backtick-quoted word.
fn ident<'t>(token: Option<&&'t Token>) -> Option<&'t Word> {
    match token {
        Some(Token::Word(w)) if matches!(w.quote_style, None | Some('`')) => Some(w),
        _ => None,
    }
}

fn is_from(token: Option<&&Token>) -> bool {
    token
        .and_then(|t| keyword(t))
        .is_some_and(|k| k == "FROM" || k == "IN")
}

fn physical_db(ctx: &SessionContext<'_>, db: Option<&Word>) -> Result<String, Refusal> {
    let ident = match db {
        Some(w) => physical_ident(ctx, &sqlparser::ast::Ident::new(w.value.clone()))?,
        None => current_physical(ctx)?,
    };
    Ok(quoted(&ident.value))
}

fn forward(sql: String) -> Option<Result<Decision, Refusal>> {
    Some(
        lexical::check_rendered(&sql)
            .map(|()| Decision::Forward(Forward::new(sql, StatementKind::Other, true))),
    )
}

fn unsupported(what: &str) -> Option<Result<Decision, Refusal>> {
    Some(Err(Refusal::forbidden(format!(
        "this form of {what} is not supported through OctoDB: use {what} [FROM db]{}",
        if what == "SHOW TABLE STATUS" {
            " [LIKE 'pattern']"
        } else {
            ""
        }
    ))))
}

/// `SHOW {INDEX|INDEXES|KEYS} {FROM|IN} [db.]t [{FROM|IN} db]`.
fn show_index(ctx: &SessionContext<'_>, rest: &[&Token]) -> Option<Result<Decision, Refusal>> {
    const WHAT: &str = "SHOW INDEX";
    if !is_from(rest.first()) {
        return unsupported(WHAT);
    }
    let (db, table, tail) = match &rest[1..] {
        [d, Token::Period, t, tail @ ..] => (ident(Some(d)), ident(Some(t)), tail),
        [t, tail @ ..] => (None, ident(Some(t)), tail),
        [] => return unsupported(WHAT),
    };
    let Some(table) = table else {
        return unsupported(WHAT);
    };
    let db = match tail {
        [] => db,
        [f, d] if db.is_none() && is_from(Some(f)) => match ident(Some(d)) {
            Some(d) => Some(d),
            None => return unsupported(WHAT),
        },
        _ => return unsupported(WHAT),
    };
    let db = match physical_db(ctx, db) {
        Ok(db) => db,
        Err(r) => return Some(Err(r)),
    };
    forward(format!("SHOW INDEX FROM {db}.{}", quoted(&table.value)))
}

/// `SHOW TABLE STATUS [{FROM|IN} db] [LIKE 'pattern']`.
fn table_status(ctx: &SessionContext<'_>, rest: &[&Token]) -> Option<Result<Decision, Refusal>> {
    const WHAT: &str = "SHOW TABLE STATUS";
    let (db, rest) = match rest {
        [f, d, tail @ ..] if is_from(Some(f)) => match ident(Some(d)) {
            Some(d) => (Some(d), tail),
            None => return unsupported(WHAT),
        },
        _ => (None, rest),
    };
    let like = match rest {
        [] => String::new(),
        [l, Token::SingleQuotedString(p) | Token::DoubleQuotedString(p)]
            if keyword(l).as_deref() == Some("LIKE") =>
        {
            format!(" LIKE '{}'", render::escape(p))
        }
        _ => return unsupported(WHAT),
    };
    let db = match physical_db(ctx, db) {
        Ok(db) => db,
        Err(r) => return Some(Err(r)),
    };
    forward(format!("SHOW TABLE STATUS FROM {db}{like}"))
}

/// Recognises the statements above in `tokens` (significant, trailing `;` removed).
pub(crate) fn recognise(
    ctx: &SessionContext<'_>,
    tokens: &[&Token],
) -> Option<Result<Decision, Refusal>> {
    if !is_word(tokens.first()?, "SHOW") {
        return None;
    }
    let w = |i: usize| tokens.get(i).and_then(|t| keyword(t));
    match w(1).as_deref()? {
        "INDEX" | "INDEXES" | "KEYS" => show_index(ctx, &tokens[2..]),
        "TABLE" if w(2).as_deref() == Some("STATUS") => table_status(ctx, &tokens[3..]),
        _ => None,
    }
}
