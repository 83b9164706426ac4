//! Deterministic mutation fuzzing: realistic statements, cut, spliced and sprinkled with the
//! characters and names where lexers and rewriters disagree, checked in the four session shapes
//! (COM_QUERY and COM_STMT_PREPARE, with and without a current database).
//!
//! Session: user `alice`; the tenant owns `app` (physical `t_acme__app`) and `reports`
//! (physical `t_acme__reports`), as in `corpus.rs`.
//!
//! For every mutated input:
//! 1. `check` does not panic;
//! 2. a refusal has a MySQL error code, a SQLSTATE and a message; a local `USE` names one of the
//!    tenant's logical databases;
//! 3. a forwarded statement reaches no database but `t_acme__app`, `t_acme__reports` (exact
//!    case) and `information_schema`. In sqlparser's tree (MySQL dialect): the database of every
//!    qualified relation, three-part column, qualified function and DELETE target; no
//!    unqualified relation (it would resolve in the backend connection's default database) but
//!    a CTE or a `DELETE ... USING` target; only the information_schema views the policy allows,
//!    each with its tenant filter; no `LOAD_FILE` call. In sqlparser's tokens, which also covers
//!    texts sqlparser does not parse and readings of MySQL's that differ from sqlparser's: the
//!    first of any three dotted names, of two before `(` or after a word that introduces a
//!    table, the database of a SHOW; no comment, no `INTO OUTFILE`/`DUMPFILE`, no `LOAD DATA`.
//!    `mysql`, `performance_schema` and `sys` need no rule of their own: as databases they are
//!    off the allow-list, and as bare names (`SELECT sys.f` is table `sys`, column `f`; an alias
//!    `mysql`) they name nothing outside the tenant's databases.
//!
//! A splitmix64 seeded with `OCTODB_FUZZ_SEED` (decimal or `0x` hex; a fixed default otherwise)
//! drives it, so a run is reproducible; a failure prints its seed and a reduced input.
//! `OCTODB_FUZZ_INPUTS` sets the number of inputs. `policy/fuzz` is the open-ended libFuzzer
//! counterpart; this bounded one runs with every `cargo test` and owns the database invariant.

#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{ControlFlow, Range};
use std::panic::{catch_unwind, AssertUnwindSafe};

