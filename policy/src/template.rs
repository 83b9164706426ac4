//! Literal-independent decisions ("shape templates") for text statements.
//!
//! Why: applications without prepared statements send the same statement again and again with
//! a new literal each time (`SELECT c FROM t WHERE id=5012`, then `id=77`...). A cache keyed by
//! the exact text misses on every one of them, and a full [`crate::check`] costs about half
//! of the proxy's work per query. For the plain SELECT/INSERT/UPDATE/DELETE the policy
//! forwards, the decision does not depend on the values of plain literals: the rewritten text
//! is the same with each literal rendered in its place, and every other fact about the
//! statement is the same.
//!
//! So a statement has a [`Shape`]: its significant tokens with every plain literal (number,
//! single-quoted string) replaced by a marker of its kind, plus the literals. The first
//! statement of a shape is checked in full; its [`Template`] is the full check (`prepared`,
//! so `?` is allowed) of the same text with `?` in place of each literal, with the byte ranges
//! of those `?` in the forwarded text. Later statements of the shape [`instantiate`] it: each
//! literal is rendered exactly as the renderer renders it and spliced into its range. Nothing
//! else is copied from the tenant's text: the splice only puts literal values, in the
//! renderer's escape syntax, where the approved tree has a value.
//!
//! A template is kept only when instantiating it reproduces the full check exactly, for the
//! statement that created it and for a probe of the same text with distinct literals (which
//! catches a rendering that reorders literals, e.g. `LIMIT a, b`). Anything else (other
//! statement kinds, names remapped in results, session values, user variables, placeholders
//! that do not parse where a literal did, like `CHAR(10)`) is decided in full every time.
//! The front checks that read the raw text (executable comments, ambiguous escapes in
//! literals, comment delimiting, one statement, nesting depth) run on every statement before
//! its shape is taken, so they are never skipped.

use std::fmt::Write;
use std::ops::Range;

use sqlparser::tokenizer::{Location, Token, Word};

use crate::canonical::{self, Lex, Lexeme, Punct};
use crate::StatementKind;
use crate::{check, depth, lexical, parse, render, Decision, Forward, SessionContext};

/// Statements longer than this are not shape-cached (their keys would cost as much memory as
/// the statements, and long statements are rarely repeated with new literals only).
pub const MAX_SHAPE_SQL: usize = 8 * 1024;

/// A plain literal taken out of a statement: the value a placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Literal {
    /// A number token, rendered as its text.
    Number(String),
    /// A single-quoted string (escapes resolved), rendered in backslash-escape syntax.
    Str(String),
}

impl Literal {
    /// The literal `token` is, given the significant token before it: a string after an
    /// introducer (`_utf8mb4'x'`, a word starting with `_`) is not plain, it stays in the key.
    fn of_token(token: &Token, prev: Option<&Token>) -> Option<Literal> {
        if matches!(prev, Some(Token::Word(Word { value, quote_style: None, .. })) if value.starts_with('_'))
        {
            return None;
        }
        match token {
            Token::Number(n, false) => Some(Literal::Number(n.clone())),
            Token::SingleQuotedString(s) => Some(Literal::Str(s.clone())),
            _ => None,
        }
    }

    /// Writes the literal exactly as the renderer writes the value it becomes.
    fn render_into(&self, out: &mut String) {
        match self {
            Literal::Number(n) => out.push_str(n),
            Literal::Str(s) => {
                out.push('\'');
                out.push_str(&render::escape(s));
                out.push('\'');
            }
        }
    }

    fn rendered_len(&self) -> usize {
        match self {
            Literal::Number(n) => n.len(),
            Literal::Str(s) => s.len() + 2,
        }
    }
}

/// A statement with its plain literals taken out: the key its [`Template`] is found by, and
/// the literals to put back.
#[derive(Debug, Clone)]
pub struct Shape {
    key: String,
    literals: Vec<Literal>,
    /// Where each literal is in the statement, when the fast tokenizer read it (empty
    /// otherwise): what a [`Pattern`] is made of.
    spans: Vec<Range<usize>>,
}

impl Shape {
    /// Equal for two statements exactly when their significant tokens are equal apart from
    /// the values of their plain literals (each literal's kind is part of the key).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How many literals were taken out.
    pub fn literals(&self) -> usize {
        self.literals.len()
    }

    /// The pattern of `sql`, the statement this shape was taken from, to recognise the next
    /// statements of the shape without lexing them; `None` unless the fast tokenizer read it.
    pub fn pattern(&self, sql: &str) -> Option<Pattern> {
        if self.spans.len() != self.literals.len() || self.literals.is_empty() {
            return None;
        }
        let holes = self
            .spans
            .iter()
            .zip(&self.literals)
            .map(|(span, literal)| (span.clone(), matches!(literal, Literal::Number(_))))
            .collect();
        Some(Pattern {
            sql: sql.into(),
            holes,
            #[cfg(debug_assertions)]
            key: self.key.clone(),
        })
    }
}

