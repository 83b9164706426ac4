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
//! `Display` also prints verbatim. The text is then parsed again and must give exactly the
//! approved tree (spans are ignored by sqlparser's `PartialEq`) and contain no comment;
//! otherwise nothing is forwarded.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, Statement, Value, ValueWithSpan, VisitMut, VisitorMut};

use crate::{lexical, parse, Refusal};

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

/// The SQL text for `approved`, guaranteed to parse back to `approved`.
#[cfg(test)]
pub(crate) fn render(approved: &Statement) -> Result<String, Refusal> {
    render_with(approved, |_| {})
}

/// [`render`], with `escape_more` applied to the clone for string fields that are not
/// literals (DDL comments), which the visitor cannot reach.
pub(crate) fn render_with(
    approved: &Statement,
    escape_more: impl FnOnce(&mut Statement),
) -> Result<String, Refusal> {
    let mut out = approved.clone();
    let _ = out.visit(&mut Escaper);
    escape_more(&mut out);
    let sql = out.to_string();
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
