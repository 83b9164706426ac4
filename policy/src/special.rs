//! Session statements recognised from tokens, because sqlparser 0.64 cannot parse them or
//! renders them with a different meaning.
//!
//! - `SET [SESSION] TRANSACTION ...`: sqlparser drops `SESSION`, and `SET TRANSACTION` (next
//!   transaction only) means something else in MySQL than `SET SESSION TRANSACTION`.
//! - `START TRANSACTION WITH CONSISTENT SNAPSHOT`, `SET CHARACTER SET cs`,
//!   `SHOW COUNT(*) WARNINGS`: not parsed, or rendered as invalid SQL (`SHOW COUNT WARNINGS`).
//! - `SHOW WARNINGS` / `SHOW ERRORS [LIMIT ...]`: recognised here so their text is canonical.
//!
//! The forwarded text is rebuilt from fixed keywords plus validated numbers and charset names,
//! never copied from the input.

use sqlparser::tokenizer::Token;

use crate::parse::{is_word, keyword};
use crate::set::allowed_charset;
use crate::{Decision, Forward, Refusal, StatementKind};

fn forward(sql: String, kind: StatementKind) -> Option<Result<Decision, Refusal>> {
    Some(Ok(Decision::Forward(Forward::new(sql, kind, false))))
}

/// Recognises the statements above in `tokens` (significant tokens, trailing `;` removed).
/// `None` means "not one of these, parse it normally".
pub(crate) fn recognise(tokens: &[&Token]) -> Option<Result<Decision, Refusal>> {
    // Most statements start with none of these: answer without building the word list.
    let first = tokens.first()?;
    if !["SHOW", "START", "SET"].iter().any(|w| is_word(first, w)) {
        return None;
    }
    let words: Vec<Option<String>> = tokens.iter().map(|t| keyword(t)).collect();
    let w = |i: usize| words.get(i).and_then(|w| w.as_deref());
    match (w(0)?, w(1)) {
        ("SHOW", Some("WARNINGS" | "ERRORS")) => show_warnings(tokens, &words),
        ("SHOW", Some("COUNT")) => show_count(tokens, &words),
        ("START", Some("TRANSACTION")) if plain(&tokens[2..]) => start_transaction(&words[2..]),
        ("SET", Some("CHARACTER")) if w(2) == Some("SET") => set_charset(&tokens[3..]),
        ("SET", Some("CHARSET")) => set_charset(&tokens[2..]),
        ("SET", Some("TRANSACTION")) if plain(&tokens[2..]) => set_transaction("", &words[2..]),
        ("SET", Some("SESSION" | "LOCAL"))
            if w(2) == Some("TRANSACTION") && plain(&tokens[3..]) =>
        {
            set_transaction("SESSION ", &words[3..])
        }
        ("SET", Some("GLOBAL")) if w(2) == Some("TRANSACTION") => {
            Some(Err(Refusal::not_allowed("SET GLOBAL")))
        }
        _ => None,
    }
}

/// Only unquoted words and commas (the shape of transaction modes).
fn plain(tokens: &[&Token]) -> bool {
    tokens
        .iter()
        .all(|t| matches!(t, Token::Comma) || keyword(t).is_some())
}

fn number(token: Option<&&Token>) -> Option<u64> {
    match token {
        Some(Token::Number(n, false)) => n.parse().ok(),
        _ => None,
    }
}

fn show_warnings(tokens: &[&Token], words: &[Option<String>]) -> Option<Result<Decision, Refusal>> {
    let what = words[1].as_deref()?;
    let limit = match &tokens[2..] {
        [] => String::new(),
        [Token::Word(_), n] if words[2].as_deref() == Some("LIMIT") => {
            format!(" LIMIT {}", number(Some(n))?)
        }
        [Token::Word(_), o, Token::Comma, n] if words[2].as_deref() == Some("LIMIT") => {
            format!(" LIMIT {}, {}", number(Some(o))?, number(Some(n))?)
        }
        _ => return None,
    };
    forward(format!("SHOW {what}{limit}"), StatementKind::ShowWarnings)
}

fn show_count(tokens: &[&Token], words: &[Option<String>]) -> Option<Result<Decision, Refusal>> {
    match (&tokens[2..], words.get(5).and_then(|w| w.as_deref())) {
        (
            [Token::LParen, Token::Mul, Token::RParen, Token::Word(_)],
            Some(w @ ("WARNINGS" | "ERRORS")),
        ) => forward(format!("SHOW COUNT(*) {w}"), StatementKind::ShowWarnings),
        _ => None,
    }
}

/// Splits `words` on commas (`None` entries are the non-word tokens; only commas may appear).
fn modes(words: &[Option<String>]) -> Option<Vec<Vec<&str>>> {
    let mut out = vec![Vec::new()];
    for w in words {
        match w.as_deref() {
            Some(w) => out.last_mut()?.push(w),
            None => out.push(Vec::new()),
        }
    }
    Some(out)
}

fn start_transaction(words: &[Option<String>]) -> Option<Result<Decision, Refusal>> {
    let mut text = String::from("START TRANSACTION");
    if !words.is_empty() {
        let mut parts = Vec::new();
        for mode in modes(words)? {
            parts.push(match mode.as_slice() {
                ["WITH", "CONSISTENT", "SNAPSHOT"] => "WITH CONSISTENT SNAPSHOT",
                ["READ", "ONLY"] => "READ ONLY",
                ["READ", "WRITE"] => "READ WRITE",
                _ => return None,
            });
        }
        text.push(' ');
        text.push_str(&parts.join(", "));
    }
    forward(text, StatementKind::Begin)
}

fn set_transaction(scope: &str, words: &[Option<String>]) -> Option<Result<Decision, Refusal>> {
    let mut parts = Vec::new();
    for mode in modes(words)? {
        parts.push(match mode.as_slice() {
            ["ISOLATION", "LEVEL", "READ", "UNCOMMITTED"] => "ISOLATION LEVEL READ UNCOMMITTED",
            ["ISOLATION", "LEVEL", "READ", "COMMITTED"] => "ISOLATION LEVEL READ COMMITTED",
            ["ISOLATION", "LEVEL", "REPEATABLE", "READ"] => "ISOLATION LEVEL REPEATABLE READ",
            ["ISOLATION", "LEVEL", "SERIALIZABLE"] => "ISOLATION LEVEL SERIALIZABLE",
            ["READ", "ONLY"] => "READ ONLY",
            ["READ", "WRITE"] => "READ WRITE",
            _ => return None,
        });
    }
    forward(
        format!("SET {scope}TRANSACTION {}", parts.join(", ")),
        StatementKind::SetSession,
    )
}

fn set_charset(rest: &[&Token]) -> Option<Result<Decision, Refusal>> {
    let name = match rest {
        [Token::Word(w)] => w.value.clone(),
        [Token::SingleQuotedString(s)] | [Token::DoubleQuotedString(s)] => s.clone(),
        _ => return None,
    };
    Some(allowed_charset(&name).map(|charset| {
        Decision::Forward(Forward::new(
            format!("SET CHARACTER SET {charset}"),
            StatementKind::SetNames {
                charset,
                collation: None,
            },
            false,
        ))
    }))
}
