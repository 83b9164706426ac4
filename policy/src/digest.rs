//! Statement digests: the shape of a statement without its values, so that the proxy can count
//! and time "the same query" however its literals vary.
//!
//! Why from tokens and here: the policy has already tokenized the tenant's own text (logical
//! names, before any rewrite), and a decision is cached per distinct text, so the digest is
//! computed once per text and reaches every execution through the cached decision. Working on
//! tokens rather than the syntax tree keeps it cheap and lets it describe statements that are
//! recognised from tokens alone (`special`, `show_text`).
//!
//! The normal form: literals (numbers, strings, hex and bit values, TRUE/FALSE) and
//! placeholders become `?` (a minus sign directly in front of a number too, where it cannot
//! be a subtraction); a list of `?` after `IN` becomes `(...)`; repeated identical rows after
//! `VALUES` become one; comments and whitespace go; keywords are upper-cased; identifiers keep
//! their spelling (backticks where they were quoted); tokens are separated by single spaces
//! (none around `.`, inside parentheses, before `,`, nor between a name and its argument list).
//! The 64-bit hash (FNV-1a of the full normal form) is stable across processes and builds, so
//! proxies can add up their counts per digest in the catalog.

use std::borrow::Cow;

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Word};

/// Longest digest text kept, in bytes; longer ones are cut (at a character boundary) and end
/// with `...`. The hash covers the whole normal form.
pub const MAX_DIGEST_TEXT: usize = 2048;

/// A statement's normal form and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// The normal form (see the module documentation), at most [`MAX_DIGEST_TEXT`] bytes plus
    /// `...`.
    pub text: String,
    /// FNV-1a (64-bit) of the full normal form.
    pub hash: u64,
}

