//! Lexical guards, run before and after parsing.
//!
//! MariaDB executes the body of `/*! ... */`, `/*!NNNNN ... */`, `/*M! ... */` and
//! `/*M!NNNNNN ... */` comments as SQL, and reads `/*+ ... */` as optimizer hints. sqlparser
//! agrees only in part (it expands `/*!` inline but keeps `/*M!` as a comment), and the two
//! lexers disagree about nested comments (MariaDB comments do not nest). So any statement that
//! contains one of these openers outside a string literal is refused, judged both by a small
//! MariaDB-like scan of the raw text and by sqlparser's own token stream.
//!
//! The same scan refuses the escapes `\a` and `\f` in string literals: MariaDB reads them as
//! the letters `a` and `f`, sqlparser as BEL and form feed, so the forwarded text would change
//! the value. Comments must be delimited the same way by both lexers ([`check_tokens`]), and a
//! NUL byte outside quotes is refused. After rendering, [`check_rendered`] makes sure the text sent to the backend holds
//! no comment at all outside literals.

use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

use crate::Refusal;

/// What the raw-text scanner found that the caller must react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    /// `/*!` or `/*M!`.
    Executable,
    /// `/*+`.
    Hint,
    /// Any other comment (only interesting for rendered text).
    Comment,
    /// `\a` or `\f` inside a quoted string.
    AmbiguousEscape,
    /// A NUL byte outside quotes (MariaDB's lexer may read it as the end of the query).
    Nul,
    /// A comment ended: its byte range in the text (as MariaDB's lexer delimits it).
    Span(usize, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Quoted(u8),
    LineComment,
    BlockComment,
}

/// Bytes that neither open nor end anything outside quotes: everything but quotes, NUL and the
/// first bytes of comment openers (`#`, `-`, `/`).
const INERT: [bool; 256] = {
    let mut t = [true; 256];
    let special = [b'\'', b'"', b'`', 0, b'#', b'-', b'/'];
    let mut k = 0;
    while k < special.len() {
        t[special[k] as usize] = false;
        k += 1;
    }
    t
};

/// Classifies the comment opened by the `/*` just before `rest`.
fn comment_opener(rest: &[u8]) -> Finding {
    match rest {
        [b'!', ..] | [b'M' | b'm', b'!', ..] => Finding::Executable,
        [b'+', ..] => Finding::Hint,
        _ => Finding::Comment,
    }
}

