//! A fast tokenizer for the text `render` produces, equal to sqlparser's where it answers.
//!
//! Why: proving that the forwarded text means the approved tree takes a second tokenize and
//! parse of that text, and sqlparser's general tokenizer (every dialect's rules behind
//! runtime checks, a `Peekable<Chars>`, location tracking) costs about as much as a third of
//! the policy. Rendered text is sqlparser's canonical `Display` output: no comments, strings
//! in backslash-escape syntax, single spaces, plain operators. Tokenizing that subset takes a
//! short byte loop.
//!
//! The guarantee is unchanged because this tokenizer never guesses: it returns `None` on
//! anything outside the subset it implements exactly (comments and anything that might open
//! one, `$`, `#`, `:`, `|`, `&`, `^`, `~`, brackets, backslashes outside strings,
//! non-ASCII outside quotes, string prefixes such as `X'..'`, `N'..'`, `b'..'`, numbers that
//! are not plain integers, `.` next to a digit, multi-character operators other than `<=`,
//! `>=`, `<>`, `!=`), and the caller then uses sqlparser's tokenizer. Where it answers, it
//! yields exactly sqlparser's tokens (MySQL dialect, unescaping on), spans aside: the tokens
//! carry no locations, which the round-trip check does not need. That equality is checked
//! on every call in debug builds (tests, the corpus, fuzzing) and by the differential tests
//! below.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::{Keyword, ALL_KEYWORDS, ALL_KEYWORDS_INDEX};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace, Word};

/// The tokens of `sql` as sqlparser's MySQL tokenizer reads them (without locations), or
/// `None` if `sql` steps outside the subset this tokenizer implements.
pub(crate) fn tokenize(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let tokens = subset(sql)?;
    debug_assert!(
        agrees_with_sqlparser(sql, &tokens),
        "the fast tokenizer and sqlparser's disagree on {sql:?}"
    );
    Some(tokens)
}

/// Whether sqlparser's tokenizer reads `sql` as `tokens` (spans aside).
fn agrees_with_sqlparser(sql: &str, tokens: &[TokenWithSpan]) -> bool {
    Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .is_ok_and(|theirs| theirs.iter().eq(tokens.iter().map(|t| &t.token)))
}

fn subset(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let b = sql.as_bytes();
    // Canonical text averages about one token per three bytes.
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(b.len() / 3 + 8);
    let mut prev_significant_is_word = false;
    let mut prev_is_period = false;
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        let (token, len) = match b[i] {
            b' ' => (Token::Whitespace(Whitespace::Space), 1),
            b'\t' => (Token::Whitespace(Whitespace::Tab), 1),
            b'\n' => (Token::Whitespace(Whitespace::Newline), 1),
            b'\r' if next == Some(b'\n') => (Token::Whitespace(Whitespace::Newline), 2),
            b'\r' => (Token::Whitespace(Whitespace::Newline), 1),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => word(sql, i)?,
            b'@' => variable(sql, i)?,
            b'0'..=b'9' if !prev_is_period => number(sql, i)?,
            b'\'' | b'"' => string(sql, i)?,
            b'`' => backtick(sql, i)?,
            b'.' => match next {
                Some(b'0'..=b'9') => return None,
                // `._` after a word is a field access; sqlparser refuses it elsewhere.
                Some(b'_') if !prev_significant_is_word => return None,
                _ => (Token::Period, 1),
            },
            b'(' => (Token::LParen, 1),
            b')' => (Token::RParen, 1),
            b',' => (Token::Comma, 1),
            b';' => (Token::SemiColon, 1),
            b'+' => (Token::Plus, 1),
            b'*' => (Token::Mul, 1),
            b'%' => (Token::Mod, 1),
            // `--` may open a comment, `->` and `->>` are JSON operators.
            b'-' if !matches!(next, Some(b'-' | b'>')) => (Token::Minus, 1),
            // `/*` opens a comment (and `/*!` an executable one).
            b'/' if !matches!(next, Some(b'*' | b'/')) => (Token::Div, 1),
            b'=' if !matches!(next, Some(b'=' | b'>')) => (Token::Eq, 1),
            b'!' if next == Some(b'=') => (Token::Neq, 2),
            b'<' => match next {
                Some(b'=') if b.get(i + 2) != Some(&b'>') => (Token::LtEq, 2),
                Some(b'>') => (Token::Neq, 2),
                Some(b'=' | b'<' | b'@') => return None,
                _ => (Token::Lt, 1),
            },
            b'>' => match next {
                Some(b'=') => (Token::GtEq, 2),
                Some(b'>') => return None,
                _ => (Token::Gt, 1),
            },
            b'?' => placeholder(sql, i)?,
            _ => return None,
        };
        if !matches!(token, Token::Whitespace(_)) {
            prev_significant_is_word = matches!(token, Token::Word(_));
        }
        prev_is_period = matches!(token, Token::Period);
        out.push(TokenWithSpan::wrap(token));
        i += len;
    }
    Some(out)
}