impl Digest {
    /// The digest of a statement given as its significant tokens (no whitespace or comments;
    /// trailing `;` are ignored).
    pub(crate) fn of_tokens(tokens: &[&Token]) -> Digest {
        let pieces = pieces(tokens);
        let mut text = String::with_capacity(tokens.len() * 6);
        render(&collapse(&pieces), &mut text);
        let hash = fnv1a(text.as_bytes());
        if text.len() > MAX_DIGEST_TEXT {
            let mut cut = MAX_DIGEST_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        Digest { text, hash }
    }

    /// The digest of the empty statement, shared: what a [`crate::Forward`] built outside
    /// `check` carries until it is given its own.
    pub(crate) fn unset() -> std::sync::Arc<Digest> {
        static UNSET: std::sync::OnceLock<std::sync::Arc<Digest>> = std::sync::OnceLock::new();
        UNSET
            .get_or_init(|| {
                std::sync::Arc::new(Digest {
                    text: String::new(),
                    hash: fnv1a(b""),
                })
            })
            .clone()
    }

    /// The digest of raw statement text: tokenized with sqlparser's MySQL tokenizer; text it
    /// cannot tokenize is digested as its whitespace-collapsed self.
    pub fn of_text(sql: &str) -> Digest {
        match crate::parse::tokenize_unlocated(sql) {
            Ok(tokens) => Digest::of_tokens(&crate::parse::significant(&tokens)),
            Err(_) => {
                let text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                let hash = fnv1a(text.as_bytes());
                Digest { text, hash }
            }
        }
    }
}

/// FNV-1a, 64-bit: stable everywhere (unlike the standard library's hasher), cheap on short
/// text, and collisions only merge two digests' statistics.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One element of the normal form, borrowing from the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    /// A literal or placeholder: `?`.
    Value,
    /// `(...)`: a collapsed list of values.
    List,
    /// A keyword (written upper-cased).
    Keyword(&'a str, Keyword),
    /// An unquoted identifier or variable, as written.
    Name(&'a str),
    /// A quoted identifier (without its backticks).
    Quoted(&'a str),
    LParen,
    RParen,
    Comma,
    Period,
    /// Any other operator, as sqlparser spells it.
    Op(Cow<'static, str>),
}

/// Keywords written upper-cased: SQL's reserved words and the common functions. sqlparser
/// knows many more words as keywords (`ID`, `NAME`, `STATUS`...), which are usually column
/// names and keep their spelling.
fn upper_cased(k: Keyword) -> bool {
    matches!(
        k,
        Keyword::ALL
            | Keyword::AND
            | Keyword::ANY
            | Keyword::AS
            | Keyword::ASC
            | Keyword::AVG
            | Keyword::BEGIN
            | Keyword::BETWEEN
            | Keyword::BINARY
            | Keyword::BY
            | Keyword::CASE
            | Keyword::CAST
            | Keyword::CHAIN
            | Keyword::CHARACTER
            | Keyword::COALESCE
            | Keyword::COLLATE
            | Keyword::COLUMNS
            | Keyword::COMMIT
            | Keyword::CONVERT
            | Keyword::COUNT
            | Keyword::CROSS
            | Keyword::CURRENT
            | Keyword::DATABASE
            | Keyword::DATABASES
            | Keyword::DEFAULT
            | Keyword::DELETE
            | Keyword::DESC
            | Keyword::DESCRIBE
            | Keyword::DISTINCT
            | Keyword::DIV
            | Keyword::DUPLICATE
            | Keyword::ELSE
            | Keyword::END
            | Keyword::ESCAPE
            | Keyword::EXISTS
            | Keyword::EXPLAIN
            | Keyword::FALSE
            | Keyword::FIELDS
            | Keyword::FOR
            | Keyword::FROM
            | Keyword::FULL
            | Keyword::GLOBAL
            | Keyword::GROUP
            | Keyword::HAVING
            | Keyword::HIGH_PRIORITY
            | Keyword::IF
            | Keyword::IGNORE
            | Keyword::IN
            | Keyword::INDEX
            | Keyword::INNER
            | Keyword::INSERT
            | Keyword::INTERVAL
            | Keyword::INTO
            | Keyword::IS
            | Keyword::ISOLATION
            | Keyword::JOIN
            | Keyword::KEY
            | Keyword::LEFT
            | Keyword::LEVEL
            | Keyword::LIKE
            | Keyword::LIMIT
            | Keyword::LOCAL
            | Keyword::LOCK
            | Keyword::LOW_PRIORITY
            | Keyword::MAX
            | Keyword::MIN
            | Keyword::MOD
            | Keyword::MODE
            | Keyword::NAMES
            | Keyword::NATURAL
            | Keyword::NOT
            | Keyword::NULL
            | Keyword::OFFSET
            | Keyword::ON
            | Keyword::ONLY
            | Keyword::OR
            | Keyword::ORDER
            | Keyword::OUTER
            | Keyword::OVER
            | Keyword::PARTITION
            | Keyword::READ
            | Keyword::RECURSIVE
            | Keyword::REGEXP
            | Keyword::RELEASE
            | Keyword::REPLACE
            | Keyword::RIGHT
            | Keyword::RLIKE
            | Keyword::ROLLBACK
            | Keyword::SAVEPOINT
            | Keyword::SCHEMAS
            | Keyword::SELECT
            | Keyword::SESSION
            | Keyword::SET
            | Keyword::SHARE
            | Keyword::SHOW
            | Keyword::SNAPSHOT
            | Keyword::SOME
            | Keyword::START
            | Keyword::STRAIGHT_JOIN
            | Keyword::SQL_CALC_FOUND_ROWS
            | Keyword::SUM
            | Keyword::TABLES
            | Keyword::THEN
            | Keyword::TO
            | Keyword::TRANSACTION
            | Keyword::TRUE
            | Keyword::UNION
            | Keyword::UPDATE
            | Keyword::USING
            | Keyword::VALUE
            | Keyword::VALUES
            | Keyword::WHEN
            | Keyword::WHERE
            | Keyword::WITH
            | Keyword::WORK
            | Keyword::WRITE
            | Keyword::XOR
    )
}

/// Keywords after which a `(` opens a list or subquery rather than an argument list, so a space
/// separates them.
const SPACED_BEFORE_PAREN: &[Keyword] = &[
    Keyword::ALL,
    Keyword::AND,
    Keyword::ANY,
    Keyword::AS,
    Keyword::BETWEEN,
    Keyword::BY,
    Keyword::ELSE,
    Keyword::EXISTS,
    Keyword::FROM,
    Keyword::HAVING,
    Keyword::IN,
    Keyword::INTO,
    Keyword::IS,
    Keyword::JOIN,
    Keyword::LIKE,
    Keyword::NOT,
    Keyword::ON,
    Keyword::OR,
    Keyword::SELECT,
    Keyword::SET,
    Keyword::SOME,
    Keyword::THEN,
    Keyword::UNION,
    Keyword::USING,
    Keyword::VALUE,
    Keyword::VALUES,
    Keyword::WHEN,
    Keyword::WHERE,
    Keyword::WITH,
];

/// Keywords after which a `-` in front of a number is a sign, not a subtraction.
const BEFORE_SIGN: &[Keyword] = &[
    Keyword::AND,
    Keyword::BETWEEN,
    Keyword::BY,
    Keyword::ELSE,
    Keyword::IN,
    Keyword::IS,
    Keyword::LIKE,
    Keyword::LIMIT,
    Keyword::NOT,
    Keyword::OFFSET,
    Keyword::OR,
    Keyword::SELECT,
    Keyword::SET,
    Keyword::THEN,
    Keyword::VALUES,
    Keyword::WHEN,
    Keyword::WHERE,
];

fn is_literal(t: &Token) -> bool {
    matches!(
        t,
        Token::Number(..)
            | Token::Placeholder(_)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
    ) || matches!(
        t,
        Token::Word(Word {
            quote_style: None,
            keyword: Keyword::TRUE | Keyword::FALSE,
            ..
        })
    )
}

/// Whether a `-` after `prev` (the previous piece) is a sign.
fn sign_position(prev: Option<&Piece<'_>>) -> bool {
    match prev {
        None | Some(Piece::LParen | Piece::Comma | Piece::Op(_)) => true,
        Some(Piece::Keyword(_, k)) => BEFORE_SIGN.contains(k),
        _ => false,
    }
}

/// Operators as sqlparser writes them, without allocating for the common ones.
fn operator(t: &Token) -> Cow<'static, str> {
    Cow::Borrowed(match t {
        Token::Eq => "=",
        Token::Neq => "<>",
        Token::Lt => "<",
        Token::Gt => ">",
        Token::LtEq => "<=",
        Token::GtEq => ">=",
        Token::Spaceship => "<=>",
        Token::Plus => "+",
        Token::Minus => "-",
        Token::Mul => "*",
        Token::Div => "/",
        Token::Mod => "%",
        Token::SemiColon => ";",
        other => return Cow::Owned(other.to_string()),
    })
}

/// Tokens to pieces: literals replaced, trailing `;` dropped.
fn pieces<'a>(tokens: &[&'a Token]) -> Vec<Piece<'a>> {
    let end = tokens
        .iter()
        .rposition(|t| **t != Token::SemiColon)
        .map_or(0, |i| i + 1);
    let mut out: Vec<Piece<'a>> = Vec::with_capacity(end);
    for t in &tokens[..end] {
        if is_literal(t) {
            // `- 5` where a value is expected: the sign belongs to the literal.
            if matches!(out.last(), Some(Piece::Op(op)) if op == "-")
                && sign_position(out.len().checked_sub(2).map(|j| &out[j]))
            {
                out.pop();
            }
            out.push(Piece::Value);
            continue;
        }
        out.push(match t {
            Token::Word(w) if w.quote_style.is_some() => Piece::Quoted(&w.value),
            Token::Word(w) if w.keyword != Keyword::NoKeyword => {
                Piece::Keyword(&w.value, w.keyword)
            }
            Token::Word(w) => Piece::Name(&w.value),
            Token::LParen => Piece::LParen,
            Token::RParen => Piece::RParen,
            Token::Comma => Piece::Comma,
            Token::Period => Piece::Period,
            other => Piece::Op(operator(other)),
        });
    }
    out
}