use octodb_policy::{check, Decision, Local, Mapping, SessionContext};
use sqlparser::ast::{
    visit_expressions, visit_relations, Expr, FromTable, InTarget, ObjectName, Query, Statement,
    TableFactor, Visit, Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

const DEFAULT_SEED: u64 = 0x0C70_DB5E_ED00_0001;
const INPUTS: usize = 40_000;
const DBS: [Option<&str>; 2] = [Some("app"), None];
const TENANT_DBS: [&str; 2] = ["t_acme__app", "t_acme__reports"];
/// The information_schema views the policy lets through (`policy/src/infoschema.rs`).
const VIEWS: &str = "SCHEMATA TABLES COLUMNS STATISTICS KEY_COLUMN_USAGE REFERENTIAL_CONSTRAINTS \
                     TABLE_CONSTRAINTS";
/// Words after which a dotted name is a table (`ON DUPLICATE KEY UPDATE` aside), and any *JOIN.
const TABLE_AFTER: &str = "FROM INTO UPDATE TABLE DELETE USING DESCRIBE DESC IN VIEW FOR";

const SEEDS: &[&str] = &[
    "SELECT @@version_comment LIMIT 1",
    "SELECT * FROM reports.t JOIN `app`.`t` u ON u.id = t.id",
    "SELECT * FROM t1 LEFT JOIN (t2 JOIN t3 ON t2.a = t3.a) ON t1.a = t2.a, t4",
    "SELECT a FROM t WHERE id IN (SELECT id FROM u) AND EXISTS (SELECT 1 FROM v WHERE v.a = t.a)",
    "SELECT * FROM (SELECT * FROM reports.t) x",
    "SELECT a FROM t1 UNION SELECT b FROM reports.t2",
    "(SELECT 1) UNION (SELECT a FROM t)",
    "WITH c AS (SELECT * FROM t) SELECT * FROM c JOIN u ON c.id = u.id",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "SELECT * FROM c, (WITH c AS (SELECT 1) SELECT * FROM c) x",
    "WITH t AS (SELECT * FROM t) SELECT * FROM t",
    "SELECT * FROM t PARTITION (p0) FORCE INDEX (i)",
    "SELECT t.a, COUNT(*) FROM t GROUP BY t.a HAVING COUNT(*) > 1 ORDER BY 2 DESC LIMIT 10",
    "SELECT app.t.col, reports.t.* FROM t, reports.t",
    "SELECT * FROM t WHERE MATCH (app.t.a) AGAINST ('x')",
    "select * from t limit 1 lock in share mode;",
    "SELECT a, b INTO @x, @y FROM t WHERE id = 1 FOR UPDATE",
    "SELECT t.id FROM t STRAIGHT_JOIN u ON t.uid = u.id NATURAL JOIN reports.v",
    "INSERT INTO reports.t (a) SELECT a FROM t WHERE b IN (SELECT b FROM u)",
    "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = (SELECT MAX(a) FROM u)",
    "INSERT INTO t (a, b) VALUES (1, 2) AS new ON DUPLICATE KEY UPDATE b = new.b",
    "INSERT INTO c WITH c AS (SELECT 1) SELECT * FROM c",
    "REPLACE INTO t SET a = 1, b = 'x'",
    "UPDATE t JOIN reports.u ON t.id = u.id SET t.a = u.b",
    "UPDATE t SET app.t.a = (SELECT b FROM u LIMIT 1) ORDER BY id LIMIT 1",
    "DELETE t1, reports.t2 FROM t1 JOIN reports.t2 ON t1.a = t2.a",
    "DELETE FROM a USING t1 AS a JOIN t2 ON a.id = t2.id",
    "DELETE FROM t WHERE id IN (SELECT id FROM reports.u) ORDER BY id LIMIT 100",
    "SELECT DATABASE(), SCHEMA(), USER(), CURRENT_USER FROM t WHERE db = DATABASE()",
    r#"SELECT 'it''s', 'x\'y', "q\"q""#,
    r"SELECT * FROM t WHERE a = 'x\\'' OR 1=1 -- '",
    r"SELECT 'a\0b', N'x\\y', _utf8mb4'z\\w', _binary'p\\q', X'41'",
    r"SELECT 1 AS `a\b`, 2 AS 'c\\d' FROM t WHERE a LIKE 'x\%' ESCAPE '\\'",
    "SELECT 'é\\\\ü', `we``ird`.`col` FROM `we``ird`",
    "SELECT 1 /* plain comment */ -- x\n",
    "SELECT 1 # comment\n, 2",
    "SELECT '/*!', '/*M!'",
    "SELECT 1 /*! , 2 */",
    "SELECT /*M!100000 1 */",
    "SELECT /*+ MAX_EXECUTION_TIME(1) */ 1",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE",
    "SET @@SESSION.sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')",
    "SET @a = 1, @b = (SELECT MAX(id) FROM t)",
    "SHOW FULL TABLES FROM reports WHERE Table_type = 'BASE TABLE'",
    "SHOW COLUMNS FROM t FROM reports",
    "SHOW CREATE TABLE `reports`.`t`",
    "SHOW TABLE STATUS IN app LIKE 'us%'",
    "SHOW VARIABLES WHERE Variable_name IN (SELECT a FROM t)",
    "DESCRIBE reports.t",
    "EXPLAIN FORMAT=JSON SELECT a FROM t JOIN reports.u ON t.id = u.id",
    "USE reports",
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    "SELECT c.column_name FROM information_schema.columns c WHERE c.table_schema IN ('app', 'x')",
    "SELECT k.a FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r ON r.b = k.b",
    "SELECT schema_name FROM information_schema.schemata",
    "SELECT a FROM t UNION SELECT password FROM mysql.user",
    "SELECT mysql.user.password FROM performance_schema.threads",
    "SELECT sys.format_bytes(1)",
    "SELECT * FROM t_acme__app.t JOIN t_other__app.t",
    "SELECT * FROM octodb.x",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT * FROM t INTO OUTFILE '/tmp/x'",
    "SELECT a FROM t INTO DUMPFILE '/tmp/x'",
    "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t",
    "SELECT * FROM t WHERE a = ? AND b IN (?, ?)",
    "SELECT NEXTVAL(other.s)",
    "SELECT 1; DROP TABLE t",
];

/// What mutations insert, `|`-separated: lexer-sensitive characters, hostile names, keywords.
const FRAGMENTS: &str =
    "'|\"|`|\\|/*|*/|-- |--|#|;|/*!|/*M!|/*!50000 |(|)|,|.|@|@@|?|\0|é|\u{2028}|\
    \n|\r| |*|=|0x|X'|_binary'|N'|x\\'|UNION SELECT | SELECT | FROM | JOIN | WHERE | AS | USING |\
    WITH c AS (|TABLE |mysql.user|`mysql`.`user`|mysql . user|information_schema.|\
    information_schema.tables|information_schema.processlist|performance_schema.threads|sys.x|\
    octodb.x|DATABASE()| INTO OUTFILE '/tmp/x'| INTO DUMPFILE '/x'|LOAD_FILE('/etc/passwd')|\
    LOAD DATA |`t_acme__app`|t_acme__app.|`t_other__x`|t_other__x.t|other.t|app.t|app.t.a|\
    reports.|mysql.f(1)|NEXT VALUE FOR other.s| LOCK IN SHARE MODE|SHOW TABLES FROM |USE |DELETE ";

/// splitmix64: tiny, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A range of at most `max` characters (0: a position): edits there keep `s` UTF-8.
    fn range(&mut self, s: &str, max: usize) -> Range<usize> {
        let at = |s: &str, k: usize| s.char_indices().nth(k).map_or(s.len(), |(i, _)| i);
        let a = at(s, self.below(s.chars().count() + 1));
        a..a + at(&s[a..], self.below(max + 1))
    }
}

