//! A bound on how deep a statement's syntax tree may be, so that no statement a tenant sends
//! can exhaust the stack of the thread checking it.
//!
//! Why: sqlparser limits recursion while it parses (each nested expression, subquery or
//! parenthesis costs one level of a depth counter), but some constructs are parsed by loops
//! that build trees as deep as the input is long: chains of binary operators (`1 + 1 + ...`
//! is a left-deep tree), postfix operators (`x IS NULL IS NULL ...`, `COLLATE`, `->`) and set
//! operations (`SELECT 1 UNION SELECT 1 UNION ...`). Everything that walks such a tree
//! afterwards recurses: the rewrite passes, rendering, the round-trip comparison and even
//! dropping it. A chain of a hundred thousand operators overflowed the stack and aborted the
//! process. sqlparser's own stack-growing guard (`recursive-protection`) does not cover those
//! walks, and it is off in OctoDB's build because it costs several percent of every check.
//!
//! Two checks, both free for ordinary statements (a tree cannot be deeper than its statement
//! has tokens, so statements of at most [`MAX_DEPTH`] significant tokens skip them):
//! - [`check_tokens`], before parsing: a conservative estimate of the depth from the tokens
//!   alone (parenthesis nesting, plus the operators chained within each parenthesis level
//!   since its last comma, plus the set operations at each level). Refusing here matters
//!   because a deep tree is built, and dropped, even when parsing fails further on.
//! - [`check_tree`], after parsing: the expression depth measured on the tree, by a visitor
//!   that stops at the bound, in case the estimate missed a construct. A tree found too deep
//!   is taken apart without recursion before it is dropped.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::Token;

use crate::Refusal;

/// The deepest tree the policy accepts, in nested expressions, operators or set operations.
/// Far beyond what applications write (ORMs nest a handful of levels) and well within what
/// every walk of the tree handles on a 2 MiB stack in an unoptimised build
/// (`policy/tests/depth.rs`).
pub(crate) const MAX_DEPTH: usize = 1000;

fn too_deep() -> Refusal {
    Refusal::syntax(&format!(
        "the statement nests expressions, operators or set operations more than {MAX_DEPTH} \
         levels deep; split it into simpler statements"
    ))
}

/// Refuses, before parsing, a statement whose tree could be deeper than [`MAX_DEPTH`].
pub(crate) fn check_tokens(sig: &[&Token]) -> Result<(), Refusal> {
    if sig.len() <= MAX_DEPTH {
        return Ok(());
    }
    if estimate(sig) > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(())
}

/// One parenthesis level of the estimate.
#[derive(Default)]
struct Level {
    /// Operators and keywords since the level opened or since its last comma: a chain of
    /// them can make one expression that deep.
    chain: usize,
    /// Set operations at this level (a comma inside a select list does not end their chain).
    set_ops: usize,
}

/// An upper bound of the depth of the tree `sig` parses to, for every construct the parser
/// builds with a loop; constructs it builds by recursion are bounded by its own counter.
fn estimate(sig: &[&Token]) -> usize {
    let mut levels: Vec<Level> = vec![Level::default()];
    // Sum of `chain + set_ops` over the enclosing levels, kept up to date.
    let mut below = 0usize;
    let mut deepest = 0usize;
    for token in sig {
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                levels.push(Level::default());
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                if levels.len() > 1 {
                    if let Some(level) = levels.pop() {
                        below = below.saturating_sub(level.chain + level.set_ops);
                    }
                }
            }
            Token::SemiColon => {
                // A statement boundary in a script: the next statement starts afresh.
                levels.clear();
                levels.push(Level::default());
                below = 0;
            }
            Token::Comma => {
                if let Some(level) = levels.last_mut() {
                    below = below.saturating_sub(level.chain);
                    level.chain = 0;
                }
            }
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_)
            | Token::Period => {}
            Token::Word(w) if w.keyword == Keyword::NoKeyword || w.quote_style.is_some() => {}
            Token::Word(w)
                if matches!(
                    w.keyword,
                    Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT | Keyword::MINUS
                ) =>
            {
                if let Some(level) = levels.last_mut() {
                    level.set_ops += 1;
                    below += 1;
                }
            }
            _ => {
                if let Some(level) = levels.last_mut() {
                    level.chain += 1;
                    below += 1;
                }
            }
        }
        deepest = deepest.max(below + levels.len());
    }
    deepest
}