/// Collapses value lists after `IN` and repeated rows after `VALUES`.
fn collapse<'p, 'a>(pieces: &'p [Piece<'a>]) -> Vec<&'p Piece<'a>> {
    const LIST: &Piece<'static> = &Piece::List;
    let mut out: Vec<&Piece<'a>> = Vec::with_capacity(pieces.len());
    let mut i = 0;
    while i < pieces.len() {
        let piece = &pieces[i];
        out.push(piece);
        i += 1;
        match piece {
            Piece::Keyword(_, Keyword::IN) => {
                if let Some(len) = value_list(&pieces[i..]) {
                    out.push(LIST);
                    i += len;
                }
            }
            Piece::Keyword(_, Keyword::VALUES | Keyword::VALUE) => {
                let Some(row) = group(&pieces[i..]) else {
                    continue;
                };
                out.extend(&pieces[i..i + row]);
                i += row;
                // `, (same row)` again and again: dropped.
                while pieces.get(i) == Some(&Piece::Comma)
                    && pieces.get(i + 1..i + 1 + row) == Some(&pieces[i - row..i])
                {
                    i += 1 + row;
                }
            }
            _ => {}
        }
    }
    out
}

/// The length of a parenthesised group at the start of `pieces` (nested groups included).
fn group(pieces: &[Piece<'_>]) -> Option<usize> {
    if pieces.first() != Some(&Piece::LParen) {
        return None;
    }
    let mut depth = 0usize;
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::LParen => depth += 1,
            Piece::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The length of `(?, ?, ...)` at the start of `pieces`, if that is what starts it.
fn value_list(pieces: &[Piece<'_>]) -> Option<usize> {
    let len = group(pieces)?;
    let inner = &pieces[1..len - 1];
    let only_values = inner.len() % 2 == 1
        && inner.iter().enumerate().all(|(i, p)| {
            *p == if i % 2 == 0 {
                Piece::Value
            } else {
                Piece::Comma
            }
        });
    only_values.then_some(len)
}

/// Writes the pieces with the spacing rules of the module documentation.
fn render(pieces: &[&Piece<'_>], out: &mut String) {
    let mut prev: Option<&Piece<'_>> = None;
    for &piece in pieces {
        if let Some(before) = prev {
            let glued = match piece {
                Piece::Comma | Piece::RParen | Piece::Period => true,
                Piece::LParen => match before {
                    Piece::Keyword(_, k) => !SPACED_BEFORE_PAREN.contains(k),
                    Piece::Name(_) | Piece::Quoted(_) | Piece::LParen => true,
                    _ => false,
                },
                _ => matches!(before, Piece::LParen | Piece::Period),
            };
            if !glued {
                out.push(' ');
            }
        }
        match piece {
            Piece::Value => out.push('?'),
            Piece::List => out.push_str("(...)"),
            Piece::Keyword(w, k) if upper_cased(*k) => {
                out.extend(w.chars().map(|c| c.to_ascii_uppercase()));
            }
            Piece::Keyword(w, _) => out.push_str(w),
            Piece::Name(w) => out.push_str(w),
            Piece::Op(op) => out.push_str(op),
            Piece::Quoted(q) => {
                out.push('`');
                for c in q.chars() {
                    if c == '`' {
                        out.push('`');
                    }
                    out.push(c);
                }
                out.push('`');
            }
            Piece::LParen => out.push('('),
            Piece::RParen => out.push(')'),
            Piece::Comma => out.push(','),
            Piece::Period => out.push('.'),
        }
        prev = Some(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(sql: &str) -> String {
        Digest::of_text(sql).text
    }

    #[test]
    fn literals_become_placeholders() {
        for (sql, want) in [
            (
                "SELECT c FROM sbtest1 WHERE id=5012",
                "SELECT c FROM sbtest1 WHERE id = ?",
            ),
            (
                "select c from sbtest1 where id = ?",
                "SELECT c FROM sbtest1 WHERE id = ?",
            ),
            (
                "SELECT * FROM t WHERE a = 'x' AND b = \"y\" AND c = 1.5e3 AND d = X'0F'",
                "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?",
            ),
            ("SELECT -5, 3 - 2, a-1, (-1)", "SELECT ?, ? - ?, a - ?, (?)"),
            (
                "UPDATE t SET flag = TRUE WHERE x IS NULL",
                "UPDATE t SET flag = ? WHERE x IS NULL",
            ),
            ("SELECT 1 LIMIT 10 OFFSET 20", "SELECT ? LIMIT ? OFFSET ?"),
        ] {
            assert_eq!(digest(sql), want, "{sql}");
        }
    }

    #[test]
    fn subtraction_of_a_literal_keeps_its_minus() {
        // `3 - 2`: the minus follows a value, so it is an operator and stays.
        assert_eq!(digest("SELECT 3 - 2"), "SELECT ? - ?");
        assert_eq!(digest("SELECT x - 2 FROM t"), "SELECT x - ? FROM t");
        assert_eq!(
            digest("SELECT * FROM t WHERE a = -2"),
            "SELECT * FROM t WHERE a = ?"
        );
    }

    #[test]
    fn comments_whitespace_and_case_do_not_matter() {
        let a = Digest::of_text("SELECT c FROM t WHERE id IN (1, 2, 3)");
        let b = Digest::of_text("select /* hi */ c\n  from t -- tail\n where id in (7)");
        assert_eq!(a, b);
        assert_eq!(a.text, "SELECT c FROM t WHERE id IN (...)");
    }

    #[test]
    fn lists_and_rows_collapse() {
        assert_eq!(
            digest("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')"),
            "INSERT INTO t(a, b) VALUES (?, ?)"
        );
        assert_eq!(
            digest("INSERT INTO t (a, b) VALUES (1, NOW()), (2, 'y')"),
            "INSERT INTO t(a, b) VALUES (?, NOW()), (?, ?)"
        );
        assert_eq!(
            digest("SELECT * FROM t WHERE a IN (SELECT b FROM u) AND c NOT IN (?, ?)"),
            "SELECT * FROM t WHERE a IN (SELECT b FROM u) AND c NOT IN (...)"
        );
        assert_eq!(
            digest("SELECT COUNT(*) FROM `my``t`.x"),
            "SELECT COUNT(*) FROM `my``t`.x"
        );
    }

    #[test]
    fn different_shapes_differ_and_hashes_are_stable() {
        let a = Digest::of_text("SELECT a FROM t WHERE id = 1");
        let b = Digest::of_text("SELECT b FROM t WHERE id = 1");
        assert_ne!(a.hash, b.hash);
        // FNV-1a of the text: the same in every process and build.
        assert_eq!(a.hash, fnv1a(b"SELECT a FROM t WHERE id = ?"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn trailing_semicolons_are_ignored_and_long_text_is_cut() {
        assert_eq!(digest("COMMIT;;"), "COMMIT");
        let long = format!("SELECT {} FROM t", vec!["écolé"; 1000].join(", "));
        let d = Digest::of_text(&long);
        assert!(d.text.len() <= MAX_DIGEST_TEXT + 3, "{}", d.text.len());
        assert!(d.text.ends_with("..."));
        let other = format!("SELECT {} FROM u", vec!["écolé"; 1000].join(", "));
        assert_ne!(
            Digest::of_text(&other).hash,
            d.hash,
            "the hash covers the whole text"
        );
    }

    /// Through `check`: the digest is of the tenant's text (logical names), for statements
    /// recognised from tokens too; refusals carry none.
    #[test]
    fn check_digests_the_tenants_text() {
        let mut mapping = crate::Mapping::default();
        mapping.databases.insert("app".into(), "t_acme__app".into());
        let ctx = crate::SessionContext {
            mapping: &mapping,
            current_db: Some("app"),
            user: "u",
        };
        let forward = |sql: &str| match crate::check(sql, &ctx, false) {
            Ok(crate::Decision::Forward(f)) => f,
            other => panic!("{sql}: {other:?}"),
        };
        let f = forward("select c from app.sbtest1 where id = 42");
        assert!(f.sql.contains("t_acme__app"), "{}", f.sql);
        assert_eq!(f.digest.text, "SELECT c FROM app.sbtest1 WHERE id = ?");
        assert_eq!(f.digest.hash, fnv1a(f.digest.text.as_bytes()));
        assert_eq!(forward("begin").digest.text, "BEGIN");
        let show = forward("SHOW TABLES FROM app LIKE 'x%'");
        assert!(!show.digest.text.contains("t_acme"), "{}", show.digest.text);
        assert_eq!(show.digest.text, "SHOW TABLES FROM app LIKE ?");
        assert!(crate::check("DROP TABLE t", &ctx, false).is_err());
    }
}
