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
    let tokens = subset(sql, |_| {})?;
    debug_assert!(
        agrees_with_sqlparser(sql, &tokens),
        "the fast tokenizer and sqlparser's disagree on {sql:?}"
    );
    Some(tokens)
}

/// [`tokenize`], also keeping the significant lexemes (for [`crate::verbatim`]).
pub(crate) fn tokenize_lexed(sql: &str) -> Option<(Vec<TokenWithSpan>, Vec<Lex<'_>>)> {
    let mut lexemes = Vec::with_capacity(sql.len() / 4 + 4);
    let tokens = subset(sql, |lex| {
        if !lex.0.is_whitespace() {
            lexemes.push(lex);
        }
    })?;
    debug_assert!(
        agrees_with_sqlparser(sql, &tokens),
        "the fast tokenizer and sqlparser's disagree on {sql:?}"
    );
    Some((tokens, lexemes))
}

/// A lexeme and the text it spans.
pub(crate) type Lex<'a> = (Lexeme, &'a str);

/// The lexemes of `sql` other than whitespace, or `None` outside the subset.
pub(crate) fn significant_lexemes(sql: &str) -> Option<Vec<Lex<'_>>> {
    let mut lexer = Lexer::new(sql);
    let mut out = Vec::with_capacity(sql.len() / 4 + 4);
    while let Some(lex) = lexer.next_lexeme()? {
        if !lex.0.is_whitespace() {
            out.push(lex);
        }
    }
    Some(out)
}

/// Whether sqlparser's tokenizer reads `sql` as `tokens` (spans aside).
fn agrees_with_sqlparser(sql: &str, tokens: &[TokenWithSpan]) -> bool {
    Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .is_ok_and(|theirs| theirs.iter().eq(tokens.iter().map(|t| &t.token)))
}

/// The tokens of `sql`, each lexeme also given to `each`.
fn subset<'a>(sql: &'a str, mut each: impl FnMut(Lex<'a>)) -> Option<Vec<TokenWithSpan>> {
    // Canonical text averages about one token per three bytes.
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(sql.len() / 3 + 8);
    let mut lexer = Lexer::new(sql);
    while let Some((lexeme, text)) = lexer.next_lexeme()? {
        out.push(TokenWithSpan::wrap(token(lexeme, text)));
        each((lexeme, text));
    }
    Some(out)
}

/// What one lexeme of the subset is. The text it spans says the rest, so scanning allocates
/// nothing: [`token`] builds sqlparser's token from the two, and [`crate::verbatim`] compares
/// texts lexeme by lexeme without building tokens at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lexeme {
    Space,
    Tab,
    Newline,
    /// An unquoted word: a keyword or an identifier.
    Word,
    /// `@name` or `@@name`.
    Variable,
    /// A plain integer.
    Number,
    /// `'..'`, quotes included, escapes unresolved.
    SingleQuoted,
    /// `".."`, quotes included, escapes unresolved.
    DoubleQuoted,
    /// `` `..` ``, backticks included.
    Backtick,
    /// `?` or `?N`.
    Placeholder,
    Punct(Punct),
}

/// The operators and punctuation of the subset. `!=` and `<>` are one operator, as they are
/// one token to sqlparser and one operator to MySQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Punct {
    Period,
    LParen,
    RParen,
    Comma,
    SemiColon,
    Plus,
    Mul,
    Mod,
    Minus,
    Div,
    Eq,
    Neq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl Punct {
    fn token(self) -> Token {
        match self {
            Punct::Period => Token::Period,
            Punct::LParen => Token::LParen,
            Punct::RParen => Token::RParen,
            Punct::Comma => Token::Comma,
            Punct::SemiColon => Token::SemiColon,
            Punct::Plus => Token::Plus,
            Punct::Mul => Token::Mul,
            Punct::Mod => Token::Mod,
            Punct::Minus => Token::Minus,
            Punct::Div => Token::Div,
            Punct::Eq => Token::Eq,
            Punct::Neq => Token::Neq,
            Punct::Lt => Token::Lt,
            Punct::LtEq => Token::LtEq,
            Punct::Gt => Token::Gt,
            Punct::GtEq => Token::GtEq,
        }
    }
}

impl Lexeme {
    pub(crate) fn is_whitespace(self) -> bool {
        matches!(self, Lexeme::Space | Lexeme::Tab | Lexeme::Newline)
    }
}