/// A statement read by the fast tokenizer, with where its literals are: a statement that is
/// the same text with other literals of the same kinds in the same places has the same shape,
/// and [`Pattern::literals`] finds its literals by comparing bytes instead of lexing it.
///
/// Why that is sound: the text between two literals is compared byte for byte, and each
/// literal is read with the tokenizer's own function for its kind, which must end exactly
/// where the known text starts again. The tokenizer decides a lexeme from its own bytes, the
/// byte after it, and whether the lexeme before it was a word or a period; a literal of the
/// same kind starts with the same kind of byte (a digit or a quote), so every lexeme around
/// it is read as before, and the significant lexemes are the old ones with new literal
/// values. The raw front checks [`shape`] runs (executable comments, hints, ambiguous
/// escapes) pass on the known text, which the pattern's statement passed with no comment in
/// it (the fast tokenizer reads none); they run again on each new string literal, read alone
/// as the scanner reads it in place: it starts and ends outside any literal or comment, and
/// its first and last bytes are quotes, which cannot join the text around it into a comment.
/// Debug builds compare every match with [`shape`].
#[derive(Debug, Clone)]
pub struct Pattern {
    sql: Box<str>,
    /// Each literal's byte range in `sql`, and whether it is a number (else a string).
    holes: Vec<(Range<usize>, bool)>,
    #[cfg(debug_assertions)]
    key: String,
}

/// A statement's plain literals, as [`Pattern::literals`] found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literals(Vec<Literal>);

impl Pattern {
    /// The literals of `sql` if it is this pattern's statement with other literals of the
    /// same kinds in the same places (see [`Pattern`]); `None` otherwise, or when the fast
    /// tokenizer would not read it.
    pub fn literals(&self, sql: &str) -> Option<Literals> {
        if sql.len() > MAX_SHAPE_SQL {
            return None;
        }
        let (old, new) = (self.sql.as_bytes(), sql.as_bytes());
        let (mut o, mut n) = (0, 0);
        // Most statements of other shapes differ before the first literal: no allocation.
        let first = self.holes.first()?.0.start;
        if new.get(..first)? != old.get(..first)? {
            return None;
        }
        let mut literals = Vec::with_capacity(self.holes.len());
        for (span, number) in &self.holes {
            let known = old.get(o..span.start)?;
            if new.get(n..n + known.len())? != known {
                return None;
            }
            n += known.len();
            let first = *new.get(n)?;
            let len = if *number {
                if !first.is_ascii_digit() {
                    return None;
                }
                canonical::number(sql, n)?
            } else {
                if first != b'\'' {
                    return None;
                }
                canonical::string(sql, n)?
            };
            let text = sql.get(n..n + len)?;
            literals.push(if *number {
                Literal::Number(text.to_owned())
            } else {
                // The front checks `shape` runs, on the only new text that can fail them:
                // the known text passed them, and a number is digits, letters and periods.
                if lexical::check_raw(text).ok()? {
                    return None;
                }
                Literal::Str(canonical::unquoted(text).collect())
            });
            n += len;
            o = span.end;
        }
        if new.get(n..)? != old.get(o..)? {
            return None;
        }
        #[cfg(debug_assertions)]
        {
            let full = shape(sql);
            debug_assert_eq!(
                full.as_ref().map(|s| (&s.key, &s.literals)),
                Some((&self.key, &literals)),
                "a pattern disagrees with the shape of {sql:?}"
            );
        }
        Some(Literals(literals))
    }
}

/// A decision with holes where a statement's literals go.
#[derive(Debug, Clone)]
pub struct Template {
    forward: Forward,
    /// Byte ranges of the `?` placeholders in `forward.sql`, in the order of the literals.
    holes: Vec<Range<usize>>,
}

impl Template {
    /// The forwarded text with `?` in place of the literals.
    pub fn sql(&self) -> &str {
        &self.forward.sql
    }
}

/// Why no template was made for a statement's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// The decision depends on more than the literals' positions (kind, remapped names,
    /// session values...), or the text with placeholders is not accepted as it is.
    Ineligible,
    /// Instantiating the template did not reproduce the full check: a bug to look into,
    /// contained by not using the template.
    Mismatch,
}

/// The shape of `sql` (a COM_QUERY text), or `None` when the statement must be checked in
/// full: a front check refuses it (the full check then refuses it properly), it has no plain
/// literal, it holds `?` placeholders or `@`/`@@` variables, or it is longer than
/// [`MAX_SHAPE_SQL`].
pub fn shape(sql: &str) -> Option<Shape> {
    if sql.len() > MAX_SHAPE_SQL {
        return None;
    }
    // The front checks `check` starts with, in the same order, on the same functions.
    let comments = lexical::check_raw(sql).ok()?;
    if let Some(lexemes) = canonical::significant_lexemes(sql) {
        if lexemes.len() <= depth::MAX_DEPTH {
            let fast = shape_of_lexemes(sql, &lexemes);
            debug_assert_eq!(
                fast.as_ref().map(|s| (&s.key, &s.literals)),
                shape_of_tokens(sql, comments)
                    .as_ref()
                    .map(|s| (&s.key, &s.literals)),
                "the two ways to a shape disagree on {sql:?}"
            );
            return fast;
        }
    }
    shape_of_tokens(sql, comments)
}

