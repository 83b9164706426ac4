//! Tokenizing and parsing exactly one statement with sqlparser's MySQL dialect.
//!
//! Guards against MySQL's multi-statement mode (`CLIENT_MULTI_STATEMENTS`): a second statement
//! after `;` would run unchecked, so anything after the first `;` other than more `;` is refused
//! before parsing. Statements sqlparser cannot parse are refused with 1064, except those whose
//! leading keyword names a statement kind OctoDB never lets through (LOAD DATA, HANDLER, DO...),
//! which get the clearer 1227.

use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use crate::Refusal;

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

/// The tokens of `sql` (MySQL dialect, string escapes resolved).
pub(crate) fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, Refusal> {
    Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| Refusal::syntax(&e.to_string()))
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
pub(crate) fn check_single(tokens: &[TokenWithSpan]) -> Result<(), Refusal> {
    let sig = significant(tokens);
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
/// refused statement kind (worked out only then, off the hot path).
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
            None => Err(Refusal::syntax(&e.to_string())),
        },
    }
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
    Parser::parse_sql(&MySqlDialect {}, sql).ok()
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

    #[test]
    fn single_statement_rules() {
        let single = |s: &str| check_single(&tokenize(s).ok().unwrap_or_default());
        assert!(single("SELECT 1;").is_ok());
        assert!(single("SELECT 1 ; ;").is_ok());
        assert!(single("SELECT ';'").is_ok());
        assert_eq!(single("SELECT 1; SELECT 2").map_err(|r| r.code), Err(1227));
        assert_eq!(single("").map_err(|r| r.code), Err(1064));
        assert_eq!(single(" ; ").map_err(|r| r.code), Err(1064));
    }
}
