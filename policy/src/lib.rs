//! OctoDB's SQL policy: the security boundary between a tenant's statements and the backend.
//!
//! Pure: no I/O, no tokio. [`check`] parses one statement with sqlparser's MySQL dialect and
//! returns a typed [`Decision`] (forward this rewritten statement, answer locally) or a
//! [`Refusal`] carrying the MySQL error to send. The session executes decisions.
//!
//! The pipeline, one pass per module:
//! 1. `lexical`: executable comments, optimizer hints, ambiguous escapes (raw text, tokens);
//! 2. `parse`: exactly one statement;
//! 3. `special`, `show_text`: statements recognised from tokens (sqlparser cannot represent
//!    them faithfully); `share_lock`: a trailing `LOCK IN SHARE MODE`;
//! 4. `classify` (with `set`, `sql_mode`, `show`): the statement allow-list;
//! 5. `shape` (with `sysvars`): constructs refused inside allowed statements;
//! 6. `show`, `tables`, `columns`, `identity`, `infoschema`: the rewrite to physical names and
//!    the tenant's logical view;
//! 7. `render`: safe rendering, verified by re-parsing.
//!
//! `digest` gives a forwarded statement the normal form of the tenant's own tokens (literals as
//! `?`), once per distinct text, for the proxy's per-statement statistics.
//!
//! `canonical` tokenizes the statement (1) and the rendered text (7) where it can: exactly
//! sqlparser's tokens, cheaper; it gives up, and sqlparser's tokenizer runs, on anything else.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod canonical;
mod classify;
mod columns;
mod decision;
mod depth;
mod digest;
mod footprint;
mod identity;
mod infoschema;
mod lexical;
mod mapping;
mod parse;
mod render;
mod schema;
/// Session values and state under multiplexing (used by the proxy after a decision).
pub mod session_values;
mod set;
mod shape;
mod share_lock;
mod show;
mod show_text;
mod special;
mod sql_mode;
mod sysvars;
mod tables;
mod template;
mod verbatim;

pub use decision::{Decision, Forward, Local, Refusal, StatementKind, TableRef};
pub use digest::{Digest, MAX_DIGEST_TEXT};
pub use mapping::{Mapping, SessionContext};
pub use schema::parse_schema;
pub use template::{
    instantiate, instantiate_literals, shape, template, Literals, Pattern, Shape, Template, Unfit,
    MAX_SHAPE_SQL,
};

use classify::Classified;
use sqlparser::tokenizer::Token;

/// Checks one statement sent by a tenant and decides what to do with it.
///
/// `sql` is the raw text of a COM_QUERY or COM_STMT_PREPARE (`prepared` is true for the latter:
/// `?` placeholders are allowed only there; in a COM_QUERY they are refused with 1064).
pub fn check(sql: &str, ctx: &SessionContext<'_>, prepared: bool) -> Result<Decision, Refusal> {
    let comments = lexical::check_raw(sql)?;
    let (mut tokens, lexemes) = parse::tokenize_lexed(sql)?;
    lexical::check_tokens(sql, &tokens, comments)?;
    let mut sig = parse::significant(&tokens);
    parse::check_single(&sig)?;
    while sig.last() == Some(&&Token::SemiColon) {
        sig.pop();
    }
    depth::check_tokens(&sig)?;
    let significant = sig.len();
    let digest = std::sync::Arc::new(Digest::of_tokens(&sig));
    if let Some(decision) = special::recognise(&sig) {
        return with_digest(decision, digest);
    }
    if let Some(decision) = show_text::recognise(ctx, &sig) {
        return with_digest(decision, digest);
    }
    let facts = session_values::TextFacts::of_tokens(&sig);
    drop(sig);

    let stripped = share_lock::strip(&mut tokens);
    let mut stmt = depth::check_tree(parse::parse_one(tokens, sql)?, significant)?;
    let (kind, mut remap_names) = match classify::classify(&stmt, ctx)? {
        Classified::Local(local) => return Ok(Decision::Local(local)),
        Classified::Forward { kind, remap_names } => (kind, remap_names),
    };
    shape::check(&stmt, prepared)?;
    show::rewrite(&mut stmt, ctx)?;
    let information_schema = tables::rewrite(&mut stmt, ctx)?;
    columns::rewrite(&mut stmt, ctx)?;
    identity::rewrite(&mut stmt, ctx);
    if information_schema {
        infoschema::rewrite(&mut stmt, ctx);
        remap_names = true;
    }
    let share = share_lock::take(&mut stmt, stripped)?;
    let mut sql = render::render_with(
        &stmt,
        show::may_have_patterns(&stmt),
        show::escape_patterns,
        lexemes.as_deref().map(|l| (l, ctx.mapping)),
    )?;
    if share {
        sql.push_str(share_lock::SUFFIX);
    }
    let mut forward = Forward::with_facts(sql, kind, remap_names, facts);
    forward.digest = digest;
    let footprint = footprint::of(&stmt, share);
    forward.reads = footprint.reads.into();
    forward.writes = footprint.writes.into();
    forward.cacheable = footprint.cacheable && !remap_names;
    Ok(Decision::Forward(forward))
}

/// A decision for a statement recognised from its tokens, with the digest of those tokens.
fn with_digest(
    decision: Result<Decision, Refusal>,
    digest: std::sync::Arc<Digest>,
) -> Result<Decision, Refusal> {
    decision.map(|d| match d {
        Decision::Forward(mut f) => {
            f.digest = digest;
            Decision::Forward(f)
        }
        local => local,
    })
}