/// [`shape`] from the fast tokenizer's lexemes (`sig`, at most [`depth::MAX_DEPTH`] of them,
/// so the depth estimate has nothing to say): the same key and literals, without building
/// sqlparser's tokens. Holding no comment, such text passes `check_tokens` as it is.
fn shape_of_lexemes(sql: &str, sig: &[Lex<'_>]) -> Option<Shape> {
    let mut sig = sig;
    while let [rest @ .., (Lexeme::Punct(Punct::SemiColon), _)] = sig {
        sig = rest;
    }
    if sig.is_empty() {
        return None;
    }
    let mut key = String::with_capacity(sig.len() * 8 + 16);
    let mut literals = Vec::new();
    let mut spans = Vec::new();
    let mut prev_introducer = false;
    for &(lexeme, text) in sig {
        let literal = match lexeme {
            _ if prev_introducer => None,
            Lexeme::Number => Some(Literal::Number(text.to_owned())),
            Lexeme::SingleQuoted => Some(Literal::Str(canonical::unquoted(text).collect())),
            _ => None,
        };
        if let Some(literal) = literal {
            key.push(match literal {
                Literal::Number(_) => '#',
                Literal::Str(_) => '$',
            });
            literals.push(literal);
            // Lexemes are slices of `sql`.
            let start = (text.as_ptr() as usize).wrapping_sub(sql.as_ptr() as usize);
            spans.push(start..start + text.len());
        } else {
            match lexeme {
                // A second statement (`check_single`).
                Lexeme::Punct(Punct::SemiColon) => return None,
                Lexeme::Word => push_word(&mut key, None, text),
                _ => encode(&canonical::token(lexeme, text), &mut key)?,
            }
        }
        key.push('\0');
        prev_introducer = lexeme == Lexeme::Word && text.starts_with('_');
    }
    if literals.is_empty() {
        return None;
    }
    Some(Shape {
        key,
        literals,
        spans,
    })
}

/// [`shape`] from sqlparser's tokens.
fn shape_of_tokens(sql: &str, comments: bool) -> Option<Shape> {
    let tokens = parse::tokenize_unlocated(sql).ok()?;
    lexical::check_tokens(sql, &tokens, comments).ok()?;
    let mut sig = parse::significant(&tokens);
    parse::check_single(&sig).ok()?;
    while sig.last() == Some(&&Token::SemiColon) {
        sig.pop();
    }
    depth::check_tokens(&sig).ok()?;
    let mut key = String::with_capacity(sql.len() + 16);
    let mut literals = Vec::new();
    let mut prev = None;
    for token in sig {
        if let Some(literal) = Literal::of_token(token, prev) {
            key.push(match literal {
                Literal::Number(_) => '#',
                Literal::Str(_) => '$',
            });
            literals.push(literal);
        } else {
            encode(token, &mut key)?;
        }
        // Never written raw by `encode` (Debug escapes NUL; words are length-prefixed).
        key.push('\0');
        prev = Some(token);
    }
    if literals.is_empty() {
        return None;
    }
    Some(Shape {
        key,
        literals,
        spans: Vec::new(),
    })
}

/// Appends an encoding of a non-literal token to a shape key: injective, so that two keys are
/// equal only for equal token sequences. `None` for the tokens a shape must not hold.
fn encode(token: &Token, key: &mut String) -> Option<()> {
    let fixed = match token {
        Token::Placeholder(_) | Token::AtSign | Token::Number(_, true) => return None,
        Token::Word(Word {
            value, quote_style, ..
        }) => {
            if value.starts_with('@') {
                return None;
            }
            push_word(key, *quote_style, value);
            return Some(());
        }
        Token::Comma => ",",
        Token::LParen => "(",
        Token::RParen => ")",
        Token::Eq => "=",
        Token::Period => ".",
        Token::Mul => "*",
        Token::Minus => "-",
        Token::Plus => "+",
        Token::Lt => "<",
        Token::Gt => ">",
        Token::LtEq => "<=",
        Token::GtEq => ">=",
        Token::Neq => "<>",
        // Derived Debug: the variant name, then any content quoted and escaped.
        other => {
            let _ = write!(key, "{other:?}");
            return Some(());
        }
    };
    key.push_str(fixed);
    Some(())
}

/// Appends a word, length-prefixed: any value, any character. Written by hand: this runs for
/// every word of every statement that misses the exact cache.
fn push_word(key: &mut String, quote_style: Option<char>, value: &str) {
    key.push('w');
    key.push(quote_style.unwrap_or('-'));
    push_decimal(key, value.len());
    key.push(':');
    key.push_str(value);
}

/// Appends `n` in decimal.
fn push_decimal(key: &mut String, n: usize) {
    if n >= 10 {
        push_decimal(key, n / 10);
    }
    key.push(char::from(b'0' + (n % 10) as u8));
}

/// Whether a decision may be shared by every statement of its shape.
fn eligible(forward: &Forward) -> bool {
    matches!(
        forward.kind,
        StatementKind::Select
            | StatementKind::Insert
            | StatementKind::Update
            | StatementKind::Delete
    ) && !forward.remap_names
        && !forward.uses_session_values
        && !forward.sets_user_variable
}

/// The template for `sql`'s shape, given `decided`, the full check of `sql` in `ctx`.
///
/// Runs the full check on the text with `?` for each literal (`prepared`, so placeholders
/// are allowed), finds the placeholders in the forwarded text, and keeps the template only if
/// instantiating it gives `decided` back for `sql`, and the full check back for a probe text
/// with distinct literals.
pub fn template(
    sql: &str,
    shape: &Shape,
    decided: &Decision,
    ctx: &SessionContext<'_>,
) -> Result<Template, Unfit> {
    let Decision::Forward(expected) = decided else {
        return Err(Unfit::Ineligible);
    };
    if !eligible(expected) {
        return Err(Unfit::Ineligible);
    }
    let ranges = literal_ranges(sql, &shape.literals).ok_or(Unfit::Ineligible)?;
    let with_placeholders = splice(sql, &ranges, |_, out| out.push('?'));
    let Ok(Decision::Forward(forward)) = check(&with_placeholders, ctx, true) else {
        return Err(Unfit::Ineligible);
    };
    if !eligible(&forward) {
        return Err(Unfit::Ineligible);
    }
    let holes = placeholders(&forward.sql).ok_or(Unfit::Ineligible)?;
    if holes.len() != shape.literals.len() {
        return Err(Unfit::Ineligible);
    }
    let template = Template { forward, holes };
    if instantiate_with(&template, &shape.literals).as_ref() != Some(expected) {
        return Err(Unfit::Mismatch);
    }
    let probes = probe_literals(&shape.literals);
    let probe_sql = splice(sql, &ranges, |i, out| {
        if let Some(p) = probes.get(i) {
            p.render_into(out);
        }
    });
    let probed = check(&probe_sql, ctx, false);
    match (probed, instantiate_with(&template, &probes)) {
        (Ok(Decision::Forward(full)), Some(ours)) if full == ours => Ok(template),
        _ => Err(Unfit::Mismatch),
    }
}

/// The decision for the statement `shape` was taken from: `template` with the statement's
/// literals in its holes. `None` if the counts differ (a template of another shape).
pub fn instantiate(template: &Template, shape: &Shape) -> Option<Forward> {
    instantiate_with(template, &shape.literals)
}

/// [`instantiate`] with the literals a [`Pattern`] found.
pub fn instantiate_literals(template: &Template, literals: &Literals) -> Option<Forward> {
    instantiate_with(template, &literals.0)
}

fn instantiate_with(template: &Template, literals: &[Literal]) -> Option<Forward> {
    if template.holes.len() != literals.len() {
        return None;
    }
    let t = &template.forward;
    let extra: usize = literals.iter().map(Literal::rendered_len).sum();
    let mut sql = String::with_capacity(t.sql.len() + extra + 8);
    let mut at = 0;
    for (hole, literal) in template.holes.iter().zip(literals) {
        sql.push_str(t.sql.get(at..hole.start)?);
        literal.render_into(&mut sql);
        at = hole.end;
    }
    sql.push_str(t.sql.get(at..)?);
    Some(Forward {
        sql,
        kind: t.kind.clone(),
        remap_names: t.remap_names,
        sets_user_variable: t.sets_user_variable,
        uses_session_values: t.uses_session_values,
        calc_found_rows: t.calc_found_rows,
        reads: t.reads.clone(),
        writes: t.writes.clone(),
        cacheable: t.cacheable,
        digest: t.digest.clone(),
    })
}

/// Distinct literals of the same kinds as `literals`, so a template that puts a value in the
/// wrong hole cannot reproduce the full check of the probe.
fn probe_literals(literals: &[Literal]) -> Vec<Literal> {
    literals
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            Literal::Number(_) => Literal::Number((i + 1).to_string()),
            Literal::Str(_) => Literal::Str(format!("p{i}")),
        })
        .collect()
}