/// After parsing a statement of `significant` tokens: the statement if its expressions nest
/// at most [`MAX_DEPTH`] deep, otherwise a refusal (the tree taken apart without recursion).
pub(crate) fn check_tree(stmt: Statement, significant: usize) -> Result<Statement, Refusal> {
    if significant <= MAX_DEPTH {
        return Ok(stmt);
    }
    let mut measure = Measure { now: 0 };
    if Visit::visit(&stmt, &mut measure).is_continue() {
        return Ok(stmt);
    }
    dismantle(stmt);
    Err(too_deep())
}

/// Counts expression nesting and stops past [`MAX_DEPTH`], so that its own recursion is
/// bounded too.
struct Measure {
    now: usize,
}

impl Visitor for Measure {
    type Break = ();

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.now += 1;
        if self.now > MAX_DEPTH {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.now -= 1;
        ControlFlow::Continue(())
    }
}

/// Nesting at which [`dismantle`] cuts subtrees off: small enough that every piece is
/// dropped with little recursion.
const CUT_AT: usize = 64;

/// Drops a tree of any depth without deep recursion: subtrees below [`CUT_AT`] levels are
/// detached (replaced by NULL) and handled the same way, one at a time, from a list.
fn dismantle<T: VisitMut>(tree: T) {
    let mut tree = tree;
    let mut cut = Cut {
        now: 0,
        pieces: Vec::new(),
    };
    let _ = VisitMut::visit(&mut tree, &mut cut);
    drop(tree);
    while let Some(mut piece) = cut.pieces.pop() {
        cut.now = 0;
        let _ = VisitMut::visit(&mut piece, &mut cut);
        drop(piece);
    }
}

struct Cut {
    now: usize,
    pieces: Vec<Expr>,
}

impl VisitorMut for Cut {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.now += 1;
        if self.now >= CUT_AT {
            let null = Expr::Value(ValueWithSpan::from(Value::Null));
            self.pieces.push(std::mem::replace(expr, null));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.now -= 1;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{significant, tokenize};

    fn estimated(sql: &str) -> usize {
        let tokens = tokenize(sql).unwrap_or_default();
        estimate(&significant(&tokens))
    }

    #[test]
    fn lists_are_flat_and_chains_are_deep() {
        let list = format!(
            "SELECT a FROM t WHERE a IN ({})",
            vec!["1"; 5000].join(", ")
        );
        assert!(estimated(&list) < 10, "{}", estimated(&list));
        let rows = format!(
            "INSERT INTO t VALUES {}",
            vec!["(-1, NULL, 'x', NOW())"; 5000].join(", ")
        );
        assert!(estimated(&rows) < 20, "{}", estimated(&rows));
        let chain = format!("SELECT 1{}", " + 1".repeat(5000));
        assert!(estimated(&chain) >= 5000);
        let ors = format!("SELECT a FROM t WHERE {}", vec!["a = 1"; 3000].join(" OR "));
        assert!(estimated(&ors) >= 3000);
        let unions = vec!["SELECT 1, 2"; 3000].join(" UNION ");
        assert!(estimated(&unions) >= 3000);
        let parens = format!("SELECT {}1{}", "(".repeat(3000), ")".repeat(3000));
        assert!(estimated(&parens) >= 3000);
    }

    #[test]
    fn dismantling_a_deep_tree_does_not_recurse_deeply() {
        // Built directly (parsing it would be refused first): 200,000 levels.
        let mut e = Expr::Value(ValueWithSpan::from(Value::Null));
        for _ in 0..200_000 {
            e = Expr::Nested(Box::new(e));
        }
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || dismantle(e))
            .unwrap()
            .join()
            .unwrap();
    }
}