/// Bytes that continue an unquoted word in the MySQL dialect (ASCII subset; a non-ASCII
/// character would continue it too, so it makes the caller give up).
fn word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'@')
}

/// An unquoted word starting at `i` (a letter or `_`), keyword looked up as sqlparser does.
fn word(sql: &str, i: usize) -> Option<(Token, usize)> {
    let b = sql.as_bytes();
    // `b'..'`, `X'..'`, `N'..'` and friends are literals, not words.
    if matches!(b[i], b'b' | b'B' | b'x' | b'X' | b'n' | b'N')
        && matches!(b.get(i + 1), Some(b'\'' | b'"'))
    {
        return None;
    }
    let end = b[i..]
        .iter()
        .position(|&c| !word_byte(c))
        .map_or(b.len(), |n| i + n);
    if b.get(end).is_some_and(|c| !c.is_ascii()) {
        return None;
    }
    let value = &sql[i..end];
    let token = match keyword(value) {
        Some(keyword) => Token::Word(Word {
            value: value.to_owned(),
            quote_style: None,
            keyword,
        }),
        None => Token::make_word(value, None),
    };
    Some((token, end - i))
}

/// `@name` or `@@name` (a user or system variable): MySQL's tokenizer reads it as one word.
/// Any other use of `@` (`@'x'`, `@1`, `@ x`, `@@@x`...) gives up.
fn variable(sql: &str, i: usize) -> Option<(Token, usize)> {
    let b = sql.as_bytes();
    let at = if b.get(i + 1) == Some(&b'@') { 2 } else { 1 };
    if !b
        .get(i + at)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return None;
    }
    let (token, len) = word(sql, i + at)?;
    let Token::Word(w) = token else {
        return None;
    };
    let value = format!("{}{}", &sql[i..i + at], w.value);
    Some((Token::make_word(&value, None), at + len))
}

/// The keyword an unquoted ASCII word names, as sqlparser's lookup finds it: sqlparser
/// binary-searches [`ALL_KEYWORDS`] upper-casing the word on every probe; this upper-cases it
/// once and looks it up in a table of the same keywords. `None` for words longer than any
/// keyword's buffer: the caller then asks sqlparser.
fn keyword(word: &str) -> Option<Keyword> {
    let mut buf = [0u8; 48];
    let upper = buf.get_mut(..word.len())?;
    upper.copy_from_slice(word.as_bytes());
    upper.make_ascii_uppercase();
    Some(
        keywords()
            .get(&*upper)
            .copied()
            .unwrap_or(Keyword::NoKeyword),
    )
}

/// sqlparser's keywords by spelling (a read-only table built once).
fn keywords() -> &'static HashMap<&'static [u8], Keyword, BuildHasherDefault<Fnv>> {
    static TABLE: OnceLock<HashMap<&'static [u8], Keyword, BuildHasherDefault<Fnv>>> =
        OnceLock::new();
    TABLE.get_or_init(|| {
        ALL_KEYWORDS
            .iter()
            .map(|k| k.as_bytes())
            .zip(ALL_KEYWORDS_INDEX.iter().copied())
            .collect()
    })
}