/// `sql` with each of `ranges` replaced by what `with` writes for its index.
fn splice(sql: &str, ranges: &[Range<usize>], mut with: impl FnMut(usize, &mut String)) -> String {
    let mut out = String::with_capacity(sql.len() + ranges.len() * 4);
    let mut at = 0;
    for (i, r) in ranges.iter().enumerate() {
        out.push_str(sql.get(at..r.start).unwrap_or_default());
        with(i, &mut out);
        at = r.end;
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    out
}

/// The byte ranges of the plain literals in `sql`, from sqlparser's located tokens, which must
/// give exactly `literals` (the fast tokenizer carries no locations; this runs once per shape).
fn literal_ranges(sql: &str, literals: &[Literal]) -> Option<Vec<Range<usize>>> {
    let tokens = parse::tokenize(sql).ok()?;
    let mut at = Locator::new(sql);
    let mut ranges = Vec::with_capacity(literals.len());
    let mut found = Vec::with_capacity(literals.len());
    let mut prev = None;
    for t in &tokens {
        if matches!(t.token, Token::Whitespace(_) | Token::EOF) {
            continue;
        }
        if let Some(literal) = Literal::of_token(&t.token, prev) {
            let start = at.seek(t.span.start)?;
            let end = at.seek(t.span.end)?;
            ranges.push(start..end);
            found.push(literal);
        }
        prev = Some(&t.token);
    }
    (found == literals).then_some(ranges)
}

/// The byte ranges of the `?` placeholder tokens in `sql` (not a `?` inside a quoted
/// identifier or string).
fn placeholders(sql: &str) -> Option<Vec<Range<usize>>> {
    let tokens = parse::tokenize(sql).ok()?;
    let mut at = Locator::new(sql);
    let mut holes = Vec::new();
    for t in &tokens {
        match &t.token {
            Token::Placeholder(p) if p == "?" => {
                let start = at.seek(t.span.start)?;
                if sql.get(start..start + 1) != Some("?") {
                    return None;
                }
                holes.push(start..start + 1);
            }
            Token::Placeholder(_) => return None,
            _ => {}
        }
    }
    Some(holes)
}

/// Turns sqlparser's locations (line and column in characters, from 1; a newline starts a
/// line) into byte offsets, moving forward only.
struct Locator<'a> {
    sql: &'a str,
    byte: usize,
    line: u64,
    column: u64,
}

impl<'a> Locator<'a> {
    fn new(sql: &'a str) -> Self {
        Locator {
            sql,
            byte: 0,
            line: 1,
            column: 1,
        }
    }

