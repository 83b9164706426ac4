//! Harm proofs for the policy's server-dependent refusals (issue 3, "Must show").
//!
//! Each test has two halves:
//! 1. the dangerous form runs DIRECTLY on the real MariaDB (as root against a throwaway
//!    database, or as the tenant's own backend user against the tenant's own throwaway physical
//!    database, inside a transaction that is rolled back) and the harm really happens there:
//!    data of another database disclosed, every row deleted instead of none, a second statement
//!    run;
//! 2. the same form goes through the proxy and is refused with the expected code, or means
//!    exactly what MariaDB makes of it (and in every case no secret comes back and no row is
//!    lost).
//!
//! The forms: executable comments (`/*!`, `/*!NNNNN`, `/*!NNNNNN`, `/*M!`, `/*M!NNNNNN`),
//! comments that do not nest, `--1` versus `-- 1`, `#` and `\r`, a backslash rendered without
//! escaping, escape sequences the two lexers read differently, multi-byte client charsets whose
//! second byte can be 0x5C (gbk, big5, sjis, cp932, gb18030) in SET and in the handshake, and the
//! sql_modes NO_BACKSLASH_ESCAPES, ANSI_QUOTES and ANSI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use octodb_tests::raw::{err_code, native_answer, RawClient};
use octodb_tests::support::{cells, guarded, server_code};
use octodb_tests::{backend_admin, root_conn, TestEnv, TestTenant};
use rand::Rng;

const ITEMS: &str = "CREATE TABLE items (
    id INT PRIMARY KEY,
    name VARCHAR(50) NOT NULL
)";

const SECRET: &str = "TOP-SECRET-7f3a";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Everything a test body needs, owned, so the body can run in its own task and the cleanup
/// runs even when an assertion panics.
#[derive(Clone)]
struct Ctx {
    /// Proxy client options for the tenant.
    proxy: OptsBuilder,
    /// Direct options for the tenant's own backend user on its physical database.
    backend: OptsBuilder,
    tenant: TestTenant,
    /// A throwaway database made by root, holding `secret(s)` = SECRET: "another database".
    scratch: String,
    proxy_addr: SocketAddr,
    backend_user: String,
    backend_password: String,
}

impl Ctx {
    async fn proxy(&self) -> Result<Conn> {
        Ok(Conn::new(Opts::from(self.proxy.clone())).await?)
    }
    async fn backend(&self) -> Result<Conn> {
        Ok(Conn::new(Opts::from(self.backend.clone())).await?)
    }
}

fn suffix() -> String {
    let n: u32 = rand::thread_rng().gen();
    format!("{n:08x}")
}

/// Starts a proxy, a tenant with three rows in `items`, and a scratch database with a secret;
/// runs `body`; then cleans up whatever happened, re-raising a panic of the body.
async fn run<F, Fut>(body: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut env = TestEnv::start().await?;
    let scratch = format!("octodb_harm_{}", suffix());
    let setup = async {
        let t = env.tenant(ITEMS).await?;
        let mut root = root_conn(None).await?;
        root.query_drop(format!("CREATE DATABASE `{scratch}`"))
            .await?;
        root.query_drop(format!(
            "CREATE TABLE `{scratch}`.secret (s VARCHAR(50) NOT NULL)"
        ))
        .await?;
        root.query_drop(format!(
            "INSERT INTO `{scratch}`.secret VALUES ('{SECRET}')"
        ))
        .await?;
        root.query_drop(format!(
            "INSERT INTO `{}`.items VALUES (1, 'a'), (2, 'b'), (3, 'c')",
            t.physical
        ))
        .await?;
        let login = env
            .catalog
            .login(&t.user)
            .await?
            .context("tenant login in the catalog")?;
        let backend = OptsBuilder::default()
            .ip_or_hostname(login.backend_host.clone())
            .tcp_port(login.backend_port)
            .user(Some(login.backend_user.clone()))
            .pass(Some(login.backend_password.clone()))
            .db_name(Some(t.physical.clone()))
            .prefer_socket(false);
        anyhow::Ok(Ctx {
            proxy: env.opts(&t),
            backend,
            tenant: t,
            scratch: scratch.clone(),
            proxy_addr: env.addr,
            backend_user: login.backend_user,
            backend_password: login.backend_password,
        })
    }
    .await;
    let cleanup = async {
        let dropped = async {
            let mut root = root_conn(None).await?;
            root.query_drop(format!("DROP DATABASE IF EXISTS `{scratch}`"))
                .await?;
            anyhow::Ok(())
        }
        .await;
        let cleaned = env.cleanup().await;
        dropped.and(cleaned)
    };
    guarded(setup, body, cleanup).await
}