/// Scans like MariaDB's lexer does: strings (`'`, `"` with backslash escapes), backtick
/// identifiers, `#` and `-- ` line comments, non-nesting block comments. Comment openers inside
/// comments are reported too (conservative: the other lexer may disagree about the boundary).
fn scan(sql: &str, mut found: impl FnMut(Finding) -> Result<(), Refusal>) -> Result<(), Refusal> {
    let b = sql.as_bytes();
    let mut state = State::Normal;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        // Runs of bytes that change nothing are skipped in a tight loop.
        match state {
            State::Normal => {
                while b.get(i).is_some_and(|c| INERT[usize::from(*c)]) {
                    i += 1;
                }
            }
            State::Quoted(q) => {
                while b.get(i).is_some_and(|c| *c != q && *c != b'\\') {
                    i += 1;
                }
            }
            State::LineComment | State::BlockComment => {}
        }
        let Some(&c) = b.get(i) else { break };
        let opens_block = c == b'/' && b.get(i + 1) == Some(&b'*');
        match state {
            State::Normal => match c {
                b'\'' | b'"' | b'`' => state = State::Quoted(c),
                0 => found(Finding::Nul)?,
                b'#' => {
                    found(Finding::Comment)?;
                    state = State::LineComment;
                    start = i;
                }
                b'-' if b.get(i + 1) == Some(&b'-')
                    && b.get(i + 2)
                        .is_none_or(|n| n.is_ascii_whitespace() || n.is_ascii_control()) =>
                {
                    found(Finding::Comment)?;
                    state = State::LineComment;
                    start = i;
                    i += 1;
                }
                _ if opens_block => {
                    found(comment_opener(&b[i + 2..]))?;
                    found(Finding::Comment)?;
                    state = State::BlockComment;
                    start = i;
                    i += 1;
                }
                _ => {}
            },
            State::Quoted(q) => {
                if c == b'\\' && q != b'`' {
                    if matches!(b.get(i + 1), Some(b'a' | b'f')) {
                        found(Finding::AmbiguousEscape)?;
                    }
                    i += 1;
                } else if c == q {
                    state = State::Normal;
                }
            }
            State::LineComment | State::BlockComment => {
                if opens_block {
                    found(comment_opener(&b[i + 2..]))?;
                } else if state == State::LineComment && c == b'\n' {
                    found(Finding::Span(start, i))?;
                    state = State::Normal;
                } else if state == State::BlockComment && c == b'*' && b.get(i + 1) == Some(&b'/') {
                    found(Finding::Span(start, i + 2))?;
                    state = State::Normal;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    if matches!(state, State::LineComment | State::BlockComment) {
        found(Finding::Span(start, b.len()))?;
    }
    Ok(())
}

fn hint_refusal() -> Refusal {
    Refusal::forbidden("optimizer hints (/*+ ... */) are not allowed through OctoDB")
}

fn escape_refusal() -> Refusal {
    Refusal::forbidden(
        "the escape sequences \\a and \\f in string literals are ambiguous and not allowed \
         through OctoDB: write the letter without the backslash",
    )
}

/// Refuses executable comments, optimizer hints and ambiguous escapes in the raw text.
/// Returns whether the text holds any comment (for [`check_tokens`]).
pub(crate) fn check_raw(sql: &str) -> Result<bool, Refusal> {
    let mut comments = false;
    scan(sql, |f| match f {
        Finding::Executable => Err(Refusal::executable_comment()),
        Finding::Hint => Err(hint_refusal()),
        Finding::AmbiguousEscape => Err(escape_refusal()),
        Finding::Nul => Err(Refusal::syntax("a NUL byte outside a string literal")),
        Finding::Comment | Finding::Span(..) => {
            comments = true;
            Ok(())
        }
    })?;
    Ok(comments)
}

/// Refuses executable comments and hints as sqlparser's tokenizer sees them, and any
/// statement whose comments the two lexers delimit differently (`--` followed by a control
/// character, `--` at the very end, and whatever else makes them disagree): the text the
/// policy checks must be the text MariaDB runs.
///
/// `raw_comments` is what [`check_raw`] found: when neither lexer sees a comment they agree,
/// and the text need not be scanned again.
pub(crate) fn check_tokens(
    sql: &str,
    tokens: &[TokenWithSpan],
    raw_comments: bool,
) -> Result<(), Refusal> {
    let is_comment = |t: &TokenWithSpan| {
        matches!(
            t.token,
            Token::Whitespace(
                Whitespace::MultiLineComment(_) | Whitespace::SingleLineComment { .. }
            )
        )
    };
    if !raw_comments && !tokens.iter().any(is_comment) {
        return Ok(());
    }
    let mut ours = Vec::new();
    for t in tokens {
        match &t.token {
            Token::Whitespace(Whitespace::MultiLineComment(body)) => {
                match comment_opener(body.as_bytes()) {
                    Finding::Executable => return Err(Refusal::executable_comment()),
                    Finding::Hint => return Err(hint_refusal()),
                    _ => {}
                }
                ours.push(format!("/*{body}*/"));
            }
            Token::Whitespace(Whitespace::SingleLineComment { comment, prefix }) => {
                ours.push(format!("{prefix}{comment}"));
            }
            _ => {}
        }
    }
    let mut theirs = Vec::new();
    scan(sql, |f| {
        if let Finding::Span(a, b) = f {
            theirs.push(sql.get(a..b).unwrap_or_default());
        }
        Ok(())
    })?;
    if ours.len() == theirs.len() && ours.iter().zip(&theirs).all(|(a, b)| a == b) {
        Ok(())
    } else {
        Err(Refusal::forbidden(
            "comments that MariaDB and OctoDB's parser would delimit differently are not \
             allowed through OctoDB: after `--` write a space, and end `#` and `--` comments \
             with a newline",
        ))
    }
}

/// The text about to be forwarded must hold no comment outside quotes: rendering never
/// produces one, so finding one means the backend would read the text differently.
pub(crate) fn check_rendered(sql: &str) -> Result<(), Refusal> {
    scan(sql, |f| match f {
        Finding::AmbiguousEscape => Err(escape_refusal()),
        _ => Err(Refusal::unsafe_render()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_comments_found_outside_strings_only() {
        assert!(check_raw("SELECT 1 /*! , 2 */").is_err());
        assert!(check_raw("SELECT 1 /*M!100000 , 2 */").is_err());
        assert!(check_raw("SELECT /* a /*! b */ 1").is_err());
        assert!(check_raw("SELECT 1 -- x /*! y */").is_err());
        assert!(check_raw("SELECT /*+ BKA(t) */ 1").is_err());
        assert!(check_raw("SELECT '/*!', \"/*M!\", `/*+`").is_ok());
        assert!(check_raw("SELECT 'it\\'s /*!' /* fine */").is_ok());
        assert!(check_raw("SELECT 'a\\\\' /*! 1 */").is_err());
    }

    #[test]
    fn ambiguous_escapes() {
        assert!(check_raw("SELECT 'a\\ab'").is_err());
        assert!(check_raw("SELECT 'a\\\\ab'").is_ok());
        assert!(check_raw("SELECT `a\\a`").is_ok());
    }

    #[test]
    fn rendered_text_has_no_comments() {
        assert!(check_rendered("SELECT 1 - -1").is_ok());
        assert!(check_rendered("SELECT '-- x', '#'").is_ok());
        assert!(check_rendered("SELECT 1 # x").is_err());
        assert!(check_rendered("SELECT 1 -- x").is_err());
        assert!(check_rendered("SELECT 1 /* x */").is_err());
    }
}