/// Rough token spans: runs of identifier characters, or any other non-blank character.
fn token_spans(s: &str) -> Vec<Range<usize>> {
    let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '@' | '$');
    let mut spans: Vec<Range<usize>> = Vec::new();
    for (i, c) in s.char_indices() {
        match spans.last_mut() {
            Some(last) if last.end == i && word(c) && s[..i].ends_with(word) => {
                last.end += c.len_utf8()
            }
            _ if !c.is_whitespace() => spans.push(i..i + c.len_utf8()),
            _ => {}
        }
    }
    spans
}

/// One edit: half on whole tokens (statements stay parseable more often, so the rewrite runs),
/// half on characters (which stress the lexers).
fn mutate(rng: &mut Rng, fragments: &[&str], s: &mut String) {
    let (fragment, other) = (*rng.pick(fragments), *rng.pick(SEEDS));
    let (spans, other_spans) = (token_spans(s), token_spans(other));
    if spans.is_empty() {
        return s.push_str(fragment);
    }
    let (span, at) = (rng.pick(&spans).clone(), rng.range(s, 0).start);
    match rng.below(9) {
        0 => s.insert_str(span.end, &format!(" {}", &s[span.clone()])),
        1 => s.replace_range(span, fragment),
        2 => s.replace_range(span, &other[rng.pick(&other_spans).clone()]),
        3 => s.replace_range(span, ""),
        4 => s.insert_str(at, &other[rng.range(other, 40)]),
        5 => s.insert_str(at, fragment),
        6 => s.replace_range(rng.range(s, 8), ""),
        7 => s.replace_range(rng.range(s, 4), fragment),
        _ => s.truncate(at),
    }
}

#[derive(Default)]
struct Counts {
    forwarded: usize,
    unparsed: usize,
    local: usize,
    refused: BTreeMap<u16, usize>,
}

