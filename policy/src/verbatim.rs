//! Proving, without parsing it again, that rendered text is the tenant's own text with table
//! names requalified.
//!
//! Why: [`crate::render`] proves that the forwarded text means the approved tree by parsing it
//! back and comparing trees, and that second parse is about two fifths of an uncached check.
//! For most statements the rendering is the tenant's text itself, respaced, with keywords in
//! capitals and `` `<physical>`. `` put before (or in place of the logical qualifier of) each
//! table name. When that is all that differs, lexeme by lexeme, the backend reads the text the
//! policy parsed, with every requalified name pointing into one of the tenant's own physical
//! databases, so the second parse can be skipped.
//!
//! The comparison is deliberately narrow. Both texts must lie inside the subset that
//! [`crate::canonical`]'s lexer reads exactly as sqlparser does (no comments, plain numbers,
//! plain operators); anything else, and any difference other than these, answers "not shown"
//! and the caller parses again as before:
//! - an unquoted word equals an unquoted word with the same letters in any case (sqlparser
//!   prints keywords in capitals and identifiers as written);
//! - a string equals a string with the same quote and the same value once escapes are resolved
//!   (rendering writes every string in escape syntax);
//! - `!=` equals `<>` (one operator to sqlparser and to MySQL);
//! - everything else must be the same text;
//! - the rendered text may have `` `P` . `` where the tenant's had nothing or `X .`, only when
//!   `P` is the physical name of one of the tenant's databases (and of `X`, when there was one).
//!
//! Trailing `;` of the tenant's text are ignored: rendering drops them.
//!
//! The rendering compared is the tree printed as it is, strings unescaped: if a string's
//! value would need escaping, the text lexes differently from the tenant's and is not shown.
//!
//! In debug builds (tests, the corpus, fuzzing) every "shown" is checked against the full
//! re-parse as well ([`crate::render`]).

use crate::canonical::{significant_lexemes as significant, unquoted, Lex, Lexeme, Punct};
use crate::Mapping;

/// Whether `rendered` is the tenant's text, whose significant lexemes are `ours`, with only
/// the differences listed in the module's documentation.
pub(crate) fn requalified_only(ours: &[Lex<'_>], rendered: &str, mapping: &Mapping) -> bool {
    let Some(out) = significant(rendered) else {
        return false;
    };
    let mut ours = ours;
    while let [rest @ .., (Lexeme::Punct(Punct::SemiColon), _)] = ours {
        ours = rest;
    }
    let (mut i, mut j) = (0, 0);
    while j < out.len() {
        if ours.get(i).is_some_and(|&o| same(o, out[j])) {
            i += 1;
            j += 1;
            continue;
        }
        let Some(physical) = qualifier(&out[j..], mapping) else {
            return false;
        };
        // `X .` replaced by `` `P` . ``: X must be a database the tenant calls P.
        if let [x, (Lexeme::Punct(Punct::Period), _), ..] = &ours[i..] {
            if word_value(*x).is_some_and(|x| mapping.physical(&x) == Some(physical)) {
                i += 2;
            }
        }
        j += 2;
    }
    i == ours.len()
}

/// The physical database named by a `` `P` . `` at the start of `out`, if P is one of the
/// tenant's.
fn qualifier<'a>(out: &[Lex<'_>], mapping: &'a Mapping) -> Option<&'a str> {
    let [(Lexeme::Backtick, name), (Lexeme::Punct(Punct::Period), _), ..] = out else {
        return None;
    };
    let value = word_value((Lexeme::Backtick, name))?;
    mapping
        .databases
        .values()
        .find(|p| **p == value)
        .map(String::as_str)
}

/// The identifier a word or backtick lexeme names.
fn word_value(lex: Lex<'_>) -> Option<String> {
    match lex {
        (Lexeme::Word, text) => Some(text.to_owned()),
        (Lexeme::Backtick, text) => Some(text[1..text.len() - 1].replace("``", "`")),
        _ => None,
    }
}

/// Whether a quoted string lexeme is written exactly as [`crate::render`] writes string
/// values when it escapes them: a backslash only before `\`, `'`, `"` or `0`, and no quote or
/// NUL without one. Such text is the escaped form of its value, so the fast path prints
/// exactly what the escaping path would have printed (the shape cache relies on one rendering
/// per value).
fn escape_syntax(text: &str) -> bool {
    let inner = text.as_bytes().get(1..text.len() - 1).unwrap_or_default();
    let mut bytes = inner.iter();
    while let Some(&c) = bytes.next() {
        let allowed = match c {
            // A backslash and the byte it escapes, taken together.
            b'\\' => matches!(bytes.next(), Some(b'\\' | b'\'' | b'"' | b'0')),
            b'\'' | b'"' | 0 => false,
            _ => true,
        };
        if !allowed {
            return false;
        }
    }
    true
}

