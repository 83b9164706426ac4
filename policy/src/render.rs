//! Rendering the approved tree back to SQL, and proving the text means that tree.
//!
//! Guards against the backend reading the forwarded text differently from the tree the policy
//! approved. sqlparser's tokenizer (MySQL dialect) resolves backslash escapes in string
//! literals, but its `Display` does not re-escape backslashes, and its quote escaper leaves a
//! quote alone when it follows a backslash or another quote: the value `a\` would go out as
//! `'a\'`, which MySQL reads as an unterminated string that swallows what follows (an
//! injection), and a value with two adjacent quotes would lose one.
//!
//! So rendering works on a clone in which every string literal (and string-quoted identifier
//! such as `AS 'x'`) is already written in MySQL escape syntax: `\` -> `\\`, `'` -> `\'`,
//! `"` -> `\"`, NUL -> `\0`. Every quote then follows a backslash, so `Display` prints the text
//! verbatim. Backtick identifiers (no escapes in MySQL) get each backtick doubled, which
//! `Display` also prints verbatim. When no string holds any of these characters the escaped
//! clone would equal the tree, so the tree itself is rendered (no clone). The text is then
//! parsed again (tokenized by [`crate::canonical`] where it can) and must give exactly the
//! approved tree (spans are ignored by sqlparser's `PartialEq`) and contain no comment;
//! otherwise nothing is forwarded.
//!
//! Most statements take a shorter way: printed unescaped, their text is the tenant's own,
//! requalified, lexeme for lexeme ([`crate::verbatim`]), which proves as much for less.

use std::fmt::Write;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Ident, Statement, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut,
};

use crate::canonical::Lex;
use crate::{lexical, parse, verbatim, Mapping, Refusal};

/// Whether [`escape`] would change `s`.
fn needs_escape(s: &str) -> bool {
    s.bytes().any(|c| matches!(c, b'\\' | b'\'' | b'"' | 0))
}

/// A value in MySQL string-literal escape syntax, for `Display` to wrap in quotes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            '"' => out.push_str(r#"\""#),
            '\0' => out.push_str(r"\0"),
            c => out.push(c),
        }
    }
    out
}

/// Finds a string field that [`Escaper`] would change; when there is none, the approved tree
/// itself is rendered, which saves cloning and dropping a whole statement.
struct NeedsEscaper;