/// sqlparser's token for a lexeme and the text it spans.
pub(crate) fn token(lexeme: Lexeme, text: &str) -> Token {
    match lexeme {
        Lexeme::Space => Token::Whitespace(Whitespace::Space),
        Lexeme::Tab => Token::Whitespace(Whitespace::Tab),
        Lexeme::Newline => Token::Whitespace(Whitespace::Newline),
        Lexeme::Word => match keyword(text) {
            Some(keyword) => Token::Word(Word {
                value: text.to_owned(),
                quote_style: None,
                keyword,
            }),
            None => Token::make_word(text, None),
        },
        Lexeme::Variable => Token::make_word(text, None),
        Lexeme::Number => Token::Number(text.to_owned(), false),
        Lexeme::SingleQuoted => Token::SingleQuotedString(unquoted(text).collect()),
        Lexeme::DoubleQuoted => Token::DoubleQuotedString(unquoted(text).collect()),
        Lexeme::Backtick => Token::Word(Word {
            value: text[1..text.len() - 1].replace("``", "`"),
            quote_style: Some('`'),
            keyword: Keyword::NoKeyword,
        }),
        Lexeme::Placeholder => Token::Placeholder(text.to_owned()),
        Lexeme::Punct(p) => p.token(),
    }
}

/// The value of a quoted string lexeme (quotes included), with MySQL's escapes resolved
/// exactly as sqlparser resolves them: a doubled quote is one quote, `\%` and `\_` keep their
/// backslash (for LIKE), `\0 \a \b \f \n \r \t \Z` are control characters, and a backslash
/// before anything else stands for that character.
pub(crate) fn unquoted(text: &str) -> impl Iterator<Item = char> + '_ {
    let quote = text.chars().next().unwrap_or('\'');
    let mut chars = text[1..text.len().saturating_sub(1).max(1)].chars();
    let mut pending: Option<char> = None;
    std::iter::from_fn(move || {
        if let Some(c) = pending.take() {
            return Some(c);
        }
        let c = chars.next()?;
        if c == quote {
            // Inside a scanned lexeme a quote is always the first of a doubled pair.
            chars.next();
            return Some(quote);
        }
        if c != '\\' {
            return Some(c);
        }
        let escaped = chars.next()?;
        Some(match escaped {
            '%' | '_' => {
                pending = Some(escaped);
                '\\'
            }
            '0' => '\0',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'Z' => '\u{1a}',
            c => c,
        })
    })
}

/// Scans text lexeme by lexeme, giving up (`None`) outside the subset.
pub(crate) struct Lexer<'a> {
    sql: &'a str,
    i: usize,
    prev_significant_is_word: bool,
    prev_is_period: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(sql: &'a str) -> Self {
        Lexer {
            sql,
            i: 0,
            prev_significant_is_word: false,
            prev_is_period: false,
        }
    }

    /// The next lexeme and the text it spans; `Some(None)` at the end of the text, `None`
    /// where the text steps outside the subset.
    pub(crate) fn next_lexeme(&mut self) -> Option<Option<(Lexeme, &'a str)>> {
        let (sql, i) = (self.sql, self.i);
        let b = sql.as_bytes();
        let Some(&c) = b.get(i) else {
            return Some(None);
        };
        let next = b.get(i + 1).copied();
        let (lexeme, len) = match c {
            b' ' => (Lexeme::Space, 1),
            b'\t' => (Lexeme::Tab, 1),
            b'\n' => (Lexeme::Newline, 1),
            b'\r' if next == Some(b'\n') => (Lexeme::Newline, 2),
            b'\r' => (Lexeme::Newline, 1),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => (Lexeme::Word, word(sql, i)?),
            b'@' => (Lexeme::Variable, variable(sql, i)?),
            b'0'..=b'9' if !self.prev_is_period => (Lexeme::Number, number(sql, i)?),
            b'\'' => (Lexeme::SingleQuoted, string(sql, i)?),
            b'"' => (Lexeme::DoubleQuoted, string(sql, i)?),
            b'`' => (Lexeme::Backtick, backtick(sql, i)?),
            b'.' => match next {
                Some(b'0'..=b'9') => return None,
                // `._` after a word is a field access; sqlparser refuses it elsewhere.
                Some(b'_') if !self.prev_significant_is_word => return None,
                _ => (Lexeme::Punct(Punct::Period), 1),
            },
            b'(' => (Lexeme::Punct(Punct::LParen), 1),
            b')' => (Lexeme::Punct(Punct::RParen), 1),
            b',' => (Lexeme::Punct(Punct::Comma), 1),
            b';' => (Lexeme::Punct(Punct::SemiColon), 1),
            b'+' => (Lexeme::Punct(Punct::Plus), 1),
            b'*' => (Lexeme::Punct(Punct::Mul), 1),
            b'%' => (Lexeme::Punct(Punct::Mod), 1),
            // `--` may open a comment, `->` and `->>` are JSON operators.
            b'-' if !matches!(next, Some(b'-' | b'>')) => (Lexeme::Punct(Punct::Minus), 1),
            // `/*` opens a comment (and `/*!` an executable one).
            b'/' if !matches!(next, Some(b'*' | b'/')) => (Lexeme::Punct(Punct::Div), 1),
            b'=' if !matches!(next, Some(b'=' | b'>')) => (Lexeme::Punct(Punct::Eq), 1),
            b'!' if next == Some(b'=') => (Lexeme::Punct(Punct::Neq), 2),
            b'<' => match next {
                Some(b'=') if b.get(i + 2) != Some(&b'>') => (Lexeme::Punct(Punct::LtEq), 2),
                Some(b'>') => (Lexeme::Punct(Punct::Neq), 2),
                Some(b'=' | b'<' | b'@') => return None,
                _ => (Lexeme::Punct(Punct::Lt), 1),
            },
            b'>' => match next {
                Some(b'=') => (Lexeme::Punct(Punct::GtEq), 2),
                Some(b'>') => return None,
                _ => (Lexeme::Punct(Punct::Gt), 1),
            },
            b'?' => (Lexeme::Placeholder, placeholder(sql, i)?),
            _ => return None,
        };
        if !lexeme.is_whitespace() {
            self.prev_significant_is_word =
                matches!(lexeme, Lexeme::Word | Lexeme::Variable | Lexeme::Backtick);
        }
        self.prev_is_period = lexeme == Lexeme::Punct(Punct::Period);
        self.i = i + len;
        Some(Some((lexeme, &sql[i..i + len])))
    }
}