    fn seek(&mut self, to: Location) -> Option<usize> {
        while (self.line, self.column) < (to.line, to.column) {
            let c = self.sql.get(self.byte..)?.chars().next()?;
            self.byte += c.len_utf8();
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        ((self.line, self.column) == (to.line, to.column)).then_some(self.byte)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::Mapping;

    fn mapping() -> Mapping {
        Mapping {
            databases: HashMap::from([("app".to_string(), "t_acme__app".to_string())]),
            version: 1,
        }
    }

    fn with_ctx<R>(f: impl FnOnce(&SessionContext<'_>) -> R) -> R {
        let m = mapping();
        f(&SessionContext {
            mapping: &m,
            current_db: Some("app"),
            user: "alice",
        })
    }

    /// The template made from `first`, as `template` answers.
    fn made(first: &str, ctx: &SessionContext<'_>) -> Result<Template, Unfit> {
        let shape = shape(first).unwrap_or_else(|| panic!("no shape: {first}"));
        template(first, &shape, &check(first, ctx, false).unwrap(), ctx)
    }

    /// Every statement in `others` has `first`'s shape, and instantiating `first`'s template
    /// with its literals gives exactly its full check.
    fn shares(first: &str, others: &[&str]) {
        with_ctx(|ctx| {
            let t = made(first, ctx).unwrap_or_else(|e| panic!("{first}: {e:?}"));
            let key = shape(first).unwrap().key;
            for other in others {
                let s = shape(other).unwrap_or_else(|| panic!("no shape: {other}"));
                assert_eq!(s.key, key, "{other} vs {first}");
                let expected = check(other, ctx, false);
                assert_eq!(
                    instantiate(&t, &s).map(Decision::Forward),
                    expected.ok(),
                    "{other}"
                );
            }
        });
    }

    /// Shapes taken from the fast tokenizer's lexemes equal those taken from sqlparser's
    /// tokens (`shape` asserts it in debug builds), across what changes a key: introducers,
    /// variables, quoted names, operators written by their Debug form, `;` anywhere.
    #[test]
    fn both_ways_to_a_shape_agree() {
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=5012",
            "select `a``b`, x FROM t WHERE y = 'it''s' AND z <> \"q\" AND w = 'a\\%'",
            "SELECT _utf8mb4'x', _latin1 5, 'y' FROM t",
            "SELECT @x, 1",
            "SELECT 1 / 2 % 3, 4 - 5 FROM t WHERE a >= 6 AND b != 7;;",
            "SELECT 1; SELECT 2",
            "; SELECT 1",
            ";",
            "SELECT ?, 1",
            "UPDATE t SET a = a + 1, b = 'x' WHERE id IN (1, 2, 3)",
        ] {
            let _ = shape(sql);
        }
        assert!(shape("SELECT c FROM sbtest1 WHERE id=5012").is_some());
        assert!(shape("SELECT 1; SELECT 2").is_none());
        assert!(shape("; SELECT 1").is_none());
    }

    #[test]
    fn numbers_share_a_template() {
        shares(
            "SELECT c FROM sbtest1 WHERE id=5012",
            &[
                "SELECT c FROM sbtest1 WHERE id=77",
                "SELECT c FROM sbtest1 WHERE id=1.5e3",
            ],
        );
        shares(
            "SELECT c FROM t WHERE id = -5 AND k > 2",
            &["SELECT c FROM t WHERE id = -0 AND k > 99999999999999999999999"],
        );
        shares(
            "UPDATE sbtest1 SET k=k+1 WHERE id=10",
            &["UPDATE sbtest1 SET k=k+1 WHERE id=11"],
        );
        shares(
            "DELETE FROM sbtest1 WHERE id=1",
            &["DELETE FROM sbtest1 WHERE id=2;"],
        );
    }

    #[test]
    fn strings_are_rendered_as_the_renderer_renders_them() {
        shares(
            "SELECT c FROM t WHERE name = 'x' AND k = 1",
            &[
                r"SELECT c FROM t WHERE name = 'it''s' AND k = 2",
                r"SELECT c FROM t WHERE name = 'a\\b\'c' AND k = 2",
                r"SELECT c FROM t WHERE name = 'nul\0x' AND k = 2",
                "SELECT c FROM t WHERE name = 'line\nbreak\r\ttab' AND k = 2",
                "SELECT c FROM t WHERE name = '?' AND k = 2",
                "SELECT c FROM t WHERE name = ';' AND k = 2",
                "SELECT c FROM t WHERE name = '-- x' AND k = 2",
                "SELECT c FROM t WHERE name = '/* c */ #' AND k = 2",
                "SELECT c FROM t WHERE name = '\"' AND k = 2",
                "SELECT c FROM t WHERE name = '' AND k = 2",
                "SELECT c FROM t WHERE name = '@x := 1' AND k = 2",
                "SELECT c FROM t WHERE name = 'héllo ☃' AND k = 2",
                "SELECT c FROM t WHERE name = '\\n\\t\\%' AND k = 2",
            ],
        );
    }

    #[test]
    fn placeholders_in_quotes_are_not_holes() {
        shares(
            "SELECT `a?b`, \"q?\" FROM t WHERE x = 1",
            &["SELECT `a?b`, \"q?\" FROM t WHERE x = 2"],
        );
        shares(
            "SELECT `é` FROM t WHERE x = 'é?'",
            &["SELECT `é` FROM t WHERE x = '?é'"],
        );
    }

    #[test]
    fn limits_in_lists_and_rows() {
        shares(
            "SELECT a FROM t LIMIT 10 OFFSET 5",
            &["SELECT a FROM t LIMIT 3 OFFSET 8"],
        );
        // Equal literals first: the probe proves each literal lands in its own hole.
        shares(
            "SELECT a FROM t LIMIT 10, 10",
            &["SELECT a FROM t LIMIT 5, 20"],
        );
        shares(
            "SELECT a FROM t WHERE id IN (1, 2, 3) ORDER BY a",
            &["SELECT a FROM t WHERE id IN (4, 5, 6) ORDER BY a"],
        );
        shares(
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')",
            &["INSERT INTO t (a, b) VALUES (7, 'it''s'), (8, '')"],
        );
        shares(
            "REPLACE INTO t (a, b) VALUES (1, 'x')",
            &["REPLACE INTO t (a, b) VALUES (2, 'y')"],
        );
        shares(
            "SELECT a FROM t WHERE b BETWEEN 1 AND 100 ORDER BY c",
            &["SELECT a FROM t WHERE b BETWEEN 100 AND 1 ORDER BY c"],
        );
    }

    /// Where a placeholder does not stand for a literal (or means something else), no
    /// template is kept, or the one kept is exact: the full check decides every statement
    /// correctly either way.
    #[test]
    fn positions_without_placeholders_fall_back() {
        for (first, other) in [
            (
                "SELECT CAST(x AS CHAR(10)) FROM t WHERE a = 1",
                "SELECT CAST(x AS CHAR(20)) FROM t WHERE a = 2",
            ),
            (
                "SELECT a FROM t WHERE d > NOW() - INTERVAL 1 DAY",
                "SELECT a FROM t WHERE d > NOW() - INTERVAL 2 DAY",
            ),
            (
                "SELECT a FROM t WHERE d > NOW() - INTERVAL '1' DAY",
                "SELECT a FROM t WHERE d > NOW() - INTERVAL '2' DAY",
            ),
            (
                "SELECT a FROM t WHERE b = 'x' COLLATE 'utf8mb4_bin'",
                "SELECT a FROM t WHERE b = 'y' COLLATE 'utf8mb4_bin'",
            ),
            (
                "SELECT a AS 'x' FROM t WHERE b = 1",
                "SELECT a AS 'y' FROM t WHERE b = 1",
            ),
            ("SELECT 'a' 'b' FROM t", "SELECT 'c' 'd' FROM t"),
            (
                "SELECT a FROM t WHERE b LIKE 'x%' ESCAPE '!'",
                "SELECT a FROM t WHERE b LIKE 'y%' ESCAPE '|'",
            ),
            (
                "SELECT CONVERT(a, DECIMAL(10, 2)) FROM t",
                "SELECT CONVERT(a, DECIMAL(12, 4)) FROM t",
            ),
        ] {
            with_ctx(|ctx| {
                let first_shape = shape(first);
                let Some(first_shape) = first_shape else {
                    return;
                };
                let Ok(decided) = check(first, ctx, false) else {
                    return;
                };
                let Ok(t) = template(first, &first_shape, &decided, ctx) else {
                    return;
                };
                let s = shape(other).unwrap();
                assert_eq!(s.key, first_shape.key, "{other}");
                assert_eq!(
                    instantiate(&t, &s).map(Decision::Forward),
                    check(other, ctx, false).ok(),
                    "{first} -> {other}: template {}",
                    t.sql()
                );
            });
        }
        // The cases the brief names have no template at all.
        with_ctx(|ctx| {
            assert_eq!(
                made("SELECT CAST(x AS CHAR(10)) FROM t WHERE a = 1", ctx).err(),
                Some(Unfit::Ineligible)
            );
            assert_eq!(
                made("SELECT a AS 'x' FROM t WHERE b = 1", ctx).err(),
                Some(Unfit::Ineligible)
            );
        });
    }

    #[test]
    fn ineligible_decisions_have_no_template() {
        with_ctx(|ctx| {
            for sql in [
                // Names remapped in results.
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'app'",
                "SELECT COUNT(*) FROM information_schema.columns WHERE ordinal_position > 1",
                // Session values and user variables.
                "SELECT LAST_INSERT_ID() + 1 FROM t",
                "SELECT a INTO @x FROM t LIMIT 1",
                // Session statements.
                "SET autocommit = 1",
                "SET SESSION sql_mode = 'ANSI_QUOTES'",
                "SHOW WARNINGS LIMIT 5",
            ] {
                let Some(s) = shape(sql) else {
                    continue;
                };
                let decided = check(sql, ctx, false);
                let result = match &decided {
                    Ok(d) => template(sql, &s, d, ctx).err(),
                    Err(_) => Some(Unfit::Ineligible),
                };
                assert_eq!(result, Some(Unfit::Ineligible), "{sql}: {decided:?}");
            }
            // A refused statement is never templated.
            let refused = "SELECT SLEEP(1) FROM t";
            assert!(check(refused, ctx, false).is_err());
        });
    }

    #[test]
    fn statements_without_a_shape() {
        for sql in [
            "SELECT a FROM t",
            "SELECT a FROM t WHERE b = ?",
            "SELECT @x + 1",
            "SELECT @@version, 1",
            "SELECT @`x`, 1",
            "SELECT 1; SELECT 2",
            "SELECT /*! 1 */ 2",
            "SELECT 'a\\fb'",
            "",
        ] {
            assert!(shape(sql).is_none(), "{sql}");
        }
        assert!(shape(&format!(
            "SELECT 1 FROM t WHERE a = '{}'",
            "x".repeat(MAX_SHAPE_SQL)
        ))
        .is_none());
    }

    /// Keys differ whenever anything but a literal's value differs: its kind, a quoted
    /// identifier, a double-quoted string, an introducer, case.
    #[test]
    fn keys_keep_everything_but_literal_values() {
        let key = |sql: &str| shape(sql).unwrap().key;
        assert_eq!(
            key("SELECT a FROM t WHERE b = 1"),
            key("SELECT a FROM t WHERE b = 22")
        );
        assert_eq!(
            key("SELECT a FROM t WHERE b = 1"),
            key("SELECT a  FROM t /* c */ WHERE b = 22 ;")
        );
        for (a, b) in [
            (
                "SELECT a FROM t WHERE b = 1",
                "SELECT a FROM t WHERE b = '1'",
            ),
            ("SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE c = 1"),
            ("SELECT a FROM t WHERE b = 1", "SELECT A FROM t WHERE b = 1"),
            (
                "SELECT `a` FROM t WHERE b = 1",
                "SELECT a FROM t WHERE b = 1",
            ),
            ("SELECT \"x\", 1", "SELECT \"y\", 1"),
            ("SELECT _utf8mb4'x', 1", "SELECT _utf8mb4'y', 1"),
            ("SELECT X'ff', 1", "SELECT X'fe', 1"),
            ("SELECT N'x', 1", "SELECT N'y', 1"),
            ("SELECT `a b`, 1", "SELECT `a`, `b`, 1"),
            ("SELECT -1", "SELECT 1"),
        ] {
            assert_ne!(key(a), key(b), "{a} vs {b}");
        }
    }

    /// A tiny deterministic generator (no dependency): the same cases on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n
        }
    }

