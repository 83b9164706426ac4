//! `LOCK IN SHARE MODE` and `FOR SHARE`.
//!
//! Guards against a gap between the two parsers: MariaDB (10.11) takes a shared row lock only
//! with the trailing `LOCK IN SHARE MODE` (it has no `FOR SHARE`), and sqlparser parses only
//! `FOR SHARE`. A trailing `LOCK IN SHARE MODE` is cut from the tokens before parsing, and a
//! plain `FOR SHARE` is taken out of the tree after the checks; the statement is rendered
//! without it (and verified as usual) and the fixed text ` LOCK IN SHARE MODE` appended, which
//! cannot change how the text before it is read.

use sqlparser::ast::{LockType, Statement};
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

use crate::parse::is_word;
use crate::Refusal;

/// The text appended to a statement that takes a shared lock.
pub(crate) const SUFFIX: &str = " LOCK IN SHARE MODE";

/// Cuts a trailing `LOCK IN SHARE MODE` (and trailing `;`) from `tokens`; true if found.
pub(crate) fn strip(tokens: &mut Vec<TokenWithSpan>) -> bool {
    // The last four significant tokens, last first, with their positions.
    let mut last = tokens.iter().enumerate().rev().filter(|(_, t)| {
        !matches!(
            t.token,
            Token::Whitespace(_) | Token::EOF | Token::SemiColon
        )
    });
    let mut lock = 0;
    for word in ["MODE", "SHARE", "IN", "LOCK"] {
        match last.next() {
            Some((i, t)) if is_word(&t.token, word) => lock = i,
            _ => return false,
        }
    }
    tokens.truncate(lock);
    tokens.push(TokenWithSpan::wrap(Token::Whitespace(Whitespace::Space)));
    true
}

/// Takes a plain `FOR SHARE` out of a query; true if it was there. Refuses a shared lock on
/// anything but a query.
pub(crate) fn take(stmt: &mut Statement, stripped: bool) -> Result<bool, Refusal> {
    let Statement::Query(q) = stmt else {
        return if stripped {
            Err(Refusal::syntax("LOCK IN SHARE MODE only applies to SELECT"))
        } else {
            Ok(false)
        };
    };
    let plain_share = matches!(q.locks.as_slice(), [l]
        if l.lock_type == LockType::Share && l.of.is_none() && l.nonblock.is_none());
    if plain_share {
        q.locks.clear();
    }
    if stripped && !q.locks.is_empty() {
        return Err(Refusal::syntax(
            "LOCK IN SHARE MODE after another locking clause",
        ));
    }
    Ok(stripped || plain_share)
}