/// FNV-1a: for short keys, much cheaper than the default SipHash (no need to resist
/// collision attacks on a fixed table of keywords).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A plain integer starting at `i`. Anything that could make it a decimal, an exponent, a
/// hex or binary literal or (MySQL) an identifier starting with digits gives up.
fn number(sql: &str, i: usize) -> Option<(Token, usize)> {
    let b = sql.as_bytes();
    let end = b[i..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(b.len(), |n| i + n);
    if b.get(end)
        .is_some_and(|&c| word_byte(c) || c == b'.' || !c.is_ascii())
    {
        return None;
    }
    Some((Token::Number(sql[i..end].to_owned(), false), end - i))
}

/// `?`, or `?` followed by digits (sqlparser keeps them in the placeholder).
fn placeholder(sql: &str, i: usize) -> Option<(Token, usize)> {
    let b = sql.as_bytes();
    let end = b[i + 1..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(b.len(), |n| i + 1 + n);
    // sqlparser also takes non-ASCII numeric characters.
    if b.get(end).is_some_and(|c| !c.is_ascii()) {
        return None;
    }
    Some((Token::Placeholder(sql[i..end].to_owned()), end - i))
}

/// A `'..'` or `".."` string at `i`, with MySQL's escapes resolved exactly as sqlparser does
/// (a doubled quote is one quote; `\%` and `\_` keep their backslash for LIKE).
fn string(sql: &str, i: usize) -> Option<(Token, usize)> {
    let b = sql.as_bytes();
    let quote = b[i];
    let mut value = String::new();
    let mut j = i + 1;
    loop {
        let run = b[j..].iter().position(|&c| c == quote || c == b'\\')? + j;
        value.push_str(&sql[j..run]);
        if b[run] == quote {
            if b.get(run + 1) == Some(&quote) {
                value.push(char::from(quote));
                j = run + 2;
                continue;
            }
            let token = if quote == b'\'' {
                Token::SingleQuotedString(value)
            } else {
                Token::DoubleQuotedString(value)
            };
            return Some((token, run + 1 - i));
        }
        // A backslash: the escaped character (possibly multi-byte) follows.
        let escaped = sql[run + 1..].chars().next()?;
        match escaped {
            '%' | '_' => {
                value.push('\\');
                value.push(escaped);
            }
            '0' => value.push('\0'),
            'a' => value.push('\u{7}'),
            'b' => value.push('\u{8}'),
            'f' => value.push('\u{c}'),
            'n' => value.push('\n'),
            'r' => value.push('\r'),
            't' => value.push('\t'),
            'Z' => value.push('\u{1a}'),
            c => value.push(c),
        }
        j = run + 1 + escaped.len_utf8();
    }
}

/// A backtick-quoted identifier at `i` (a doubled backtick is one backtick; no escapes).
fn backtick(sql: &str, i: usize) -> Option<(Token, usize)> {
    let b = sql.as_bytes();
    let mut value = String::new();
    let mut j = i + 1;
    loop {
        let run = b[j..].iter().position(|&c| c == b'`')? + j;
        value.push_str(&sql[j..run]);
        if b.get(run + 1) == Some(&b'`') {
            value.push('`');
            j = run + 2;
            continue;
        }
        let token = Token::Word(Word {
            value,
            quote_style: Some('`'),
            keyword: Keyword::NoKeyword,
        });
        return Some((token, run + 1 - i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sqlparser's tokens for `sql`, without spans; `None` if it refuses the text.
    fn reference(sql: &str) -> Option<Vec<Token>> {
        Tokenizer::new(&MySqlDialect {}, sql).tokenize().ok()
    }

    /// Whether the fast tokenizer answers for `sql`; panics if its answer differs.
    fn agrees(sql: &str) -> bool {
        match subset(sql) {
            None => false,
            Some(ours) => {
                let ours: Vec<Token> = ours.into_iter().map(|t| t.token).collect();
                assert_eq!(Some(ours), reference(sql), "tokens differ for {sql:?}");
                true
            }
        }
    }

    /// The statements sysbench sends and their renderings take the fast path.
    #[test]
    fn canonical_statements_are_understood() {
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=?",
            "SELECT c FROM sbtest1 WHERE id=5012",
            "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
            "UPDATE sbtest1 SET k=k+1 WHERE id=?",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)",
            "BEGIN",
            "COMMIT",
            "SELECT c FROM `t_bench__sbtest`.sbtest1 WHERE id = ?",
            "SELECT SUM(k) FROM `t_bench__sbtest`.sbtest1 WHERE id BETWEEN 1 AND 100",
            "SELECT DISTINCT c FROM `t`.sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
            "UPDATE `t`.sbtest1 SET k = k + 1 WHERE id = ?",
            "INSERT INTO `t`.sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)",
            "DELETE FROM `t`.sbtest1 WHERE id = ?",
            "SELECT 'a\\\\', 'x\\'y', \"q\\\"q\", 'a\\0b', 'a\\%b\\_', `a``b`",
            "SELECT a <= b, a >= b, a <> b, a != b, a < b, a > b, a - b, a / b, a % b",
            "SELECT t._x, ?12, 'é', `é`, 0, 123 FROM t;",
            "SELECT @@version_comment, @x, @_y, @@session.autocommit, @a@b$c",
            "SELECT 'it''s', \"say \"\"hi\"\"\"",
            "SELECT\t1\n,\r\n2\r3",
            "SELECT 'a\\nb\\tc\\rd\\Ze\\bf\\qg\\\"h\\éi'",
        ] {
            assert!(agrees(sql), "not understood: {sql:?}");
        }
    }

    /// The keyword lookup agrees with sqlparser's for every keyword in either case, for
    /// near misses, and for words too long for its buffer.
    #[test]
    fn keywords_are_looked_up_as_sqlparser_does() {
        let long = "x".repeat(60);
        let mut words: Vec<String> = vec!["", "A", "ZZZZ", "SELECTX", "_", "a_b$c@d9", &long]
            .into_iter()
            .map(str::to_owned)
            .collect();
        for k in ALL_KEYWORDS {
            words.push(k.to_string());
            words.push(k.to_ascii_lowercase());
            words.push(format!("{k}_"));
        }
        for w in words {
            let Token::Word(theirs) = Token::make_word(&w, None) else {
                panic!()
            };
            assert_eq!(keyword(&w).unwrap_or(theirs.keyword), theirs.keyword, "{w}");
        }
    }

    #[test]
    fn anything_else_is_left_to_sqlparser() {
        for sql in [
            "SELECT 1 -- x",
            "SELECT 1 --x",
            "SELECT 1 # x",
            "SELECT /* x */ 1",
            "SELECT /*! 1 */",
            "SELECT 1.5",
            "SELECT .5",
            "SELECT 1e5",
            "SELECT 0x1F",
            "SELECT 1abc",
            "SELECT t.1",
            "SELECT X'0F', N'x', b'1', B\"1\"",
            "SELECT @1, @'x', @`x`, @ x, @@@x, @$x, @é, $x",
            "SELECT a->'$.x', a->>'$.x', a <=> b, a << 1, a >> 1, a == b, a => b",
            "SELECT a || b, a && b, a | b, a & b, a ^ b, ~a, a:b, [a], {a}",
            "SELECT 'unterminated",
            "SELECT `unterminated",
            "SELECT 'trailing backslash\\",
            "SELECT é",
            "SELECT ab\u{a0}cd",
            "SELECT ?\u{b2}",
            "SELECT 1 ._x",
            "SELECT \\",
            "SELECT \u{0}",
        ] {
            assert!(!agrees(sql), "should have given up on {sql:?}");
        }
    }

    /// Every string of up to three characters over an alphabet of the characters that matter
    /// to either tokenizer: the fast one gives up or agrees.
    #[test]
    fn exhaustive_short_inputs_agree() {
        let alphabet = [
            ' ', '\n', '\r', 'a', 'b', 'x', 'N', 'e', '_', '$', '@', '0', '1', '.', '\'', '"', '`',
            '\\', '%', '-', '>', '<', '=', '!', '/', '*', '?', '#', '(', ';', 'é',
        ];
        let mut inputs = vec![String::new()];
        let mut understood = 0;
        for _ in 0..3 {
            let longer: Vec<String> = inputs
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            for s in &longer {
                understood += usize::from(agrees(s));
            }
            inputs = longer;
        }
        // The comparison above only means something if the fast path answers often.
        assert!(understood > 5_000, "only {understood} inputs understood");
    }

    /// Pseudo-random statements built from SQL fragments (a fixed xorshift seed, so a failure
    /// reproduces): the fast tokenizer gives up or agrees.
    #[test]
    fn random_fragment_sequences_agree() {
        const FRAGMENTS: &[&str] = &[
            "SELECT",
            "select",
            " ",
            "  ",
            "\n",
            "\t",
            "c",
            "sbtest1",
            "`t_x`",
            "`a``b`",
            "`é`",
            "_id",
            "id",
            "$",
            "@",
            "x",
            "N",
            "b",
            "X",
            ".",
            "..",
            ",",
            "(",
            ")",
            ";",
            "?",
            "?1",
            "=",
            "<",
            ">",
            "<=",
            ">=",
            "<>",
            "!=",
            "!",
            "-",
            "--",
            "+",
            "*",
            "/",
            "%",
            "'",
            "\"",
            "'abc'",
            "'a''b'",
            "'a\\'b'",
            "'\\\\'",
            "'\\%'",
            "'\\n'",
            "\"q\\\"\"",
            "0",
            "1",
            "42",
            "1.5",
            "e5",
            "\\",
            "#",
            "/*",
            "*/",
            "é",
            "\r",
            "LIKE",
            "BETWEEN",
            "AND",
            "FROM",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut understood = 0;
        for _ in 0..20_000 {
            let len = 1 + (next() % 12) as usize;
            let sql: String = (0..len)
                .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
                .collect();
            understood += usize::from(agrees(&sql));
        }
        assert!(understood > 1_000, "only {understood} inputs understood");
    }
}