    /// A random number token text.
    fn number(rng: &mut Rng) -> String {
        let forms = [
            "0",
            "7",
            "42",
            "18446744073709551615",
            "1.5",
            ".5",
            "1e3",
            "2.5E-3",
            "10.",
        ];
        match rng.next(3) {
            0 => forms[rng.next(forms.len())].to_string(),
            _ => rng.next(100_000).to_string(),
        }
    }

    /// A random single-quoted string literal as a client writes it, over the characters that
    /// need escaping or could open comments, placeholders or second statements.
    fn string(rng: &mut Rng) -> String {
        let alphabet = [
            "\\\\", "''", "\\'", "\"", "\\0", "\n", "\\n", "?", ";", "--", "#", "/*", "*/", "`",
            "%", "\\%", "_", "é", "☃", "a", "Z", " ", "@x", "\\t", "\t",
        ];
        let mut out = String::from("'");
        for _ in 0..rng.next(8) {
            out.push_str(alphabet[rng.next(alphabet.len())]);
        }
        out.push('\'');
        out
    }

    /// A differential test in the proxy's manner: statements of many shapes with random
    /// literals; the first of each shape makes its template, every later one must be decided
    /// by it exactly as the full check decides it.
    #[test]
    fn random_literals_agree_with_the_full_check() {
        const SKELETONS: &[&str] = &[
            "SELECT c FROM sbtest1 WHERE id=§",
            "SELECT a, b FROM t WHERE a = § AND b LIKE § ORDER BY a LIMIT §, §",
            "INSERT INTO t (a, b, c) VALUES (§, §, §), (§, §, §)",
            "UPDATE t SET a = §, b = CONCAT(b, §) WHERE id IN (§, §) AND c <> §",
            "DELETE FROM t WHERE a BETWEEN § AND § OR b = §",
            "SELECT COUNT(*) FROM t JOIN u ON t.id = u.tid WHERE u.x > § GROUP BY t.a \
             HAVING COUNT(*) > §",
            "SELECT a FROM t WHERE b = § LOCK IN SHARE MODE",
            "SELECT a FROM t WHERE b = § FOR UPDATE",
            "SELECT * FROM (SELECT a FROM t WHERE b = §) AS s WHERE s.a < -§",
            "SELECT CASE WHEN a > § THEN § ELSE § END FROM t",
            "REPLACE INTO t SET a = §, b = §",
            "INSERT INTO t (a) VALUES (§) ON DUPLICATE KEY UPDATE a = a + §",
            "SELECT a FROM app.t WHERE b IN (SELECT c FROM u WHERE d = §) LIMIT §",
            "SELECT DATABASE(), a FROM t WHERE b = §",
        ];
        let mut rng = Rng(0x5eed);
        let (mut hits, mut unfit) = (0, 0);
        with_ctx(|ctx| {
            let mut templates: HashMap<String, Option<Template>> = HashMap::new();
            for round in 0..3000 {
                let skeleton = SKELETONS[round % SKELETONS.len()];
                let mut sql = String::new();
                for (i, part) in skeleton.split('§').enumerate() {
                    if i > 0 {
                        sql.push_str(&if rng.next(2) == 0 {
                            number(&mut rng)
                        } else {
                            string(&mut rng)
                        });
                    }
                    sql.push_str(part);
                }
                let full = check(&sql, ctx, false);
                let Some(s) = shape(&sql) else {
                    continue;
                };
                match templates.get(&s.key) {
                    Some(Some(t)) => {
                        hits += 1;
                        assert_eq!(
                            instantiate(t, &s).map(Decision::Forward),
                            full.clone().ok(),
                            "{sql} from {}",
                            t.sql()
                        );
                        assert!(full.is_ok(), "{sql}");
                    }
                    Some(None) => {}
                    None => {
                        let made = full.as_ref().ok().map(|d| template(&sql, &s, d, ctx));
                        if let Some(Err(e)) = &made {
                            assert_eq!(*e, Unfit::Ineligible, "{sql}");
                            unfit += 1;
                        }
                        if full.is_ok() {
                            templates.insert(s.key.clone(), made.and_then(Result::ok));
                        }
                    }
                }
            }
        });
        assert!(
            hits > 1500,
            "only {hits} statements were decided from a template"
        );
        assert!(unfit < 100, "{unfit} shapes had no template");
    }