thread_local! {
    /// Set while the policy runs: its panics are reported with the input (and replayed while
    /// reducing), not printed by the panic hook; other tests' panics still are.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Checks one input in one session shape. A broken invariant: its class (kept while reducing)
/// and what was seen.
fn verify(
    m: &Mapping,
    sql: &str,
    (current_db, prepared): (Option<&str>, bool),
    counts: &mut Counts,
) -> Result<(), (&'static str, String)> {
    let ctx = SessionContext {
        mapping: m,
        current_db,
        user: "alice",
    };
    let decision = catch_unwind(AssertUnwindSafe(|| {
        QUIET.set(true);
        check(sql, &ctx, prepared)
    }));
    QUIET.set(false);
    let decision = decision.map_err(|p| {
        let text = p.downcast_ref::<&str>().map_or("", |s| s);
        let text = p.downcast_ref::<String>().map_or(text, |s| s);
        ("panic", text.to_string())
    })?;
    match decision {
        Err(r) if r.code == 0 || r.sqlstate.len() != 5 || r.message.is_empty() => {
            return Err(("refusal", format!("{r:?}")))
        }
        Err(r) => *counts.refused.entry(r.code).or_default() += 1,
        Ok(Decision::Local(Local::Use(db))) if !m.databases.contains_key(&db) => {
            return Err(("local", format!("USE {db:?}")))
        }
        Ok(Decision::Local(_)) => counts.local += 1,
        Ok(Decision::Forward(f)) => {
            let parsed = forwarded(&f.sql).map_err(|e| ("forward", format!("{e}: {:?}", f.sql)))?;
            counts.forwarded += 1;
            counts.unparsed += usize::from(!parsed);
        }
    }
    Ok(())
}

fn qualifier(what: &str, db: &str) -> Result<(), String> {
    match TENANT_DBS.contains(&db) || db.eq_ignore_ascii_case("information_schema") {
        true => Ok(()),
        false => Err(format!("{what} in database `{db}`")),
    }
}

/// Checks a forwarded text from its tokens and, where sqlparser parses it, from its tree; says
/// whether it parsed.
fn forwarded(sql: &str) -> Result<bool, String> {
    let dialect = MySqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize()
        .map_err(|e| e.to_string())?;
    let comment = |t: &Token| {
        use Whitespace::{MultiLineComment, SingleLineComment};
        matches!(
            t,
            Token::Whitespace(SingleLineComment { .. } | MultiLineComment(_))
        )
    };
    if tokens.iter().any(comment) {
        return Err("a comment".into());
    }
    let sig: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    // The policy verifies the text before a trailing share lock it appends (as `policy/fuzz`).
    let stmts = Parser::parse_sql(
        &dialect,
        sql.strip_suffix(" LOCK IN SHARE MODE").unwrap_or(sql),
    );
    check_tokens(&sig, stmts.is_ok())?;
    stmts.map_or(Ok(false), |stmts| check_tree(&stmts).map(|()| true))
}

fn check_tokens(sig: &[Token], parsed: bool) -> Result<(), String> {
    // Bare words, upper-cased; the UPDATE of `ON DUPLICATE KEY UPDATE` assigns columns: dropped.
    let mut kw: Vec<Option<String>> = Vec::with_capacity(sig.len());
    for t in sig {
        let after_key = kw.last().is_some_and(|k| k.as_deref() == Some("KEY"));
        kw.push(match t {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        });
        kw.last_mut()
            .unwrap()
            .take_if(|k| after_key && k == "UPDATE");
    }
    let kw_at = |j: Option<usize>| j.and_then(|j| kw.get(j)?.as_deref());
    let is =
        |j: Option<usize>, words: &str| kw_at(j).is_some_and(|k| words.split(' ').any(|w| w == k));
    let (show, mut head, mut i) = (is(Some(0), "SHOW"), true, 0);
    while i < sig.len() {
        let Token::Word(w) = &sig[i] else {
            i += 1;
            continue;
        };
        let (prev, next) = (i.checked_sub(1), Some(i + 1));
        // Where sqlparser reads the text, its tree tells a LOAD_FILE call from a name with a
        // column list (`WITH LOAD_FILE(a) AS ...`, an alias); elsewhere any is a call.
        let load_file =
            w.value.eq_ignore_ascii_case("LOAD_FILE") && sig.get(i + 1) == Some(&Token::LParen);
        if is(prev, "INTO") && is(Some(i), "OUTFILE DUMPFILE")
            || is(Some(i), "LOAD") && is(next, "DATA XML")
            || !parsed && load_file
        {
            return Err(format!("`{}` outside a string", w.value));
        }
        head &= !is(Some(i), "WHERE LIKE");
        let mut parts = 1;
        while sig.get(i + 2 * parts - 1) == Some(&Token::Period)
            && matches!(sig.get(i + 2 * parts), Some(Token::Word(_) | Token::Mul))
        {
            parts += 1;
        }
        let sequence = prev.is_some_and(|p| sig[p] == Token::LParen)
            && is(i.checked_sub(2), "NEXTVAL LASTVAL SETVAL");
        let table =
            is(prev, TABLE_AFTER) || kw_at(prev).is_some_and(|k| k.ends_with("JOIN")) || sequence;
        let call = sig.get(i + 2 * parts - 1) == Some(&Token::LParen);
        // After AS, MySQL reads one identifier: a dotted name there is a syntax error.
        let dotted = !is(prev, "AS") && (parts >= 3 || parts == 2 && (table || call));
        if dotted || show && head && parts == 1 && is(prev, "FROM IN") {
            qualifier("a name", &w.value)?;
        }
        i += 2 * parts - 1;
    }
    Ok(())
}

/// What the tree says about one-part relations (CTE names; `DELETE FROM a USING ...` targets,
/// which name tables of the USING list), checking DELETE targets on the way (sqlparser does not
/// visit them as relations).
#[derive(Default)]
struct Scope {
    ctes: HashSet<String>,
    delete_targets: Vec<*const ObjectName>,
}

impl Visitor for Scope {
    type Break = String;

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<String> {
        for cte in q.with.iter().flat_map(|w| &w.cte_tables) {
            self.ctes.insert(cte.alias.name.value.to_ascii_lowercase());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<String> {
        let Statement::Delete(d) = s else {
            return ControlFlow::Continue(());
        };
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &d.from;
        for t in from.iter().filter(|_| d.using.is_some()) {
            if let TableFactor::Table { name, .. } = &t.relation {
                self.delete_targets.push(name);
            }
        }
        let mut qualified = d.tables.iter().filter(|n| n.0.len() >= 2);
        flow(qualified.try_for_each(|n| qualifier("a DELETE target", &first(n))))
    }
}

fn flow(r: Result<(), String>) -> ControlFlow<String> {
    r.map_or_else(ControlFlow::Break, ControlFlow::Continue)
}

fn first(name: &ObjectName) -> String {
    name.0
        .first()
        .and_then(|p| p.as_ident())
        .map_or(String::new(), |i| i.value.clone())
}

fn check_tree(stmts: &Vec<Statement>) -> Result<(), String> {
    let mut scope = Scope::default();
    if let ControlFlow::Break(e) = stmts.visit(&mut scope) {
        return Err(e);
    }
    let (mut views, mut filters) = (0, 0);
    let relations = visit_relations(stmts, |name| {
        let parts: Vec<&str> = name
            .0
            .iter()
            .map(|p| p.as_ident().map_or("", |i| &i.value))
            .collect();
        flow(match parts[..] {
            [one] if TENANT_DBS.contains(&one) || one.eq_ignore_ascii_case("dual") => Ok(()),
            [one] if scope.ctes.contains(&one.to_ascii_lowercase()) => Ok(()),
            [_] if scope.delete_targets.contains(&std::ptr::from_ref(name)) => Ok(()),
            [one] => Err(format!("unqualified relation `{one}`")),
            [db, view] if db.eq_ignore_ascii_case("information_schema") => {
                views += 1;
                match VIEWS
                    .split_whitespace()
                    .any(|v| v.eq_ignore_ascii_case(view))
                {
                    true => Ok(()),
                    false => Err(format!("information_schema.{view}")),
                }
            }
            _ => qualifier("a relation", parts.first().unwrap_or(&"")),
        })
    });
    let tenant_list = |list: &[Expr]| {
        list.iter()
            .map(ToString::to_string)
            .eq(TENANT_DBS.map(|d| format!("'{d}'")))
    };
    let expressions = visit_expressions(stmts, |e| {
        flow(match e {
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated: false,
                ..
            } if matches!(**expr, Expr::CompoundIdentifier(_)) && tenant_list(list) => {
                filters += 1;
                Ok(())
            }
            Expr::CompoundIdentifier(p) if p.len() >= 3 => qualifier("a column", &p[0].value),
            Expr::QualifiedWildcard(n, _) if n.0.len() >= 3 => qualifier("a wildcard", &first(n)),
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("LOAD_FILE") => {
                Err("a LOAD_FILE call".into())
            }
            Expr::Function(f) if f.name.0.len() >= 2 => qualifier("a function", &first(&f.name)),
            _ => Ok(()),
        })
    });
    if let Some(e) = relations.break_value().or(expressions.break_value()) {
        return Err(e);
    }
    match filters >= views {
        true => Ok(()),
        false => Err(format!(
            "{views} information_schema views, {filters} tenant filters"
        )),
    }
}

/// Greedy reduction: drops ever shorter character ranges while the same invariant breaks.
fn reduce(m: &Mapping, sql: &str, shape: (Option<&str>, bool), class: &str) -> String {
    let mut best: Vec<char> = sql.chars().collect();
    let mut width = best.len().div_ceil(2);
    while width > 0 {
        let (mut start, mut shrank) = (0, false);
        while start < best.len() {
            let mut cand = best.clone();
            cand.drain(start..(start + width).min(best.len()));
            let text: String = cand.iter().collect();
            match verify(m, &text, shape, &mut Counts::default()) {
                Err((c, _)) if c == class => (best, shrank) = (cand, true),
                _ => start += width,
            }
        }
        width = if shrank { width } else { width / 2 };
    }
    best.into_iter().collect()
}

#[test]
fn mutated_statements_keep_the_invariants() {
    let seed =
        std::env::var("OCTODB_FUZZ_SEED").map_or(DEFAULT_SEED, |s| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => s.parse().unwrap(),
        });
    let inputs = std::env::var("OCTODB_FUZZ_INPUTS").map_or(INPUTS, |n| n.parse().unwrap());
    let fragments: Vec<&str> = FRAGMENTS.split('|').collect();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.get() {
            default_hook(info)
        }
    }));
    let m = Mapping {
        databases: HashMap::from([
            ("app".to_string(), "t_acme__app".to_string()),
            ("reports".to_string(), "t_acme__reports".to_string()),
        ]),
        version: 1,
    };
    let (mut rng, mut counts, started) = (Rng(seed), Counts::default(), std::time::Instant::now());
    for n in 0..inputs {
        let mut sql = rng.pick(SEEDS).to_string();
        for _ in 0..1 + usize::from(rng.below(4) == 0) {
            mutate(&mut rng, &fragments, &mut sql);
        }
        for shape in DBS.into_iter().flat_map(|db| [(db, false), (db, true)]) {
            if let Err((class, seen)) = verify(&m, &sql, shape, &mut counts) {
                let small = reduce(&m, &sql, shape, class);
                let (_, again) = verify(&m, &small, shape, &mut Counts::default()).unwrap_err();
                panic!(
                    "{class}: OCTODB_FUZZ_SEED={seed:#x}, input #{n}, (current_db, prepared) \
                     {shape:?}\n  input:   {sql:?}\n  {seen}\n  reduced: {small:?}\n  {again}"
                );
            }
        }
    }
    eprintln!(
        "seed {seed:#x}: {inputs} inputs x 4 shapes in {:.1?}: {} forwarded ({} not parsed by \
         sqlparser), {} local, {} refused {:?}",
        started.elapsed(),
        counts.forwarded,
        counts.unparsed,
        counts.local,
        counts.refused.values().sum::<usize>(),
        counts.refused
    );
}