async fn rows<Q: mysql_async::prelude::AsQuery + 'static>(
    c: &mut Conn,
    sql: Q,
) -> std::result::Result<Vec<Vec<Option<String>>>, mysql_async::Error> {
    let rows: Vec<Row> = c.query(sql).await?;
    Ok(cells(&rows))
}

fn mentions_secret(rows: &[Vec<Option<String>>]) -> bool {
    rows.iter().flatten().flatten().any(|s| s.contains(SECRET))
}

async fn count_items(c: &mut Conn) -> Result<i64> {
    Ok(c.query_first("SELECT COUNT(*) FROM items")
        .await?
        .unwrap_or(-1))
}

/// The statement must be refused with one of `codes`. Mismatches are collected in `failures`
/// so one run reports every form that is not refused as it should be.
async fn expect_refused(c: &mut Conn, sql: &str, codes: &[u16], failures: &mut Vec<String>) {
    match c.query_drop(sql).await {
        Ok(()) => failures.push(format!("{sql:?}: accepted; expected a refusal {codes:?}")),
        Err(e) if server_code(&e).is_some_and(|code| codes.contains(&code)) => {}
        Err(e) => failures.push(format!("{sql:?}: expected one of {codes:?}, got {e}")),
    }
}

/// Panics with every collected failure.
fn assert_no_failures(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} statement(s) not refused as expected through the proxy:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs a data-changing statement as the tenant's own backend user in a transaction that is
/// rolled back, and returns the rows it affected and the ids left in `items` before rollback.
async fn harm_in_tx(
    c: &mut Conn,
    setup: &[&str],
    sql: impl mysql_async::prelude::AsQuery + 'static,
) -> Result<(u64, Vec<i64>)> {
    for s in setup {
        c.query_drop(*s).await?;
    }
    c.query_drop("START TRANSACTION").await?;
    c.query_drop(sql).await?;
    let affected = c.affected_rows();
    let left: Vec<i64> = c.query("SELECT id FROM items ORDER BY id").await?;
    c.query_drop("ROLLBACK").await?;
    Ok((affected, left))
}

