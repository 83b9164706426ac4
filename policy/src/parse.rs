//! Tokenizing and parsing exactly one statement with sqlparser's MySQL dialect.
//!
//! Guards against MySQL's multi-statement mode (`CLIENT_MULTI_STATEMENTS`): a second statement
//! after `;` would run unchecked, so anything after the first `;` other than more `;` is refused
//! before parsing. Statements sqlparser cannot parse are refused with 1064, except those whose
//! leading keyword names a statement kind OctoDB never lets through (LOAD DATA, HANDLER, DO...),
//! which get the clearer 1227.

use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use crate::{canonical, share_lock, Refusal};

/// Statement keywords that start statements OctoDB never forwards.
const REFUSED_LEADERS: &[&str] = &[
    "ALTER",
    "ANALYZE",
    "BACKUP",
    "BINLOG",
    "CACHE",
    "CALL",
    "CHANGE",
    "CHECK",
    "CHECKSUM",
    "CLONE",
    "CREATE",
    "DEALLOCATE",
    "DESC",
    "DESCRIBE",
    "DO",
    "DROP",
    "EXECUTE",
    "EXPLAIN",
    "FLUSH",
    "GET",
    "GRANT",
    "HANDLER",
    "HELP",
    "IMPORT",
    "INSTALL",
    "KILL",
    "LOAD",
    "LOCK",
    "OPTIMIZE",
    "PREPARE",
    "PURGE",
    "RENAME",
    "REPAIR",
    "RESET",
    "RESIGNAL",
    "RESTART",
    "REVOKE",
    "SHOW",
    "SHUTDOWN",
    "SIGNAL",
    "START",
    "STOP",
    "TABLE",
    "TRUNCATE",
    "UNINSTALL",
    "UNLOCK",
    "XA",
];

/// Leaders after which the second word names the kind too (`CREATE TABLE`, `LOAD DATA`).
const TWO_WORD_LEADERS: &[&str] = &[
    "ALTER",
    "CREATE",
    "DROP",
    "LOAD",
    "LOCK",
    "RENAME",
    "UNLOCK",
    "SHOW",
    "INSTALL",
    "UNINSTALL",
    "START",
    "STOP",
];

/// Words skipped when naming a kind (`CREATE OR REPLACE TEMPORARY TABLE` -> `CREATE TABLE`).
const KIND_NOISE: &[&str] = &[
    "OR",
    "REPLACE",
    "TEMPORARY",
    "UNIQUE",
    "FULLTEXT",
    "SPATIAL",
    "ONLINE",
    "OFFLINE",
    "IGNORE",
    "DEFINER",
    "ALGORITHM",
    "SQL",
    "SECURITY",
    "LOCAL",
    "LOW_PRIORITY",
    "CONCURRENT",
];

/// The tokens of `sql` (MySQL dialect, string escapes resolved), with their locations.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, Refusal> {
    Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| Refusal::syntax(&e.to_string()))
}

/// [`tokenize`] without locations, for the hot path: [`canonical`]'s fast tokenizer where it
/// answers (it yields sqlparser's tokens exactly, or gives up), sqlparser's otherwise.
///
/// Locations only feed error messages, yet sqlparser formats them into every error it
/// builds, including the many it builds and discards while trying alternatives: parsing
/// location-free tokens skips that work. [`parse_one`] rebuilds the located tokens when it
/// has a message to give.
pub(crate) fn tokenize_unlocated(sql: &str) -> Result<Vec<TokenWithSpan>, Refusal> {
    if let Some(tokens) = canonical::tokenize(sql) {
        return Ok(tokens);
    }
    sqlparser_unlocated(sql)
}

/// [`tokenize_unlocated`], with the significant lexemes when [`canonical`] read the text.
pub(crate) fn tokenize_lexed(
    sql: &str,
) -> Result<(Vec<TokenWithSpan>, Option<Vec<canonical::Lex<'_>>>), Refusal> {
    if let Some((tokens, lexemes)) = canonical::tokenize_lexed(sql) {
        return Ok((tokens, Some(lexemes)));
    }
    Ok((sqlparser_unlocated(sql)?, None))
}

