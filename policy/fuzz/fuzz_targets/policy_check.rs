//! Fuzz target for the policy entry point, `octodb_policy::check`.
//!
//! Properties, for any UTF-8 input, as a COM_QUERY (`prepared = false`) and as a
//! COM_STMT_PREPARE (`prepared = true`):
//! 1. `check` does not panic, and decides the same way twice (it is pure).
//! 2. A forwarded statement is one statement: sqlparser's MySQL dialect parses the forwarded
//!    text to exactly one statement, and its tokens hold no comment (a comment in the forwarded
//!    text is where the backend's lexer and ours could disagree).
//! 3. Rendering is a fixed point: under an identity mapping (logical name = physical name, so
//!    the forwarded text is itself a statement the tenant could send), checking the forwarded
//!    text again forwards a statement with the same syntax tree. This proves from outside the
//!    crate what `render` verifies inside it: the forwarded text means the approved tree.
//!    information_schema queries are left out of this property: their rewrite adds a filter
//!    on the tenant's schemas on every pass, so it is not idempotent by design.
//! 4. The policy's fast tokenizer (`canonical`, used for the statement and for the forwarded
//!    text) yields exactly sqlparser's tokens wherever it answers: the policy asserts this on
//!    every call when built with debug assertions, which cargo-fuzz enables by default (with
//!    `-O`, add `-a`), so a disagreement is a crash here.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use octodb_policy::{check, Decision, Mapping, SessionContext};
use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// Two logical databases with tenant-style physical names.
fn tenant_mapping() -> &'static Mapping {
    static M: OnceLock<Mapping> = OnceLock::new();
    M.get_or_init(|| mapping(&[("app", "t_fuzz__app"), ("shop", "t_fuzz__shop")]))
}

/// The same logical databases, each mapped to itself.
fn identity_mapping() -> &'static Mapping {
    static M: OnceLock<Mapping> = OnceLock::new();
    M.get_or_init(|| mapping(&[("app", "app"), ("shop", "shop")]))
}

fn mapping(pairs: &[(&str, &str)]) -> Mapping {
    let databases: HashMap<String, String> = pairs
        .iter()
        .map(|(l, p)| (l.to_string(), p.to_string()))
        .collect();
    Mapping {
        databases,
        version: 1,
    }
}

fn ctx(mapping: &Mapping) -> SessionContext<'_> {
    SessionContext {
        mapping,
        current_db: Some("app"),
        user: "fuzz",
    }
}

/// The forwarded text as sqlparser's MySQL dialect reads it: exactly one statement, no comment.
fn parse_forwarded(input: &str, sql: &str) -> Statement {
    let dialect = MySqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize()
        .unwrap_or_else(|e| {
            panic!("forwarded text does not tokenize: {e}\ninput: {input:?}\nforwarded: {sql:?}")
        });
    for t in &tokens {
        if let Token::Whitespace(
            Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
        ) = t
        {
            panic!("forwarded text holds a comment\ninput: {input:?}\nforwarded: {sql:?}");
        }
    }
    // The policy appends a trailing ` LOCK IN SHARE MODE` after verifying the text before it
    // (sqlparser does not read that clause everywhere MariaDB does): parse what it verified.
    let verified = sql.strip_suffix(" LOCK IN SHARE MODE").unwrap_or(sql);
    let mut stmts = Parser::parse_sql(&dialect, verified).unwrap_or_else(|e| {
        panic!("forwarded text does not parse: {e}\ninput: {input:?}\nforwarded: {sql:?}")
    });
    assert_eq!(
        stmts.len(),
        1,
        "forwarded text is not one statement\ninput: {input:?}\nforwarded: {sql:?}"
    );
    stmts.remove(0)
}

fn one(input: &str, prepared: bool) {
    let tenant = ctx(tenant_mapping());
    let first = check(input, &tenant, prepared);
    let again = check(input, &tenant, prepared);
    assert_eq!(first, again, "check is not deterministic\ninput: {input:?}");
    if let Ok(Decision::Forward(f)) = &first {
        parse_forwarded(input, &f.sql);
    }

    let identity = ctx(identity_mapping());
    if let Ok(Decision::Forward(f)) = check(input, &identity, prepared) {
        let tree = parse_forwarded(input, &f.sql);
        if f.remap_names || f.sql.to_ascii_lowercase().contains("information_schema") {
            return;
        }
        match check(&f.sql, &identity, prepared) {
            Ok(Decision::Forward(g)) => {
                let tree2 = parse_forwarded(&f.sql, &g.sql);
                assert!(
                    tree == tree2,
                    "re-checking the forwarded text changes its tree\ninput: {input:?}\nforwarded: {:?}\nagain: {:?}",
                    f.sql,
                    g.sql
                );
            }
            other => panic!(
                "the forwarded text is not forwarded again\ninput: {input:?}\nforwarded: {:?}\nthen: {other:?}",
                f.sql
            ),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    one(input, false);
    one(input, true);
});