/// Whether two lexemes read the same (see the module's documentation).
fn same(ours: Lex<'_>, out: Lex<'_>) -> bool {
    match (ours, out) {
        ((Lexeme::Word, a), (Lexeme::Word, b)) => a.eq_ignore_ascii_case(b),
        ((Lexeme::SingleQuoted, a), (Lexeme::SingleQuoted, b))
        | ((Lexeme::DoubleQuoted, a), (Lexeme::DoubleQuoted, b)) => {
            escape_syntax(b) && (a == b || unquoted(a).eq(unquoted(b)))
        }
        ((Lexeme::Punct(a), _), (Lexeme::Punct(b), _)) => a == b,
        ((a, x), (b, y)) => a == b && x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn mapping() -> Mapping {
        let databases: HashMap<String, String> = [("app", "t_a__app"), ("logs", "t_a__logs")]
            .into_iter()
            .map(|(l, p)| (l.to_owned(), p.to_owned()))
            .collect();
        Mapping {
            databases,
            version: 1,
        }
    }

    fn shown(original: &str, rendered: &str) -> bool {
        significant(original).is_some_and(|ours| requalified_only(&ours, rendered, &mapping()))
    }

    #[test]
    fn requalified_respaced_and_recased_text_is_shown() {
        assert!(shown(
            "select c from sbtest1 where id=5;",
            "SELECT c FROM `t_a__app`.sbtest1 WHERE id = 5"
        ));
        assert!(shown(
            "SELECT * FROM logs.t JOIN u ON t.a != u.b",
            "SELECT * FROM `t_a__logs`.t JOIN `t_a__app`.u ON t.a <> u.b"
        ));
        assert!(shown("SELECT 'it''s'", r"SELECT 'it\'s'"));
        assert!(shown(r"SELECT 'a\\b\0'", r"SELECT 'a\\b\0'"));
        assert!(shown(r#"SELECT "a\"b""#, r#"SELECT "a\"b""#));
        assert!(shown(
            "SELECT `a``b` FROM t",
            "SELECT `a``b` FROM `t_a__app`.t"
        ));
    }

    /// What sysbench and ORMs send takes the fast path through the whole check: its rendering
    /// is shown requalified only (and, in this debug build, parses back to the same tree).
    #[test]
    fn common_statements_skip_the_second_parse() {
        let mapping = mapping();
        let ctx = crate::SessionContext {
            mapping: &mapping,
            current_db: Some("app"),
            user: "u",
        };
        for (sql, prepared) in [
            ("SELECT c FROM sbtest1 WHERE id=?", true),
            ("SELECT c FROM sbtest1 WHERE id=5012", false),
            (
                "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100",
                false,
            ),
            (
                "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
                false,
            ),
            ("UPDATE sbtest1 SET k=k+1 WHERE id=?", true),
            ("DELETE FROM sbtest1 WHERE id=?", true),
            (
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)",
                true,
            ),
            (
                "select u.id, a.street from app.users u left outer join logs.addresses as a \
              on u.id = a.user_id where u.name like 'a%' order by u.id limit 20 offset 40;",
                false,
            ),
        ] {
            let Ok(crate::Decision::Forward(f)) = crate::check(sql, &ctx, prepared) else {
                panic!("{sql} not forwarded");
            };
            assert!(shown(sql, &f.sql), "{sql} -> {}", f.sql);
        }
    }

    #[test]
    fn any_other_difference_is_not_shown() {
        for (original, rendered) in [
            // A qualifier naming another tenant's database, or a logical name.
            ("SELECT c FROM t", "SELECT c FROM `t_b__app`.t"),
            ("SELECT c FROM t", "SELECT c FROM `app`.t"),
            ("SELECT c FROM t", "SELECT c FROM t_a__app.t"),
            // A replaced qualifier that is not the logical name of the new one.
            ("SELECT c FROM logs.t", "SELECT c FROM `t_a__app`.t"),
            // Identifiers are case-sensitive once quoted; values are values.
            ("SELECT `A` FROM t", "SELECT `a` FROM `t_a__app`.t"),
            ("SELECT 'a'", "SELECT 'A'"),
            ("SELECT 'a'", "SELECT \"a\""),
            ("SELECT 1", "SELECT 2"),
            ("SELECT a", "SELECT `a`"),
            // Added, dropped or moved lexemes.
            ("SELECT a FROM t", "SELECT a FROM `t_a__app`.t LIMIT 1"),
            ("SELECT a, b FROM t", "SELECT a FROM `t_a__app`.t"),
            (
                "SELECT a FROM t LIMIT 1, 2",
                "SELECT a FROM `t_a__app`.t LIMIT 2 OFFSET 1",
            ),
            ("SELECT (a)", "SELECT a"),
            // Outside the subset on either side.
            ("SELECT 1 -- x", "SELECT 1"),
            ("SELECT 1.5", "SELECT 1.5"),
            ("SELECT 1", "SELECT 1 /* x */"),
            // The same value, not written as the escaping renderer writes it.
            ("SELECT 'it''s'", "SELECT 'it''s'"),
            (r"SELECT 'a\%'", r"SELECT 'a\%'"),
            (r#"SELECT 'a"b'"#, r#"SELECT 'a"b'"#),
            (r"SELECT 'a\nb'", r"SELECT 'a\nb'"),
        ] {
            assert!(!shown(original, rendered), "{original} / {rendered}");
        }
    }
}