fn sqlparser_unlocated(sql: &str) -> Result<Vec<TokenWithSpan>, Refusal> {
    let mut tokens = Vec::new();
    Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location_into_buf_with_mapper(&mut tokens, |t| TokenWithSpan::wrap(t.token))
        .map_err(|e| Refusal::syntax(&e.to_string()))?;
    Ok(tokens)
}

/// The tokens that are not whitespace or comments.
pub(crate) fn significant(tokens: &[TokenWithSpan]) -> Vec<&Token> {
    tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .collect()
}

/// Refuses empty input (1064) and more than one statement (1227). Trailing `;` are fine.
/// `sig` is the [`significant`] tokens.
pub(crate) fn check_single(sig: &[&Token]) -> Result<(), Refusal> {
    let Some(first) = sig.iter().position(|t| **t != Token::SemiColon) else {
        return Err(Refusal::syntax("Query was empty"));
    };
    if first > 0 {
        return Err(Refusal::syntax("a statement cannot start with ';'"));
    }
    if let Some(semi) = sig.iter().position(|t| **t == Token::SemiColon) {
        if sig[semi..].iter().any(|t| **t != Token::SemiColon) {
            return Err(Refusal::multiple_statements());
        }
    }
    Ok(())
}

/// Whether `token` is the unquoted word `upper` (given in upper case), in any case.
pub(crate) fn is_word(token: &Token, upper: &str) -> bool {
    matches!(token, Token::Word(Word { value, quote_style: None, .. })
        if value.eq_ignore_ascii_case(upper))
}

/// An unquoted word, upper-cased.
pub(crate) fn keyword(token: &Token) -> Option<String> {
    match token {
        Token::Word(Word {
            value,
            quote_style: None,
            ..
        }) => Some(value.to_ascii_uppercase()),
        _ => None,
    }
}

/// Names the statement kind from its leading words, if it is one OctoDB never forwards
/// (or `INTO OUTFILE` / `INTO DUMPFILE` anywhere, which sqlparser 0.64 cannot parse).
fn refused_kind(tokens: &[TokenWithSpan]) -> Option<String> {
    let all: Vec<Option<String>> = significant(tokens).into_iter().map(keyword).collect();
    for pair in all.windows(2) {
        if let [Some(into), Some(file @ ("OUTFILE" | "DUMPFILE"))] =
            [&pair[0], &pair[1]].map(|w| w.as_deref())
        {
            if into == "INTO" {
                return Some(format!("INTO {file}"));
            }
        }
    }
    let words: Vec<String> = all.into_iter().map_while(|w| w).collect();
    let first = words.first()?;
    if first == "SET" {
        return match words.get(1).map(String::as_str) {
            Some("GLOBAL") => Some("SET GLOBAL".to_string()),
            Some("PERSIST" | "PERSIST_ONLY") => Some("SET PERSIST".to_string()),
            Some("PASSWORD") => Some("SET PASSWORD".to_string()),
            Some("STATEMENT") => Some("SET STATEMENT ... FOR".to_string()),
            Some("ROLE") => Some("SET ROLE".to_string()),
            Some("DEFAULT") => Some("SET DEFAULT ROLE".to_string()),
            _ => None,
        };
    }
    if first == "START" && words.get(1).map(String::as_str) == Some("TRANSACTION") {
        return None;
    }
    if !REFUSED_LEADERS.contains(&first.as_str()) {
        return None;
    }
    if !TWO_WORD_LEADERS.contains(&first.as_str()) {
        return Some(first.clone());
    }
    match words[1..]
        .iter()
        .find(|w| !KIND_NOISE.contains(&w.as_str()))
    {
        Some(second) => Some(format!("{first} {second}")),
        None => Some(first.clone()),
    }
}