    /// The literals a pattern finds in `sql`, checked against the full shape of `sql`.
    fn rematch(seed: &str, sql: &str) -> Option<Literals> {
        let pattern = shape(seed)
            .and_then(|s| s.pattern(seed))
            .unwrap_or_else(|| panic!("no pattern for {seed:?}"));
        let found = pattern.literals(sql);
        if let Some(found) = &found {
            let full = shape(sql).unwrap_or_else(|| panic!("{sql:?} matched but has no shape"));
            assert_eq!(Some(full.key), shape(seed).map(|s| s.key), "{sql:?}");
            assert_eq!(full.literals, found.0, "{sql:?}");
        }
        found
    }

    #[test]
    fn patterns_find_the_literals_of_the_same_shape() {
        let num = |n: &str| Literal::Number(n.into());
        let text = |t: &str| Literal::Str(t.into());
        let same = [
            (
                "SELECT c FROM t WHERE id=5",
                "SELECT c FROM t WHERE id=5927",
                vec![num("5927")],
            ),
            (
                "SELECT a FROM t WHERE s='x' AND n=1",
                "SELECT a FROM t WHERE s='it''s' AND n=22",
                vec![text("it's"), num("22")],
            ),
            (
                "SELECT a FROM t WHERE s='x' AND n=1",
                r"SELECT a FROM t WHERE s='x\' AND n=1' AND n=1",
                vec![text("x' AND n=1"), num("1")],
            ),
            (
                "SELECT a FROM t WHERE s='é'",
                "SELECT a FROM t WHERE s='日本'",
                vec![text("日本")],
            ),
            (
                "SELECT a FROM t LIMIT 5, 10",
                "SELECT a FROM t LIMIT 50, 1",
                vec![num("50"), num("1")],
            ),
            ("SELECT 1;", "SELECT 2;", vec![num("2")]),
            // One string, doubled quotes inside.
            (
                "SELECT a FROM t WHERE s='x'",
                "SELECT a FROM t WHERE s=''' OR ''='",
                vec![text("' OR '=")],
            ),
        ];
        for (seed, sql, want) in same {
            let got = rematch(seed, sql).map(|l| l.0);
            assert_eq!(got, Some(want), "{seed:?} then {sql:?}");
        }
        // Other lexemes where the literal was, or around it: never taken for the seed's shape.
        let other = [
            ("SELECT c FROM t WHERE id=5", "SELECT c FROM t WHERE id=5.5"),
            ("SELECT c FROM t WHERE id=5", "SELECT c FROM t WHERE id=5e3"),
            (
                "SELECT c FROM t WHERE id=5",
                "SELECT c FROM t WHERE id=0x10",
            ),
            ("SELECT c FROM t WHERE id=5", "SELECT c FROM t WHERE id='5'"),
            (
                "SELECT c FROM t WHERE id=5",
                "SELECT c FROM t WHERE id=5 -- x",
            ),
            (
                "SELECT c FROM t WHERE id=5",
                "SELECT c FROM t WHERE id=5/**/",
            ),
            ("SELECT c FROM t WHERE id=5", "SELECT c FROM t WHERE id=5a"),
            (
                "SELECT c FROM t WHERE id=5",
                "SELECT c FROM t WHERE id=5 OR 1=1",
            ),
            ("SELECT a-1 FROM t", "SELECT a--1 FROM t"),
            ("SELECT 1;", "SELECT 2; DROP TABLE t"),
            ("SELECT a FROM t WHERE s='x'", "SELECT a FROM t WHERE s='x"),
            (
                "SELECT a FROM t WHERE s='x'",
                "SELECT a FROM t WHERE s='x''",
            ),
        ];
        for (seed, sql) in other {
            assert_eq!(rematch(seed, sql), None, "{seed:?} then {sql:?}");
        }
    }