/// Through the proxy: either refused with one of `codes`, or the same rows MariaDB returns for
/// the same text on a direct connection (the policy read it as MariaDB does).
async fn same_as_mariadb_or_refused(
    proxy: &mut Conn,
    direct: &mut Conn,
    sql: &str,
    codes: &[u16],
) -> Result<()> {
    let on_mariadb = rows(direct, sql.to_string())
        .await
        .with_context(|| format!("directly on MariaDB: {sql:?}"))?;
    match rows(proxy, sql.to_string()).await {
        Ok(got) => assert_eq!(
            got, on_mariadb,
            "through the proxy, {sql:?} was accepted but does not mean what MariaDB makes of it"
        ),
        Err(e) => assert!(
            server_code(&e).is_some_and(|c| codes.contains(&c)),
            "through the proxy, {sql:?}: expected the MariaDB result {on_mariadb:?} or a refusal \
             {codes:?}, got {e}"
        ),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Executable comments
// ---------------------------------------------------------------------------------------------

/// Openers MariaDB 10.11 executes (the version forms with a version at or below the server's).
const EXECUTABLE: &[&str] = &["/*!", "/*!50000", "/*!100000", "/*M!", "/*M!100000"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executable_comments_run_on_mariadb_and_are_refused() -> Result<()> {
    run(|ctx| async move {
        let scratch = &ctx.scratch;
        // Harm, root on MariaDB: the comment body is SQL, so a statement that looks like
        // `SELECT 1` discloses another database's data.
        let mut root = root_conn(None).await?;
        for open in EXECUTABLE {
            let sql = format!("SELECT 1 {open} , (SELECT s FROM `{scratch}`.secret) */");
            let got = rows(&mut root, sql.clone()).await?;
            assert_eq!(
                got,
                vec![vec![Some("1".into()), Some(SECRET.into())]],
                "MariaDB should execute {open}: {sql}"
            );
        }
        // Harm, the tenant's backend user: a DELETE that looks like it removes one row
        // removes them all.
        let mut be = ctx.backend().await?;
        for open in EXECUTABLE {
            let sql = format!("DELETE FROM items WHERE id = 1 {open} OR 1=1 */");
            let (affected, left) = harm_in_tx(&mut be, &[], sql.clone()).await?;
            assert_eq!(
                (affected, left),
                (3, vec![]),
                "MariaDB should execute {open}: {sql}"
            );
        }

        // Through the proxy: refused (1227), wherever the comment stands, and nothing leaks.
        let mut c = ctx.proxy().await?;
        let mut failures = Vec::new();
        let mut forms = Vec::new();
        for open in EXECUTABLE
            .iter()
            .chain(&["/*!999999", "/*M!999999", "/*!00000"])
        {
            forms.push(format!(
                "SELECT 1 {open} , (SELECT s FROM `{scratch}`.secret) */"
            ));
            forms.push(format!("SELECT 1 {open} , 2 */"));
            forms.push(format!("SELECT{open} 1 */"));
            forms.push(format!(
                "SELECT name FROM items WHERE id = 1 {open} OR 1=1 */"
            ));
            forms.push(format!("DELETE FROM items WHERE id = 1 {open} OR 1=1 */"));
            forms.push(format!("SELECT 1 /* outer {open} , 2 */"));
            forms.push(format!("SELECT 1 -- x {open} , 2 */"));
        }
        for sql in &forms {
            expect_refused(&mut c, sql, &[1227], &mut failures).await;
        }
        // The same through COM_STMT_PREPARE.
        for open in EXECUTABLE {
            let sql = format!("SELECT 1 {open} , (SELECT s FROM `{scratch}`.secret) */");
            match c.prep(sql.as_str()).await {
                Ok(_) => failures.push(format!("prepare {sql:?}: accepted")),
                Err(e) if server_code(&e) == Some(1227) => {}
                Err(e) => failures.push(format!("prepare {sql:?}: expected 1227, got {e}")),
            }
        }
        assert_eq!(count_items(&mut c).await?, 3, "no row may be lost");
        // Inside a string literal the opener is just text.
        let s: Option<String> = c.query_first("SELECT '/*! , 2 */'").await?;
        assert_eq!(s.as_deref(), Some("/*! , 2 */"));
        assert_no_failures("executable comments", &failures);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Comments that do not nest, `--`, `#`, `\r`
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_comments_do_not_nest_on_mariadb() -> Result<()> {
    run(|ctx| async move {
        let scratch = &ctx.scratch;
        // `/* /* */` closes at the first `*/` on MariaDB; a nesting lexer would read all of
        // `/* /* */ , (...) -- */` as one comment and see `SELECT 1`.
        let select = format!("SELECT 1 /* /* */ , (SELECT s FROM `{scratch}`.secret) -- */");
        let mut root = root_conn(None).await?;
        assert_eq!(
            rows(&mut root, select.clone()).await?,
            vec![vec![Some("1".into()), Some(SECRET.into())]],
            "MariaDB does not nest comments: {select}"
        );
        let delete = "DELETE FROM items WHERE id = 1 /* /* */ OR 1=1 -- */";
        let mut be = ctx.backend().await?;
        assert_eq!(
            harm_in_tx(&mut be, &[], delete).await?,
            (3, vec![]),
            "{delete}"
        );

        let mut c = ctx.proxy().await?;
        // Whatever the policy's lexer makes of it, the other database is not reached.
        match rows(&mut c, select.clone()).await {
            Ok(got) => panic!("through the proxy, {select:?} was accepted: {got:?}"),
            Err(e) => {
                assert!(
                    server_code(&e).is_some_and(|code| [1044, 1064, 1227].contains(&code)),
                    "{select:?}: {e}"
                );
                assert!(!e.to_string().contains(SECRET));
            }
        }
        // The DELETE: refused, or it means what MariaDB makes of it (all three rows), never
        // the one row a nesting lexer sees.
        c.query_drop("START TRANSACTION").await?;
        match c.query_drop(delete).await {
            Ok(()) => {
                let left: Vec<i64> = c.query("SELECT id FROM items ORDER BY id").await?;
                assert_eq!(
                    left,
                    Vec::<i64>::new(),
                    "through the proxy, {delete:?} did not mean what MariaDB makes of it"
                );
            }
            Err(e) => assert!(
                server_code(&e).is_some_and(|code| [1064, 1227].contains(&code)),
                "{delete:?}: {e}"
            ),
        }
        c.query_drop("ROLLBACK").await?;
        assert_eq!(count_items(&mut c).await?, 3);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_comments_follow_mariadb() -> Result<()> {
    run(|ctx| async move {
        let mut be = ctx.backend().await?;
        // `--1` is minus minus one on MariaDB; `-- ` and `--<tab>` start comments; `#` always
        // does; `\r` does not end a line comment.
        let one = vec![vec![Some("1".to_string())]];
        for (sql, expected) in [
            ("SELECT 1 --1", vec![vec![Some("2".to_string())]]),
            ("SELECT 1 -- 1", one.clone()),
            ("SELECT 1 --\t, 2", one.clone()),
            ("SELECT 1 #, 2", one.clone()),
            ("SELECT 1 -- x\r, 2", one.clone()),
            ("SELECT 1 # x\r, 2", one.clone()),
            (
                "SELECT 1 -- x\n, 2",
                vec![vec![Some("1".to_string()), Some("2".to_string())]],
            ),
        ] {
            assert_eq!(rows(&mut be, sql).await?, expected, "on MariaDB: {sql:?}");
        }
        // Harm: a lexer that reads `--1` as a comment deletes row 2; MariaDB deletes row 3.
        let delete = "DELETE FROM items WHERE id = 2 --1";
        assert_eq!(
            harm_in_tx(&mut be, &[], delete).await?,
            (1, vec![1, 2]),
            "MariaDB reads {delete:?} as id = 3"
        );

        let mut c = ctx.proxy().await?;
        for sql in [
            "SELECT 1 --1",
            "SELECT 1 --1 + 1",
            "SELECT 1 -- 1",
            "SELECT 1 --\t, 2",
            "SELECT 1 #, 2",
            "SELECT 1 -- x\r, 2",
            "SELECT 1 # x\r, 2",
            "SELECT 1 -- x\n, 2",
            "SELECT 1 --\x0b, 2",
            "SELECT id FROM items WHERE id = 2 --1",
        ] {
            same_as_mariadb_or_refused(&mut c, &mut be, sql, &[1064, 1227]).await?;
        }
        c.query_drop("START TRANSACTION").await?;
        match c.query_drop(delete).await {
            Ok(()) => {
                let left: Vec<i64> = c.query("SELECT id FROM items ORDER BY id").await?;
                assert_eq!(
                    left,
                    vec![1, 2],
                    "through the proxy, {delete:?} deleted {left:?}"
                );
            }
            Err(e) => assert!(
                server_code(&e).is_some_and(|code| [1064, 1227].contains(&code)),
                "{delete:?}: {e}"
            ),
        }
        c.query_drop("ROLLBACK").await?;
        assert_eq!(count_items(&mut c).await?, 3);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Escapes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslash_rendered_without_escaping_would_inject() -> Result<()> {
    run(|ctx| async move {
        let scratch = &ctx.scratch;
        let payload = format!(" , (SELECT s FROM `{scratch}`.secret) -- ");
        // What the tenant writes: two harmless string literals, `a\` and the payload.
        let tenant_sql = format!("SELECT 'a\\\\', '{payload}'");
        // What a renderer that doubles quotes but not backslashes would send.
        let naive = format!("SELECT 'a\\', '{payload}'");
        let mut root = root_conn(None).await?;
        assert_eq!(
            rows(&mut root, tenant_sql.clone()).await?,
            vec![vec![Some("a\\".into()), Some(payload.clone())]],
            "MariaDB reads the tenant's text as two literals"
        );
        assert_eq!(
            rows(&mut root, naive.clone()).await?,
            vec![vec![Some("a', ".into()), Some(SECRET.into())]],
            "MariaDB reads the naive rendering {naive:?} as a subquery on another database"
        );
        // The same trick as the tenant's backend user: a DELETE of nothing deletes everything,
        // and on a multi-statement connection (mysql_async switches them on) a second
        // statement runs.
        let mut be = ctx.backend().await?;
        let tenant_delete = "DELETE FROM items WHERE name = 'a\\\\' OR name = ' OR 1=1 -- '";
        let naive_delete = "DELETE FROM items WHERE name = 'a\\' OR name = ' OR 1=1 -- '";
        assert_eq!(harm_in_tx(&mut be, &[], tenant_delete).await?.0, 0);
        assert_eq!(
            harm_in_tx(&mut be, &[], naive_delete).await?,
            (3, vec![]),
            "{naive_delete}"
        );
        be.query_drop("START TRANSACTION").await?;
        let naive_multi = "SELECT 'a\\', '; DELETE FROM items; -- '";
        let mut result = be.query_iter(naive_multi).await?;
        while !result.is_empty() {
            let _: Vec<Row> = result.collect().await?;
        }
        drop(result);
        assert_eq!(
            count_items(&mut be).await?,
            0,
            "MariaDB runs the second statement of {naive_multi:?}"
        );
        be.query_drop("ROLLBACK").await?;

        // Through the proxy the literals arrive intact and nothing else happens.
        let mut c = ctx.proxy().await?;
        let got = rows(&mut c, tenant_sql.clone()).await?;
        assert!(!mentions_secret(&got), "{tenant_sql}: {got:?}");
        assert_eq!(
            rows(&mut c, tenant_sql.clone()).await?,
            vec![vec![Some("a\\".into()), Some(payload.clone())]],
            "{tenant_sql}"
        );
        let dq = format!("SELECT \"a\\\\\", \"{payload}\"");
        assert_eq!(
            rows(&mut c, dq.clone()).await?,
            vec![vec![Some("a\\".into()), Some(payload.clone())]],
            "{dq}"
        );
        c.query_drop(tenant_delete).await?;
        assert_eq!(c.affected_rows(), 0, "{tenant_delete}");
        let multi = "SELECT 'a\\\\', '; DELETE FROM items; -- '";
        assert_eq!(
            rows(&mut c, multi).await?,
            vec![vec![
                Some("a\\".into()),
                Some("; DELETE FROM items; -- ".into())
            ]],
            "{multi}"
        );
        // Prepared: the same text, the same literals.
        let got: Vec<Row> = c.exec(tenant_sql.as_str(), ()).await?;
        assert_eq!(
            cells(&got),
            vec![vec![Some("a\\".into()), Some(payload.clone())]]
        );
        assert_eq!(count_items(&mut c).await?, 3, "no row may be lost");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_mean_what_mariadb_reads() -> Result<()> {
    run(|ctx| async move {
        let mut be = ctx.backend().await?;
        let mut c = ctx.proxy().await?;
        // MariaDB reads `\a` as `a` and `\f` as `f`, keeps the backslash in `\%` and `\_`,
        // reads `\Z` as 0x1A and `\b` as backspace. Through the proxy each literal must
        // arrive as the same bytes, or be refused.
        for lit in [
            r"'\a'",
            r"'\f'",
            r"'\%'",
            r"'\_'",
            r"'\Z'",
            r"'\b'",
            r"'\0'",
            r"'\x'",
            r"'\\'",
            r"'\''",
            r#"'\"'"#,
            r"'\n'",
            r"'\t'",
            r"'\r'",
            r"'a''b'",
            r#""a""b""#,
            r#""\'""#,
        ] {
            let sql = format!("SELECT HEX({lit})");
            same_as_mariadb_or_refused(&mut c, &mut be, &sql, &[1064, 1227]).await?;
        }
        // LIKE with an escaped wildcard: a renderer that drops the backslash of `\%` turns a
        // literal percent into a wildcard.
        same_as_mariadb_or_refused(
            &mut c,
            &mut be,
            r"SELECT COUNT(*) FROM items WHERE name LIKE '\%' OR name LIKE 'a\_'",
            &[1064, 1227],
        )
        .await?;
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Multi-byte client character sets
// ---------------------------------------------------------------------------------------------

/// Charsets in which a byte 0x5C can be the second byte of a character: a lead byte that makes
/// `lead 0x5C` one character, and the collation id a client would put in its handshake.
const BAD_CHARSETS: &[(&str, u8, u8)] = &[
    ("gbk", 0xbf, 28),
    ("big5", 0xa5, 1),
    ("sjis", 0x95, 13),
    ("cp932", 0x95, 95),
    ("gb18030", 0x95, 248),
];

/// PyMySQL's `escape_string`: a backslash before `\`, `'`, `"`, NUL, newline, CR, 0x1A.
/// It works on bytes and knows nothing of the connection charset.
fn pymysql_escape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in value {
        match b {
            b'\\' | b'\'' | b'"' => out.extend_from_slice(&[b'\\', b]),
            0 => out.extend_from_slice(b"\\0"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x1a => out.extend_from_slice(b"\\Z"),
            b => out.push(b),
        }
    }
    out
}

/// `DELETE FROM items WHERE name = '<escaped value>'` for the value `<lead>' OR 1=1 -- `:
/// the client escapes the quote, and in the charset `lead 0x5C` is one character.
fn crafted_delete(lead: u8) -> Vec<u8> {
    let mut value = vec![lead];
    value.extend_from_slice(b"' OR 1=1 -- ");
    let mut sql = b"DELETE FROM items WHERE name = '".to_vec();
    sql.extend_from_slice(&pymysql_escape(&value));
    sql.extend_from_slice(b"'");
    sql
}

async fn charset_exists(c: &mut Conn, cs: &str) -> Result<bool> {
    let rows: Vec<Row> = c.query(format!("SHOW CHARACTER SET LIKE '{cs}'")).await?;
    Ok(!rows.is_empty())
}

/// Logs in with a raw handshake that asks for `collation`; returns the client and the answer.
async fn raw_login(
    addr: SocketAddr,
    user: &str,
    password: &str,
    db: &str,
    collation: u8,
) -> Result<(RawClient, Vec<u8>)> {
    let mut c = RawClient::connect(addr).await?;
    // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | CONNECT_WITH_DB
    let caps: u32 = 0x200 | 0x8000 | 0x80000 | 0x1 | 0x8;
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(collation);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    let answer = native_answer(&c.scramble, password);
    p.push(answer.len() as u8);
    p.extend_from_slice(&answer);
    p.extend_from_slice(db.as_bytes());
    p.push(0);
    p.extend_from_slice(b"mysql_native_password\0");
    c.write_packet(1, &p).await?;
    let (_, reply) = c.read_packet().await?;
    Ok((c, reply))
}

/// Affected rows of an OK packet (small counts only).
fn ok_affected(p: &[u8]) -> Option<u64> {
    match p {
        [0x00, n, ..] if *n < 0xfb => Some(u64::from(*n)),
        _ => None,
    }
}

async fn raw_query(c: &mut RawClient, sql: &[u8]) -> Result<Vec<u8>> {
    let mut p = vec![0x03];
    p.extend_from_slice(sql);
    c.command(&p).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multibyte_charsets_swallow_the_escaping_backslash() -> Result<()> {
    run(|ctx| async move {
        let mut be = ctx.backend().await?;
        let mut proven = Vec::new();
        for &(cs, lead, _) in BAD_CHARSETS {
            if !charset_exists(&mut be, cs).await? {
                eprintln!("{cs} is not available on this server: harm half skipped");
                continue;
            }
            // In a safe charset the escaped value matches nothing and deletes nothing.
            let control = harm_in_tx(&mut be, &["SET NAMES latin1"], crafted_delete(lead)).await?;
            assert_eq!(control.0, 0, "in latin1 the escaping holds");
            // In the multi-byte charset the backslash becomes part of a character, the quote
            // closes the string and `OR 1=1` deletes every row.
            let set = format!("SET NAMES {cs}");
            let harm = harm_in_tx(&mut be, &[set.as_str()], crafted_delete(lead)).await?;
            assert_eq!(
                harm,
                (3, vec![]),
                "with {set}, the escaped quote should close the string"
            );
            be.query_drop("SET NAMES utf8mb4").await?;
            proven.push(cs);
        }
        assert!(proven.contains(&"gbk"), "gbk harm must be proven");

        // The same through a handshake that asks for gbk, directly on MariaDB.
        let a = backend_admin();
        let direct: SocketAddr = format!("{}:{}", a.host, a.port).parse()?;
        let (mut raw, reply) = raw_login(
            direct,
            &ctx.backend_user,
            &ctx.backend_password,
            &ctx.tenant.physical,
            28,
        )
        .await?;
        assert_eq!(reply.first(), Some(&0x00), "direct gbk login: {reply:?}");
        assert_eq!(
            ok_affected(&raw_query(&mut raw, b"START TRANSACTION").await?),
            Some(0)
        );
        let reply = raw_query(&mut raw, &crafted_delete(0xbf)).await?;
        assert_eq!(
            ok_affected(&reply),
            Some(3),
            "a gbk handshake makes the crafted DELETE delete every row: {reply:?}"
        );
        raw_query(&mut raw, b"ROLLBACK").await?;
        drop(raw);

        // Through the proxy: every way of choosing these charsets is refused.
        let mut c = ctx.proxy().await?;
        let mut failures = Vec::new();
        for &(cs, _, _) in BAD_CHARSETS {
            for sql in [
                format!("SET NAMES {cs}"),
                format!("SET NAMES '{cs}'"),
                format!("SET NAMES {}", cs.to_uppercase()),
                format!("SET NAMES {cs} COLLATE {cs}_bin"),
                format!("SET CHARACTER SET {cs}"),
                format!("SET CHARSET {cs}"),
                format!("SET character_set_client = {cs}"),
                format!("SET character_set_client = '{cs}'"),
                format!("SET SESSION character_set_client = {cs}"),
                format!("SET @@character_set_client = {cs}"),
                format!("SET @@session.character_set_client = '{cs}'"),
                format!("SET character_set_connection = {cs}"),
                format!("SET character_set_results = {cs}"),
                format!("SET autocommit = 1, character_set_client = {cs}"),
            ] {
                expect_refused(&mut c, &sql, &[1227], &mut failures).await;
            }
        }
        // The crafted bytes on the tenant's (utf8mb4) session delete nothing.
        c.query_drop("START TRANSACTION").await?;
        match c.query_drop(crafted_delete(0xbf)).await {
            Ok(()) => assert_eq!(c.affected_rows(), 0, "crafted DELETE through the proxy"),
            Err(e) => assert!(server_code(&e).is_some(), "crafted DELETE: {e}"),
        }
        c.query_drop("ROLLBACK").await?;
        assert_eq!(count_items(&mut c).await?, 3, "no row may be lost");
        drop(c);

        // Through the proxy, a handshake asking for one of these charsets is refused.
        for &(cs, _, collation) in BAD_CHARSETS {
            let (mut raw, reply) = raw_login(
                ctx.proxy_addr,
                &ctx.tenant.user,
                &ctx.tenant.password,
                &ctx.tenant.db,
                collation,
            )
            .await?;
            if err_code(&reply).is_some() {
                continue;
            }
            // Accepted: report what the session would then do with the crafted bytes.
            let reply = raw_query(&mut raw, b"START TRANSACTION").await?;
            let deleted = if ok_affected(&reply).is_some() {
                let r = raw_query(&mut raw, &crafted_delete(0xbf)).await?;
                raw_query(&mut raw, b"ROLLBACK").await?;
                format!("{r:?}")
            } else {
                format!("START TRANSACTION answered {reply:?}")
            };
            failures.push(format!(
                "handshake with collation {collation} ({cs}): accepted; the crafted DELETE \
                 then answered {deleted}"
            ));
        }
        assert_no_failures("multi-byte charsets", &failures);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// sql_mode
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_modes_that_change_lexing() -> Result<()> {
    run(|ctx| async move {
        let mut be = ctx.backend().await?;
        be.query_drop("SET sql_mode = DEFAULT").await?;
        // The value `a' OR 1=1 -- ` written in MySQL escape syntax, as OctoDB's renderer
        // writes it: `'a\' OR 1=1 -- '`.
        let escaped = r"DELETE FROM items WHERE name = 'a\' OR 1=1 -- '";
        let dquoted = r#"DELETE FROM items WHERE name = "name""#;
        assert_eq!(harm_in_tx(&mut be, &[], escaped).await?.0, 0);
        assert_eq!(harm_in_tx(&mut be, &[], dquoted).await?.0, 0);
        // NO_BACKSLASH_ESCAPES: the backslash is a character, the quote ends the string.
        assert_eq!(
            harm_in_tx(
                &mut be,
                &["SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"],
                escaped
            )
            .await?,
            (3, vec![]),
            "NO_BACKSLASH_ESCAPES: {escaped}"
        );
        // ANSI_QUOTES (and ANSI): "name" is the column, the predicate always true.
        for mode in ["ANSI_QUOTES", "ANSI"] {
            let set = format!("SET SESSION sql_mode = '{mode}'");
            assert_eq!(
                harm_in_tx(&mut be, &[set.as_str()], dquoted).await?,
                (3, vec![]),
                "{mode}: {dquoted}"
            );
        }
        be.query_drop("SET sql_mode = DEFAULT").await?;

        let mut c = ctx.proxy().await?;
        let mut failures = Vec::new();
        for mode in [
            "NO_BACKSLASH_ESCAPES",
            "ANSI_QUOTES",
            "ANSI",
            "ansi_quotes",
            "STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES",
            "PIPES_AS_CONCAT,ANSI_QUOTES",
        ] {
            for sql in [
                format!("SET sql_mode = '{mode}'"),
                format!("SET SESSION sql_mode = '{mode}'"),
                format!("SET LOCAL sql_mode = '{mode}'"),
                format!("SET @@sql_mode = '{mode}'"),
                format!("SET @@session.sql_mode = '{mode}'"),
                format!("SET sql_mode = \"{mode}\""),
                format!("SET autocommit = 1, sql_mode = '{mode}'"),
                format!("SET STATEMENT sql_mode = '{mode}' FOR SELECT 1"),
            ] {
                expect_refused(&mut c, &sql, &[1227], &mut failures).await;
            }
        }
        for sql in [
            "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
            "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
            "SET @m = 'ANSI_QUOTES'",
        ] {
            if sql.starts_with("SET @m") {
                // A user variable is allowed; using it as a mode is not.
                c.query_drop(sql).await?;
                expect_refused(&mut c, "SET sql_mode = @m", &[1227], &mut failures).await;
            } else {
                expect_refused(&mut c, sql, &[1227], &mut failures).await;
            }
        }
        let stmt = format!("SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR {escaped}");
        expect_refused(&mut c, &stmt, &[1227], &mut failures).await;
        // The session's mode is unchanged, and the same statements mean what they say.
        if let Ok(Some(mode)) = c.query_first::<String, _>("SELECT @@sql_mode").await {
            for bad in ["NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI"] {
                assert!(
                    !mode.split(',').any(|m| m == bad),
                    "sql_mode after refusals: {mode}"
                );
            }
        }
        c.query_drop("START TRANSACTION").await?;
        c.query_drop(escaped).await?;
        assert_eq!(c.affected_rows(), 0, "{escaped}");
        c.query_drop(dquoted).await?;
        assert_eq!(c.affected_rows(), 0, "{dquoted}");
        c.query_drop("ROLLBACK").await?;
        let s: Option<String> = c.query_first(r#"SELECT "name""#).await?;
        assert_eq!(s.as_deref(), Some("name"));
        assert_eq!(count_items(&mut c).await?, 3, "no row may be lost");
        assert_no_failures("sql_mode", &failures);
        Ok(())
    })
    .await
}