/// Parses the (already checked single) statement.
///
/// `sql` is the text the tokens came from: when parsing fails, its leading words name the
/// refused statement kind, and its located tokens give sqlparser's message with the line and
/// column (both worked out only then, off the hot path).
pub(crate) fn parse_one(tokens: Vec<TokenWithSpan>, sql: &str) -> Result<Statement, Refusal> {
    let parsed = Parser::new(&MySqlDialect {})
        .with_tokens_with_locations(tokens)
        .parse_statements();
    match parsed {
        Ok(mut stmts) if stmts.len() == 1 => Ok(stmts.remove(0)),
        Ok(stmts) if stmts.is_empty() => Err(Refusal::syntax("Query was empty")),
        Ok(_) => Err(Refusal::multiple_statements()),
        Err(e) => match tokenize(sql).ok().as_deref().and_then(refused_kind) {
            Some(kind) => Err(Refusal::not_allowed(&kind)),
            None => Err(Refusal::syntax(
                &located_error(sql).unwrap_or(e).to_string(),
            )),
        },
    }
}

/// The error sqlparser gives for `sql` parsed from located tokens (trailing `LOCK IN SHARE
/// MODE` cut, as [`crate::check`] does), so that the message names the line and column.
fn located_error(sql: &str) -> Option<ParserError> {
    let mut tokens = tokenize(sql).ok()?;
    share_lock::strip(&mut tokens);
    Parser::new(&MySqlDialect {})
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .err()
}

/// Parses a script of statements (for [`crate::parse_schema`]).
pub(crate) fn parse_many(tokens: Vec<TokenWithSpan>) -> Result<Vec<Statement>, Refusal> {
    Parser::new(&MySqlDialect {})
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| Refusal::syntax(&e.to_string()))
}

/// Parses rendered text back (for the round-trip check).
pub(crate) fn reparse(sql: &str) -> Option<Vec<Statement>> {
    let tokens = tokenize_unlocated(sql).ok()?;
    Parser::new(&MySqlDialect {})
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(sql: &str) -> Option<String> {
        refused_kind(&tokenize(sql).ok()?)
    }

    #[test]
    fn kinds_from_leading_words() {
        assert_eq!(
            kind("LOAD DATA INFILE 'x' INTO TABLE t").as_deref(),
            Some("LOAD DATA")
        );
        assert_eq!(
            kind("create or replace view v as select 1").as_deref(),
            Some("CREATE VIEW")
        );
        assert_eq!(kind("HANDLER t OPEN").as_deref(), Some("HANDLER"));
        assert_eq!(kind("SELECT 1"), None);
        assert_eq!(
            kind("SELECT * FROM t INTO OUTFILE '/x'").as_deref(),
            Some("INTO OUTFILE")
        );
    }

    /// The hot path parses tokens without locations; a syntax error still names the line and
    /// column, exactly as parsing the located tokens says (after `LOCK IN SHARE MODE` is cut).
    #[test]
    fn syntax_errors_keep_their_location() {
        for sql in [
            "SELECT * FROM t WHERE )",
            "SELECT 1,\n, 2 FROM t",
            "SELECT a FROM t WHERE (b c LOCK IN SHARE MODE",
        ] {
            let mut fast = tokenize_unlocated(sql).unwrap();
            crate::share_lock::strip(&mut fast);
            let message = parse_one(fast, sql).unwrap_err().message;
            let mut located = tokenize(sql).unwrap();
            crate::share_lock::strip(&mut located);
            let expected = Parser::new(&MySqlDialect {})
                .with_tokens_with_locations(located)
                .parse_statements()
                .unwrap_err()
                .to_string();
            assert!(message.contains(" at Line: "), "{sql}: {message}");
            assert!(
                message.ends_with(&expected),
                "{sql}: {message} vs {expected}"
            );
        }
    }

    #[test]
    fn single_statement_rules() {
        let single = |s: &str| check_single(&significant(&tokenize(s).ok().unwrap_or_default()));
        assert!(single("SELECT 1;").is_ok());
        assert!(single("SELECT 1 ; ;").is_ok());
        assert!(single("SELECT ';'").is_ok());
        assert_eq!(single("SELECT 1; SELECT 2").map_err(|r| r.code), Err(1227));
        assert_eq!(single("").map_err(|r| r.code), Err(1064));
        assert_eq!(single(" ; ").map_err(|r| r.code), Err(1064));
    }
}