/// The oracle is not vacuous: it catches each way out, and passes the corpus's forwards.
#[test]
fn the_oracle_catches_other_databases() {
    for bad in [
        "SELECT * FROM mysql.user",
        "SELECT * FROM t",
        "SELECT * FROM `T_ACME__APP`.t",
        "SELECT other.t.a, t.* FROM `t_acme__app`.t",
        "SELECT * FROM `t_acme__app`.t, other.u",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM information_schema.processlist p WHERE p.ID IN ('t_acme__app', 't_acme__reports')",
        "SELECT LOAD_FILE('/etc/passwd')",
        "SELECT 1 INTO OUTFILE '/x'",
        "SHOW TABLES FROM mysql",
        "SHOW COLUMNS FROM mysql.user",
        "SHOW CREATE TABLE other.t",
        "DELETE mysql.user FROM `t_acme__app`.t",
        "SELECT sys.f(1)",
        "SELECT 1 /* x */",
    ] {
        assert!(forwarded(bad).is_err(), "{bad}");
    }
    for good in [
        "SELECT * FROM `t_acme__reports`.t JOIN `t_acme__app`.t u ON u.id = t.id",
        "DELETE `t_acme__app`.t1, `t_acme__reports`.t2 FROM `t_acme__app`.t1 JOIN `t_acme__reports`.t2 ON t1.a = t2.a",
        "DELETE FROM a USING `t_acme__app`.t1 AS a JOIN `t_acme__app`.t2 ON a.x = t2.x",
        "WITH c AS (SELECT 1) SELECT * FROM c",
        "SHOW FULL TABLES FROM `t_acme__reports` WHERE Table_type = 'BASE TABLE'",
        "SELECT * FROM information_schema.tables WHERE `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')",
        "SELECT sys.f, mysql.user FROM `t_acme__app`.t AS mysql",
    ] {
        assert_eq!(forwarded(good), Ok(true), "{good}");
    }
}