impl Visitor for NeedsEscaper {
    type Break = ();

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
        match &value.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::NationalStringLiteral(s)
                if needs_escape(s) =>
            {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_ident(&mut self, ident: &Ident) -> ControlFlow<()> {
        let needs = match ident.quote_style {
            Some('\'' | '"') => needs_escape(&ident.value),
            Some('`') => ident.value.contains('`'),
            _ => false,
        };
        if needs {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

struct Escaper;

impl VisitorMut for Escaper {
    type Break = ();

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        match &mut value.value {
            // The string kinds the MySQL dialect produces. Any other kind keeps sqlparser's
            // rendering and must survive the re-parse on its own.
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::NationalStringLiteral(s) => *s = escape(s),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_ident(&mut self, ident: &mut Ident) -> ControlFlow<()> {
        match ident.quote_style {
            Some('\'' | '"') => ident.value = escape(&ident.value),
            Some('`') => ident.value = ident.value.replace('`', "``"),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `stmt`'s `Display`, written into a buffer sized for a typical statement (`to_string`
/// would grow it from nothing, copying it several times).
fn display(stmt: &Statement) -> Result<String, Refusal> {
    let mut sql = String::with_capacity(256);
    write!(sql, "{stmt}").map_err(|_| Refusal::unsafe_render())?;
    Ok(sql)
}

/// The SQL text for `approved`, guaranteed to parse back to `approved`.
pub(crate) fn render(approved: &Statement) -> Result<String, Refusal> {
    render_with(approved, false, |_| {}, None)
}

/// [`render`], with `escape_more` applied to the clone for string fields that are not
/// literals (SHOW patterns), which the visitor cannot reach; `more` says whether `approved`
/// may have such fields.
///
/// `original` is the significant lexemes of the tenant's text `approved` was parsed from, and
/// the tenant's databases. The tree is first printed as it is, unescaped: when that text lexes
/// as the tenant's text did, with table names requalified and nothing else
/// ([`crate::verbatim`]), it means what the tenant's text meant, whatever its strings hold,
/// and neither escaping nor the proof by parsing again is needed.
pub(crate) fn render_with(
    approved: &Statement,
    more: bool,
    escape_more: impl FnOnce(&mut Statement),
    original: Option<(&[Lex<'_>], &Mapping)>,
) -> Result<String, Refusal> {
    // The tree printed as it is: the fast path's text, and the escaping path's too when no
    // string needs escaping (printed once either way).
    let mut plain = None;
    if let (Some((ours, mapping)), false) = (original, more) {
        let sql = display(approved)?;
        // Lexing in the fast tokenizer's subset, the text holds no comment, and its strings
        // hold only the escapes rendering writes: what `check_rendered` looks for cannot be
        // there.
        if verbatim::requalified_only(ours, &sql, mapping) {
            debug_assert!(
                lexical::check_rendered(&sql).is_ok()
                    && matches!(parse::reparse(&sql).as_deref(), Some([again]) if again == approved),
                "the rendering was shown requalified only, yet it does not parse back: {sql:?}"
            );
            return Ok(sql);
        }
        plain = Some(sql);
    }
    let sql = if more || Visit::visit(approved, &mut NeedsEscaper).is_break() {
        let mut out = approved.clone();
        let _ = VisitMut::visit(&mut out, &mut Escaper);
        escape_more(&mut out);
        display(&out)?
    } else {
        match plain {
            Some(sql) => sql,
            None => display(approved)?,
        }
    };
    lexical::check_rendered(&sql)?;
    match parse::reparse(&sql).as_deref() {
        Some([again]) if again == approved => Ok(sql),
        _ => Err(Refusal::unsafe_render()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_one, tokenize};

    fn round(sql: &str) -> Result<String, Refusal> {
        render(&tokenize(sql).and_then(|t| parse_one(t, sql))?)
    }

    #[test]
    fn strings_are_written_in_escape_syntax() {
        assert_eq!(
            round(r"SELECT 'a\\', 'b'").as_deref(),
            Ok(r"SELECT 'a\\', 'b'")
        );
        assert_eq!(round(r"SELECT 'x\'y'").as_deref(), Ok(r"SELECT 'x\'y'"));
        assert_eq!(round(r"SELECT 'a''''b'").as_deref(), Ok(r"SELECT 'a\'\'b'"));
        assert_eq!(
            round(r"SELECT 'x\\'' OR 1 -- '").as_deref(),
            Ok(r"SELECT 'x\\\' OR 1 -- '")
        );
        assert_eq!(round(r"SELECT 'a\0b'").as_deref(), Ok(r"SELECT 'a\0b'"));
        assert_eq!(round(r#"SELECT "q\"q""#).as_deref(), Ok(r#"SELECT "q\"q""#));
        assert_eq!(
            round(r"SELECT 1 AS 'a\\b'").as_deref(),
            Ok(r"SELECT 1 AS 'a\\b'")
        );
    }

    /// Every short string over the troublesome characters renders and reads back unchanged,
    /// as a single-quoted, double-quoted and N'' literal, and as a string or backtick alias.
    #[test]
    fn exhaustive_short_values_round_trip() {
        use sqlparser::ast::{Expr, SelectItem, SetExpr};
        let alphabet = ['\\', '\'', '"', '`', 'a', '\0', '%', '\n'];
        let mut values = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = values
                .iter()
                .flat_map(|v| alphabet.iter().map(move |c| format!("{v}{c}")))
                .collect();
            values.extend(longer);
        }
        let template = tokenize("SELECT 'x' AS 'y'")
            .and_then(|t| parse_one(t, "SELECT 'x' AS 'y'"))
            .unwrap();
        for v in &values {
            for kind in 0..5 {
                let mut stmt = template.clone();
                let Statement::Query(q) = &mut stmt else {
                    panic!()
                };
                let SetExpr::Select(s) = q.body.as_mut() else {
                    panic!()
                };
                let SelectItem::ExprWithAlias { expr, alias } = &mut s.projection[0] else {
                    panic!()
                };
                let Expr::Value(val) = expr else { panic!() };
                match kind {
                    0 => val.value = Value::SingleQuotedString(v.clone()),
                    1 => val.value = Value::DoubleQuotedString(v.clone()),
                    2 => val.value = Value::NationalStringLiteral(v.clone()),
                    3 => *alias = Ident::with_quote('\'', v.clone()),
                    _ => *alias = Ident::with_quote('`', v.clone()),
                }
                if kind == 4 && v.is_empty() {
                    continue;
                }
                assert!(render(&stmt).is_ok(), "kind {kind} value {v:?}");
            }
        }
    }

    /// Skipping the clone when nothing needs escaping changes no text: the tree itself and
    /// the escaped clone render the same, and strings that need escaping take the clone.
    #[test]
    fn clone_is_skipped_only_when_it_changes_nothing() {
        for sql in [
            "SELECT a, 'b', \"c\", N'd', `e` AS 'f' FROM t",
            "SELECT 'it''s', `a``b`, 'a\\\\b', 1 AS \"q\\\"\"",
            "SELECT 'x' AS `y``z`",
            "SELECT 'nul\\0'",
        ] {
            let stmt = tokenize(sql).and_then(|t| parse_one(t, sql)).unwrap();
            let cloned = render_with(&stmt, true, |_| {}, None);
            assert!(cloned.is_ok(), "{sql}: {cloned:?}");
            assert_eq!(render_with(&stmt, false, |_| {}, None), cloned, "{sql}");
        }
    }

    /// The fast path prints exactly what the escaping path prints, whenever it answers: the
    /// shape cache and the result cache key on that text.
    #[test]
    fn the_fast_path_prints_what_the_escaping_path_prints() {
        let mapping = Mapping {
            databases: [("app".to_owned(), "t_a__app".to_owned())].into(),
            version: 1,
        };
        let mut fast = 0;
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=1",
            "select `a``b`, `c` from t where x != 'y'",
            "SELECT 'it''s', \"q\"\"q\", 'a\\\\b', 'a\\0', 'x\\'y' FROM t",
            "SELECT 'a\\%b\\_' LIKE 'a%', \"it's\" FROM app.t",
            "SELECT 'a\\nb', 'tab\\there', '' FROM t",
            "SELECT `é`, 'é' FROM t",
            "SELECT 1 AS 'x''y', 2 AS \"z\" FROM t;",
        ] {
            let (tokens, lexemes) = parse::tokenize_lexed(sql).unwrap();
            let stmt = parse_one(tokens, sql).unwrap();
            let mut approved = stmt.clone();
            crate::tables::rewrite(
                &mut approved,
                &crate::SessionContext {
                    mapping: &mapping,
                    current_db: Some("app"),
                    user: "u",
                },
            )
            .unwrap();
            let slow = render_with(&approved, false, |_| {}, None).unwrap();
            let ours = lexemes.as_deref().map(|l| (l, &mapping));
            if ours.is_some_and(|(l, m)| {
                display(&approved).is_ok_and(|d| verbatim::requalified_only(l, &d, m))
            }) {
                fast += 1;
            }
            assert_eq!(
                render_with(&approved, false, |_| {}, ours).unwrap(),
                slow,
                "{sql}"
            );
        }
        assert!(fast >= 4, "only {fast} statements took the fast path");
    }

    #[test]
    fn backtick_identifiers() {
        assert_eq!(
            round("SELECT `a````b`, `c\\`").as_deref(),
            Ok("SELECT `a````b`, `c\\`")
        );
    }

    #[test]
    fn like_escapes_survive() {
        // MySQL keeps the backslash of \% and \_; so does sqlparser. Doubling it keeps the value.
        assert_eq!(
            round(r"SELECT 'a\%b\_'").as_deref(),
            Ok(r"SELECT 'a\\%b\\_'")
        );
    }
}