/// Bytes that continue an unquoted word in the MySQL dialect (ASCII subset; a non-ASCII
/// character would continue it too, so it makes the caller give up).
fn word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'@')
}

/// The length of the unquoted word starting at `i` (a letter or `_`).
fn word(sql: &str, i: usize) -> Option<usize> {
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
    Some(end - i)
}

/// The length of `@name` or `@@name` (a user or system variable): MySQL's tokenizer reads it
/// as one word. Any other use of `@` (`@'x'`, `@1`, `@ x`, `@@@x`...) gives up.
fn variable(sql: &str, i: usize) -> Option<usize> {
    let b = sql.as_bytes();
    let at = if b.get(i + 1) == Some(&b'@') { 2 } else { 1 };
    if !b
        .get(i + at)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return None;
    }
    Some(at + word(sql, i + at)?)
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

/// The length of the plain integer starting at `i`. Anything that could make it a decimal, an
/// exponent, a hex or binary literal or (MySQL) an identifier starting with digits gives up.
pub(crate) fn number(sql: &str, i: usize) -> Option<usize> {
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
    Some(end - i)
}

/// The length of `?`, or `?` followed by digits (sqlparser keeps them in the placeholder).
fn placeholder(sql: &str, i: usize) -> Option<usize> {
    let b = sql.as_bytes();
    let end = b[i + 1..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(b.len(), |n| i + 1 + n);
    // sqlparser also takes non-ASCII numeric characters.
    if b.get(end).is_some_and(|c| !c.is_ascii()) {
        return None;
    }
    Some(end - i)
}

/// The length of the `'..'` or `".."` string at `i`: a doubled quote stays inside, a
/// backslash escapes the character after it (possibly multi-byte).
pub(crate) fn string(sql: &str, i: usize) -> Option<usize> {
    let b = sql.as_bytes();
    let quote = b[i];
    let mut j = i + 1;
    loop {
        let run = b[j..].iter().position(|&c| c == quote || c == b'\\')? + j;
        if b[run] == quote {
            if b.get(run + 1) == Some(&quote) {
                j = run + 2;
                continue;
            }
            return Some(run + 1 - i);
        }
        let escaped = sql[run + 1..].chars().next()?;
        j = run + 1 + escaped.len_utf8();
    }
}

/// The length of the backtick-quoted identifier at `i` (a doubled backtick stays inside; no
/// escapes).
fn backtick(sql: &str, i: usize) -> Option<usize> {
    let b = sql.as_bytes();
    let mut j = i + 1;
    loop {
        let run = b[j..].iter().position(|&c| c == b'`')? + j;
        if b.get(run + 1) == Some(&b'`') {
            j = run + 2;
            continue;
        }
        return Some(run + 1 - i);
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
        match subset(sql, |_| {}) {
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