    /// Random bytes where a seed's literals were: whatever a pattern accepts has exactly the
    /// seed's shape, with the literals the full shape finds.
    #[test]
    fn patterns_agree_with_shape_on_random_literals() {
        let seeds = [
            "SELECT c FROM sbtest1 WHERE id=5",
            "SELECT a FROM t WHERE s='x' AND n=1 ORDER BY a LIMIT 3",
            "UPDATE t SET a='v', b=2 WHERE id IN (1, 2, 3)",
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y');",
            "SELECT a FROM t WHERE b<1 AND c>'z' AND d-1=2",
        ];
        let alphabet: Vec<char> = "0123456789'\\\"` -/*#.;eExX_@?()=<>!\n\t\0aé"
            .chars()
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n as u64).unwrap_or(0)
        };
        let mut matched = 0;
        for round in 0..20_000 {
            let seed = seeds[round % seeds.len()];
            let spans = shape(seed).map(|s| s.spans).unwrap_or_default();
            let sql = splice(seed, &spans, |_, out| match next(4) {
                // Mostly plausible literals, sometimes anything.
                0 => out.push_str(&next(100_000).to_string()),
                1 => {
                    out.push('\'');
                    for _ in 0..next(6) {
                        out.push(alphabet[next(alphabet.len())]);
                    }
                    out.push('\'');
                }
                _ => {
                    for _ in 0..next(8) {
                        out.push(alphabet[next(alphabet.len())]);
                    }
                }
            });
            if rematch(seed, &sql).is_some() {
                matched += 1;
            }
        }
        assert!(matched > 500, "only {matched} random statements matched");
    }
}
