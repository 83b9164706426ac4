//! Deeply nested and very long statements: the policy answers (forwards or refuses with 1064 or
//! 1227) and never overflows its stack, whatever the nesting.
//!
//! Why this matters: sqlparser is built without its stack-growing recursion guard (it costs
//! several percent of every uncached check). What bounds recursion instead is sqlparser's own
//! depth counter, plus the policy's refusal of expression trees deeper than it walks safely.
//! Every check here runs on a thread with a 2 MiB stack, the size of a tokio worker's, in the
//! unoptimised build the tests use, where frames are largest.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use octodb_policy::{check, Decision, Mapping, Refusal, SessionContext};

fn run(sql: String) -> Result<Decision, Refusal> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let m = Mapping {
                databases: HashMap::from([("app".to_string(), "t_acme__app".to_string())]),
                version: 1,
            };
            let ctx = SessionContext {
                mapping: &m,
                current_db: Some("app"),
                user: "alice",
            };
            check(&sql, &ctx, false)
        })
        .unwrap()
        .join()
        .expect("the policy thread overflowed or panicked")
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("SELECT {}{inner}{}", open.repeat(n), close.repeat(n))
}

/// Every shape at depths around and far beyond the parser's limit: the answer is a decision
/// or a refusal with a syntax or statement code, never a crash.
#[test]
fn nesting_never_overflows() {
    let shapes: &[(&str, &str, &str)] = &[
        ("(", "1", ")"),
        ("- ", "1", ""),
        ("NOT ", "1", ""),
        ("(SELECT ", "1", ")"),
        ("ABS(", "1", ")"),
        ("CASE WHEN 1 THEN ", "1", " END"),
        ("1 + (", "1", ")"),
        ("COALESCE(NULL, ", "1", ")"),
        ("JSON_ARRAY(", "1", ")"),
        ("(1, ", "1", ")"),
        ("EXISTS (SELECT ", "1", ")"),
        ("1 IN (SELECT ", "1", ")"),
    ];
    for (open, inner, close) in shapes {
        for n in [10, 40, 49, 50, 51, 100, 1_000, 20_000] {
            let sql = nested(open, inner, close, n);
            match run(sql) {
                Ok(_) => {}
                Err(r) => assert!(
                    [1064, 1227, 1054, 1146, 1241].contains(&r.code),
                    "{open:?} x{n}: unexpected refusal {r:?}"
                ),
            }
        }
    }
}

/// Long flat chains parse in a loop but build a tree as deep as the chain is long: each is
/// answered without overflowing, whatever walks the tree afterwards (rewrite, render, compare,
/// drop).
#[test]
fn long_operator_chains_never_overflow() {
    for op in ["+", "AND", "OR", "*", "||", "=", "<"] {
        // Just under the bound: an ordinary statement, forwarded, every walk of its 900-deep
        // tree within the stack.
        let sql = format!("SELECT 1{}", format!(" {op} 1").repeat(900));
        assert!(
            matches!(run(sql), Ok(Decision::Forward(_))),
            "{op:?} x900 is forwarded"
        );
        for n in [1_000, 10_000, 100_000] {
            let sql = format!("SELECT 1{}", format!(" {op} 1").repeat(n));
            let r = run(sql).expect_err("deeper than the bound");
            assert_eq!(r.code, 1064, "{op:?} x{n}: {r:?}");
            assert!(r.message.contains("levels deep"), "{}", r.message);
        }
        // Refused before parsing: a deep chain that would fail to parse at its end is not
        // built (and dropped) first.
        let sql = format!("SELECT 1{} +", format!(" {op} 1").repeat(100_000));
        assert_eq!(run(sql).map_err(|r| r.code).err(), Some(1064));
    }
    // Postfix operators chain the same way.
    let sql = format!("SELECT 1{}", " IS NULL".repeat(450));
    let r = run(sql);
    assert!(matches!(r, Ok(Decision::Forward(_))), "{r:?}");
    let sql = format!("SELECT 1{}", " IS NULL".repeat(100_000));
    assert_eq!(run(sql).map_err(|r| r.code).err(), Some(1064));
    let unions = vec!["SELECT 1, 2"; 50_000].join(" UNION ALL ");
    assert_eq!(run(unions).map_err(|r| r.code).err(), Some(1064));
    let unions = vec!["SELECT 1, 2"; 300].join(" UNION ALL ");
    assert!(run(unions).is_ok(), "300 set operations are ordinary");
    for n in [1_000, 100_000] {
        let sql = format!("SELECT id FROM t WHERE {}", vec!["id = 1"; n].join(" OR "));
        let _ = run(sql);
        let sql = format!("SELECT id FROM t WHERE id IN ({})", vec!["1"; n].join(", "));
        assert!(run(sql).is_ok(), "a long IN list is an ordinary statement");
    }
}
