//! Table-driven corpus: each statement is either refused with the expected MySQL error code or
//! forwarded with exactly the expected rewritten text.
//!
//! Session: user `alice`, current database `app`; the tenant owns `app` (physical
//! `t_acme__app`) and `reports` (physical `t_acme__reports`).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use octodb_policy::{check, Decision, Local, Mapping, Refusal, SessionContext, StatementKind};
use rstest::rstest;

fn mapping() -> Mapping {
    Mapping {
        databases: HashMap::from([
            ("app".to_string(), "t_acme__app".to_string()),
            ("reports".to_string(), "t_acme__reports".to_string()),
        ]),
        version: 1,
    }
}

fn run(sql: &str, current_db: Option<&str>, prepared: bool) -> Result<Decision, Refusal> {
    let m = mapping();
    let ctx = SessionContext {
        mapping: &m,
        current_db,
        user: "alice",
    };
    check(sql, &ctx, prepared)
}

fn forwarded(sql: &str) -> (String, StatementKind) {
    match run(sql, Some("app"), false) {
        Ok(Decision::Forward(f)) => (f.sql, f.kind),
        other => panic!("{sql}: expected a forward, got {other:?}"),
    }
}

#[rstest]
// Plain and no-FROM selects, as clients send them on connect.
#[case("SELECT 1", "SELECT 1")]
#[case("SELECT 1;", "SELECT 1")]
#[case("SELECT @@version_comment LIMIT 1", "SELECT @@version_comment LIMIT 1")]
#[case(
    "SELECT @@max_allowed_packet, @@wait_timeout",
    "SELECT @@max_allowed_packet, @@wait_timeout"
)]
#[case("SELECT ';'", "SELECT ';'")]
#[case("SELECT 1 FROM DUAL", "SELECT 1 FROM DUAL")]
#[case("SELECT 1 /* plain comment */ -- x\n", "SELECT 1")]
#[case("SELECT '/*!', '/*M!'", "SELECT '/*!', '/*M!'")]
// Table references.
#[case("SELECT * FROM t", "SELECT * FROM `t_acme__app`.t")]
#[case("SELECT * FROM app.t", "SELECT * FROM `t_acme__app`.t")]
#[case("SELECT * FROM `app`.`t`", "SELECT * FROM `t_acme__app`.`t`")]
#[case(
    "SELECT * FROM reports.t JOIN t u ON u.id = t.id",
    "SELECT * FROM `t_acme__reports`.t JOIN `t_acme__app`.t u ON u.id = t.id"
)]
#[case(
    "SELECT * FROM t1 LEFT JOIN (t2 JOIN t3 ON t2.a = t3.a) ON t1.a = t2.a",
    "SELECT * FROM `t_acme__app`.t1 LEFT JOIN (`t_acme__app`.t2 JOIN `t_acme__app`.t3 ON t2.a = t3.a) ON t1.a = t2.a"
)]
#[case(
    "SELECT * FROM t1, t2 WHERE t1.a = t2.a",
    "SELECT * FROM `t_acme__app`.t1, `t_acme__app`.t2 WHERE t1.a = t2.a"
)]
#[case(
    "SELECT a FROM t WHERE id IN (SELECT id FROM u)",
    "SELECT a FROM `t_acme__app`.t WHERE id IN (SELECT id FROM `t_acme__app`.u)"
)]
#[case(
    "SELECT * FROM (SELECT * FROM reports.t) x",
    "SELECT * FROM (SELECT * FROM `t_acme__reports`.t) x"
)]
#[case(
    "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a)",
    "SELECT a FROM `t_acme__app`.t WHERE EXISTS (SELECT 1 FROM `t_acme__app`.u WHERE u.a = t.a)"
)]
#[case(
    "SELECT a FROM t1 UNION SELECT b FROM reports.t2",
    "SELECT a FROM `t_acme__app`.t1 UNION SELECT b FROM `t_acme__reports`.t2"
)]
#[case(
    "(SELECT 1) UNION (SELECT a FROM t)",
    "(SELECT 1) UNION (SELECT a FROM `t_acme__app`.t)"
)]
#[case(
    "WITH c AS (SELECT * FROM t) SELECT * FROM c JOIN u ON c.id = u.id",
    "WITH c AS (SELECT * FROM `t_acme__app`.t) SELECT * FROM c JOIN `t_acme__app`.u ON c.id = u.id"
)]
#[case(
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r"
)]
#[case(
    "SELECT * FROM c, (WITH c AS (SELECT 1) SELECT * FROM c) x",
    "SELECT * FROM `t_acme__app`.c, (WITH c AS (SELECT 1) SELECT * FROM c) x"
)]
#[case(
    "SELECT * FROM t PARTITION (p0) FORCE INDEX (i)",
    "SELECT * FROM `t_acme__app`.t PARTITION (p0) FORCE INDEX (i)"
)]
#[case(
    "SELECT t.a, COUNT(*) FROM t GROUP BY t.a HAVING COUNT(*) > 1 ORDER BY 2 DESC LIMIT 10",
    "SELECT t.a, COUNT(*) FROM `t_acme__app`.t GROUP BY t.a HAVING COUNT(*) > 1 ORDER BY 2 DESC LIMIT 10"
)]
#[case(
    "SELECT * FROM t FOR UPDATE",
    "SELECT * FROM `t_acme__app`.t FOR UPDATE"
)]
// Three-part columns and qualified wildcards.
#[case(
    "SELECT app.t.col FROM t",
    "SELECT `t_acme__app`.t.col FROM `t_acme__app`.t"
)]
#[case(
    "SELECT reports.t.col FROM reports.t WHERE reports.t.id = 1",
    "SELECT `t_acme__reports`.t.col FROM `t_acme__reports`.t WHERE `t_acme__reports`.t.id = 1"
)]
#[case(
    "SELECT app.t.* FROM app.t",
    "SELECT `t_acme__app`.t.* FROM `t_acme__app`.t"
)]
#[case("SELECT t.* FROM t", "SELECT t.* FROM `t_acme__app`.t")]
#[case(
    "SELECT * FROM t WHERE MATCH (app.t.a) AGAINST ('x')",
    "SELECT * FROM `t_acme__app`.t WHERE MATCH (`t_acme__app`.t.a) AGAINST ('x')"
)]
// INSERT / REPLACE.
#[case(
    "INSERT INTO t (a, b) VALUES (1, 2), (3, 4)",
    "INSERT INTO `t_acme__app`.t (a, b) VALUES (1, 2), (3, 4)"
)]
#[case(
    "INSERT INTO t SELECT * FROM reports.u",
    "INSERT INTO `t_acme__app`.t SELECT * FROM `t_acme__reports`.u"
)]
#[case(
    "INSERT INTO reports.t (a) SELECT a FROM t WHERE b IN (SELECT b FROM u)",
    "INSERT INTO `t_acme__reports`.t (a) SELECT a FROM `t_acme__app`.t WHERE b IN (SELECT b FROM `t_acme__app`.u)"
)]
#[case(
    "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a) + 1",
    "INSERT INTO `t_acme__app`.t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a) + 1"
)]
#[case(
    "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = (SELECT MAX(a) FROM u)",
    "INSERT INTO `t_acme__app`.t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = (SELECT MAX(a) FROM `t_acme__app`.u)"
)]
#[case(
    "REPLACE INTO t (a) VALUES (1)",
    "REPLACE INTO `t_acme__app`.t (a) VALUES (1)"
)]
#[case(
    "INSERT INTO t SET a = 1, b = 'x'",
    "INSERT INTO `t_acme__app`.t SET a = 1, b = 'x'"
)]
#[case(
    "INSERT INTO t (app.t.a) VALUES (1)",
    "INSERT INTO `t_acme__app`.t (`t_acme__app`.t.a) VALUES (1)"
)]
// UPDATE.
#[case(
    "UPDATE t SET a = 1 WHERE id = 2",
    "UPDATE `t_acme__app`.t SET a = 1 WHERE id = 2"
)]
#[case(
    "UPDATE t JOIN reports.u ON t.id = u.id SET t.a = u.b",
    "UPDATE `t_acme__app`.t JOIN `t_acme__reports`.u ON t.id = u.id SET t.a = u.b"
)]
#[case(
    "UPDATE t SET app.t.a = 1",
    "UPDATE `t_acme__app`.t SET `t_acme__app`.t.a = 1"
)]
#[case(
    "UPDATE t SET a = (SELECT b FROM u LIMIT 1) ORDER BY id LIMIT 1",
    "UPDATE `t_acme__app`.t SET a = (SELECT b FROM `t_acme__app`.u LIMIT 1) ORDER BY id LIMIT 1"
)]
// DELETE, including the multi-table target lists sqlparser does not visit as relations.
#[case(
    "DELETE FROM t WHERE id = 1",
    "DELETE FROM `t_acme__app`.t WHERE id = 1"
)]
#[case(
    "DELETE t1, reports.t2 FROM t1 JOIN reports.t2 ON t1.a = t2.a",
    "DELETE `t_acme__app`.t1, `t_acme__reports`.t2 FROM `t_acme__app`.t1 JOIN `t_acme__reports`.t2 ON t1.a = t2.a"
)]
#[case(
    "DELETE a FROM t1 AS a JOIN t2 b ON a.id = b.id",
    "DELETE a FROM `t_acme__app`.t1 AS a JOIN `t_acme__app`.t2 b ON a.id = b.id"
)]
#[case(
    "DELETE FROM t1 USING t1 JOIN t2 ON t1.a = t2.a",
    "DELETE FROM `t_acme__app`.t1 USING `t_acme__app`.t1 JOIN `t_acme__app`.t2 ON t1.a = t2.a"
)]
#[case(
    "DELETE FROM a USING t1 AS a JOIN t2 ON a.x = t2.x",
    "DELETE FROM a USING `t_acme__app`.t1 AS a JOIN `t_acme__app`.t2 ON a.x = t2.x"
)]
#[case(
    "DELETE FROM t WHERE id IN (SELECT id FROM reports.u)",
    "DELETE FROM `t_acme__app`.t WHERE id IN (SELECT id FROM `t_acme__reports`.u)"
)]
// DATABASE() and friends answer with the logical view.
#[case("SELECT DATABASE()", "SELECT 'app' AS `DATABASE()`")]
#[case(
    "SELECT database(), SCHEMA()",
    "SELECT 'app' AS `database()`, 'app' AS `SCHEMA()`"
)]
#[case(
    "SELECT USER(), CURRENT_USER, CURRENT_USER(), SESSION_USER(), SYSTEM_USER()",
    "SELECT 'alice@%' AS `USER()`, 'alice@%' AS `CURRENT_USER`, 'alice@%' AS `CURRENT_USER()`, 'alice@%' AS `SESSION_USER()`, 'alice@%' AS `SYSTEM_USER()`"
)]
#[case("SELECT DATABASE() AS d", "SELECT 'app' AS d")]
#[case(
    "SELECT * FROM t WHERE db = DATABASE()",
    "SELECT * FROM `t_acme__app`.t WHERE db = 'app'"
)]
// String literals: written back in MySQL escape syntax, never re-interpretable.
#[case(r"SELECT 'a\\', 'b'", r"SELECT 'a\\', 'b'")]
#[case(
    r#"SELECT 'it''s', 'x\'y', "q\"q""#,
    r#"SELECT 'it\'s', 'x\'y', "q\"q""#
)]
#[case(r"SELECT '\'; DROP TABLE x; --'", r"SELECT '\'; DROP TABLE x; --'")]
#[case(r"SELECT 'x\\'' OR 1=1 -- '", r"SELECT 'x\\\' OR 1=1 -- '")]
#[case(r"SELECT 'a\0b'", r"SELECT 'a\0b'")]
#[case("SELECT 'a\nb\tc\u{1a}d'", "SELECT 'a\nb\tc\u{1a}d'")]
#[case(r"SELECT 'a\nb'", "SELECT 'a\nb'")]
#[case(r#"SELECT "a\\", 'b"c'"#, r#"SELECT "a\\", 'b\"c'"#)]
#[case(
    r"SELECT N'x\\y', _utf8mb4'z\\w', _binary'p\\q', X'41'",
    r"SELECT N'x\\y', _utf8mb4 'z\\w', _binary 'p\\q', X'41'"
)]
#[case(r"SELECT 1 AS `a\b`, 2 AS 'c\\d'", r"SELECT 1 AS `a\b`, 2 AS 'c\\d'")]
#[case(
    r"SELECT * FROM t WHERE a LIKE 'x\%' ESCAPE '\\'",
    r"SELECT * FROM `t_acme__app`.t WHERE a LIKE 'x\\%' ESCAPE '\\'"
)]
#[case("SELECT 'é\\\\ü'", "SELECT 'é\\\\ü'")]
// Session statements.
#[case("BEGIN", "BEGIN")]
#[case("START TRANSACTION", "START TRANSACTION")]
#[case("start transaction read only", "START TRANSACTION READ ONLY")]
#[case(
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE"
)]
#[case("COMMIT", "COMMIT")]
#[case("ROLLBACK", "ROLLBACK")]
#[case("SAVEPOINT s1", "SAVEPOINT s1")]
#[case("ROLLBACK TO s1", "ROLLBACK TO SAVEPOINT s1")]
#[case("RELEASE SAVEPOINT s1", "RELEASE SAVEPOINT s1")]
#[case("SET NAMES utf8mb4", "SET NAMES utf8mb4")]
#[case(
    "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'",
    "SET NAMES 'utf8mb4' COLLATE utf8mb4_unicode_ci"
)]
#[case("set character set latin1", "SET CHARACTER SET latin1")]
#[case("SET autocommit=1", "SET autocommit = 1")]
#[case("SET @@session.autocommit = off", "SET @@session.autocommit = off")]
#[case("SET @x = 1, @y = 'z'", "SET @x = 1, @y = 'z'")]
#[case(
    "set session transaction isolation level read committed",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
)]
#[case(
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY"
)]
#[case("show warnings", "SHOW WARNINGS")]
#[case("SHOW WARNINGS LIMIT 1, 2", "SHOW WARNINGS LIMIT 1, 2")]
#[case("SHOW COUNT(*) WARNINGS", "SHOW COUNT(*) WARNINGS")]
#[case("SHOW ERRORS;", "SHOW ERRORS")]
fn forwards_rewritten(#[case] sql: &str, #[case] expected: &str) {
    assert_eq!(forwarded(sql).0, expected, "{sql}");
}

#[rstest]
#[case("SELECT 1", StatementKind::Select)]
#[case("INSERT INTO t VALUES (1)", StatementKind::Insert)]
#[case("REPLACE INTO t VALUES (1)", StatementKind::Insert)]
#[case("UPDATE t SET a = 1", StatementKind::Update)]
#[case("DELETE FROM t", StatementKind::Delete)]
#[case("BEGIN", StatementKind::Begin)]
#[case("START TRANSACTION WITH CONSISTENT SNAPSHOT", StatementKind::Begin)]
#[case("COMMIT", StatementKind::Commit)]
#[case("ROLLBACK", StatementKind::Rollback)]
#[case("ROLLBACK TO SAVEPOINT s", StatementKind::Other)]
#[case("SAVEPOINT s", StatementKind::Other)]
#[case("RELEASE SAVEPOINT s", StatementKind::Other)]
#[case("SET autocommit = 0", StatementKind::SetAutocommit(false))]
#[case("SET autocommit = 1", StatementKind::SetAutocommit(true))]
#[case("SET @@autocommit = ON", StatementKind::SetAutocommit(true))]
#[case("SET @@session.autocommit = OFF", StatementKind::SetAutocommit(false))]
#[case("SET SESSION autocommit = TRUE", StatementKind::SetAutocommit(true))]
#[case("set AUTOCOMMIT = false", StatementKind::SetAutocommit(false))]
#[case("SET @@SESSION.AUTOCOMMIT = 1", StatementKind::SetAutocommit(true))]
#[case("SET NAMES UTF8MB4", StatementKind::SetNames { charset: "utf8mb4".into(), collation: None })]
#[case(
    "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
    StatementKind::SetNames { charset: "utf8mb4".into(), collation: Some("utf8mb4_bin".into()) }
)]
#[case("SET CHARACTER SET ascii", StatementKind::SetNames { charset: "ascii".into(), collation: None })]
#[case("SET @x = 1", StatementKind::SetSession)]
#[case("SET SESSION TRANSACTION READ ONLY", StatementKind::SetSession)]
#[case("SHOW WARNINGS", StatementKind::ShowWarnings)]
#[case("SHOW COUNT(*) ERRORS", StatementKind::ShowWarnings)]
fn forwards_with_kind(#[case] sql: &str, #[case] kind: StatementKind) {
    assert_eq!(forwarded(sql).1, kind, "{sql}");
}

#[rstest]
// Parsing and statement count.
#[case("", 1064)]
#[case(" ; ", 1064)]
#[case("SELEC 1", 1064)]
#[case("SELECT 1; SELECT 2", 1227)]
#[case("SELECT 1; DROP TABLE t", 1227)]
#[case("SELECT 1;\nDROP TABLE t;", 1227)]
// DDL, privileges, administration.
#[case("CREATE TABLE x (a INT)", 1227)]
#[case("CREATE TEMPORARY TABLE x (a INT)", 1227)]
#[case("CREATE INDEX i ON t (a)", 1227)]
#[case("CREATE VIEW v AS SELECT 1", 1227)]
#[case("CREATE DATABASE x", 1227)]
#[case("ALTER TABLE t ADD COLUMN b INT", 1227)]
#[case("DROP TABLE t", 1227)]
#[case("DROP DATABASE app", 1227)]
#[case("RENAME TABLE t TO u", 1227)]
#[case("TRUNCATE TABLE t", 1227)]
#[case("GRANT ALL ON *.* TO 'x'@'%'", 1227)]
#[case("REVOKE ALL ON *.* FROM x", 1227)]
#[case("CREATE USER x", 1227)]
#[case("LOAD DATA INFILE '/etc/passwd' INTO TABLE t", 1227)]
#[case("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t", 1227)]
#[case("CALL p()", 1227)]
#[case("LOCK TABLES t WRITE", 1227)]
#[case("FLUSH PRIVILEGES", 1227)]
#[case("KILL 1", 1227)]
#[case("EXPLAIN SELECT 1", 1227)]
#[case("PREPARE s FROM 'SELECT 1'", 1227)]
#[case("HANDLER t OPEN", 1227)]
#[case("DO 1", 1227)]
#[case("SHOW TABLES", 1227)]
#[case("SHOW DATABASES", 1227)]
#[case("SHOW GRANTS", 1227)]
#[case("COMMIT AND CHAIN", 1227)]
#[case("WITH c AS (SELECT 1) DELETE FROM t", 1227)]
// Executable comments and hints.
#[case("SELECT 1 /*! , 2 */", 1227)]
#[case("SELECT 1 /*M! , 2 */", 1227)]
#[case("SELECT /*!50000 1 */", 1227)]
#[case("SELECT 1 /*M!100000 , 2 */", 1227)]
#[case("SELECT 1 /*!*/", 1227)]
#[case("SELECT /* /*! nested */ 1", 1227)]
#[case("SELECT /*+ MAX_EXECUTION_TIME(1) */ 1", 1227)]
#[case("/*!40101 SET NAMES gbk */", 1227)]
// Cross-database references.
#[case("SELECT * FROM mysql.user", 1044)]
#[case("SELECT * FROM other.t", 1044)]
#[case("SELECT * FROM t_acme__app.t", 1044)]
#[case("SELECT * FROM t_other__app.t", 1044)]
#[case("SELECT * FROM information_schema.tables", 1044)]
#[case("SELECT * FROM INFORMATION_SCHEMA.TABLES", 1044)]
#[case("SELECT * FROM performance_schema.threads", 1044)]
#[case("SELECT * FROM sys.x", 1044)]
#[case("SELECT * FROM APP.t", 1044)]
#[case("SELECT * FROM t JOIN mysql.user u ON 1 = 1", 1044)]
#[case("SELECT (SELECT MAX(a) FROM mysql.user)", 1044)]
#[case("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM other.u)", 1044)]
#[case("WITH c AS (SELECT * FROM mysql.user) SELECT * FROM c", 1044)]
#[case("SELECT a FROM t UNION SELECT password FROM mysql.user", 1044)]
#[case("SELECT mysql.user.password FROM t", 1044)]
#[case("SELECT mysql.user.* FROM t", 1044)]
#[case("SELECT COUNT(other.t.*) FROM t", 1044)]
#[case("SELECT * FROM t WHERE MATCH (other.t.a) AGAINST ('x')", 1044)]
#[case("INSERT INTO mysql.user (a) VALUES (1)", 1044)]
#[case("INSERT INTO t SELECT * FROM other.t", 1044)]
#[case("INSERT INTO t (mysql.user.x) VALUES (1)", 1044)]
#[case(
    "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE other.t.a = 1",
    1044
)]
#[case("UPDATE other.t SET a = 1", 1044)]
#[case("UPDATE t JOIN other.u ON t.id = u.id SET t.a = u.b", 1044)]
#[case("UPDATE t SET mysql.user.a = 1", 1044)]
#[case("DELETE FROM other.t", 1044)]
#[case("DELETE mysql.user FROM t1", 1044)]
#[case("DELETE t1 FROM t1 JOIN other.t2 ON 1 = 1", 1044)]
#[case("DELETE FROM mysql.user USING t1", 1044)]
#[case("DELETE FROM t1 USING t1 JOIN other.t2", 1044)]
#[case("SET @x = (SELECT a FROM mysql.user)", 1044)]
#[case("USE other", 1044)]
#[case("USE mysql", 1044)]
#[case("USE t_acme__app", 1044)]
#[case("SELECT * FROM a.b.c", 1227)]
#[case("SELECT a.b.c.d FROM t", 1227)]
// Refused functions and constructs.
#[case("SELECT LOAD_FILE('/etc/passwd')", 1227)]
#[case("SELECT sleep(10)", 1227)]
#[case("SELECT `SLEEP`(1)", 1227)]
#[case("SELECT * FROM t WHERE SLEEP(1) = 0", 1227)]
#[case("SELECT BENCHMARK(1000000, MD5('x'))", 1227)]
#[case("SELECT GET_LOCK('x', 1)", 1227)]
#[case("SELECT RELEASE_LOCK('x')", 1227)]
#[case("SELECT RELEASE_ALL_LOCKS()", 1227)]
#[case("SELECT IS_FREE_LOCK('x')", 1227)]
#[case("SELECT IS_USED_LOCK('x')", 1227)]
#[case("SELECT MASTER_POS_WAIT('f', 4)", 1227)]
#[case("SELECT MASTER_GTID_WAIT('0-1-1')", 1227)]
#[case("SELECT other.f(1)", 1227)]
#[case("SELECT app.f(1)", 1227)]
#[case("UPDATE t SET a = SLEEP(1)", 1227)]
#[case("SET @x = SLEEP(1)", 1227)]
#[case("SELECT * FROM t INTO OUTFILE '/tmp/x'", 1227)]
#[case("SELECT * INTO DUMPFILE '/tmp/x' FROM t", 1227)]
#[case("SELECT a INTO @v FROM t", 1227)]
#[case(
    "SELECT * FROM JSON_TABLE('[]', '$[*]' COLUMNS (a INT PATH '$')) jt",
    1227
)]
#[case("SELECT * FROM t WHERE a = 'x\\ay'", 1227)]
// SET.
#[case("SET NAMES gbk", 1227)]
#[case("SET NAMES big5", 1227)]
#[case("SET NAMES sjis", 1227)]
#[case("SET NAMES cp932", 1227)]
#[case("SET NAMES GB18030", 1227)]
#[case("SET CHARACTER SET gbk", 1227)]
#[case("SET NAMES utf8mb4 COLLATE 'x; DROP'", 1227)]
#[case("SET NAMES DEFAULT", 1227)]
#[case("SET autocommit = 2", 1227)]
#[case("SET GLOBAL autocommit = 1", 1227)]
#[case("SET @@global.max_connections = 1", 1227)]
#[case("SET PERSIST max_connections = 1", 1227)]
#[case("SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", 1227)]
#[case("SET sql_mode = ''", 1227)]
#[case("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", 1227)]
#[case("SET time_zone = '+00:00'", 1227)]
#[case("SET @x = 1, @@global.y = 2", 1227)]
#[case("SET @x = 1, autocommit = 0", 1227)]
// Placeholders outside COM_STMT_PREPARE.
#[case("SELECT * FROM t WHERE a = ?", 1064)]
fn refused(#[case] sql: &str, #[case] code: u16) {
    match run(sql, Some("app"), false) {
        Err(r) => assert_eq!(r.code, code, "{sql}: {}", r.message),
        Ok(d) => panic!("{sql}: expected refusal {code}, got {d:?}"),
    }
}

#[test]
fn refusal_messages_name_the_kind() {
    let msg = |sql: &str| run(sql, Some("app"), false).unwrap_err().message;
    assert!(msg("DROP TABLE t").starts_with("DROP TABLE is not allowed"));
    assert!(msg("GRANT ALL ON *.* TO x").starts_with("GRANT is not allowed"));
    assert!(msg("LOAD DATA INFILE 'x' INTO TABLE t").starts_with("LOAD DATA is not allowed"));
    assert!(msg("CALL p()").starts_with("CALL is not allowed"));
    assert!(msg("SET GLOBAL x = 1").starts_with("SET GLOBAL is not allowed"));
    assert!(msg("SELECT 1 /*! 1 */").contains("executable comments"));
    assert_eq!(
        msg("SELECT * FROM mysql.user"),
        "Access denied for user 'alice' to database 'mysql'"
    );
}

#[test]
fn use_own_database_is_local() {
    assert_eq!(
        run("USE reports", Some("app"), false),
        Ok(Decision::Local(Local::Use("reports".into())))
    );
    assert_eq!(
        run("use `app`;", None, false),
        Ok(Decision::Local(Local::Use("app".into())))
    );
}

#[test]
fn no_current_database() {
    assert_eq!(run("SELECT * FROM t", None, false).unwrap_err().code, 1046);
    match run("SELECT DATABASE(), 1 FROM reports.t", None, false) {
        Ok(Decision::Forward(f)) => assert_eq!(
            f.sql,
            "SELECT NULL AS `DATABASE()`, 1 FROM `t_acme__reports`.t"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn placeholders_in_prepared_statements() {
    match run(
        "SELECT * FROM t WHERE a = ? AND b IN (?, ?)",
        Some("app"),
        true,
    ) {
        Ok(Decision::Forward(f)) => assert_eq!(
            f.sql,
            "SELECT * FROM `t_acme__app`.t WHERE a = ? AND b IN (?, ?)"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(run("SELECT ?", Some("app"), true).map(|_| ()), Ok(()));
    assert!(run("SELECT * FROM t WHERE a = :x", Some("app"), true).is_err());
}

#[test]
fn backslash_values_are_exact() {
    // The forwarded text, read back, holds exactly the values the client sent.
    let (sql, _) = forwarded(r"SELECT 'a\\', 'b'");
    let stmts = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &sql);
    let text = format!("{:?}", stmts.unwrap());
    assert!(text.contains(r#"SingleQuotedString("a\\")"#), "{text}");
    assert!(text.contains(r#"SingleQuotedString("b")"#), "{text}");
}

#[test]
fn injection_text_stays_one_string() {
    let (sql, _) = forwarded(r"SELECT * FROM t WHERE a = '\'; DROP TABLE x; --'");
    let stmts =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &sql).unwrap();
    assert_eq!(stmts.len(), 1);
    let text = format!("{:?}", stmts[0]);
    assert!(
        text.contains(r#"SingleQuotedString("'; DROP TABLE x; --")"#),
        "{text}"
    );
}

#[rstest]
// A non-recursive CTE body does not see its own name, nor later CTEs: those are tables.
#[case(
    "WITH t AS (SELECT * FROM t) SELECT * FROM t",
    "WITH t AS (SELECT * FROM `t_acme__app`.t) SELECT * FROM t"
)]
#[case(
    "WITH a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT * FROM a, b",
    "WITH a AS (SELECT * FROM `t_acme__app`.b), b AS (SELECT * FROM a) SELECT * FROM a, b"
)]
#[case(
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r, s WHERE n < 3) SELECT * FROM r",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r, `t_acme__app`.s WHERE n < 3) SELECT * FROM r"
)]
#[case(
    "SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) x JOIN c ON 1 = 1",
    "SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) x JOIN `t_acme__app`.c ON 1 = 1"
)]
#[case(
    "INSERT INTO c WITH c AS (SELECT 1) SELECT * FROM c",
    "INSERT INTO `t_acme__app`.c WITH c AS (SELECT 1) SELECT * FROM c"
)]
fn cte_scope(#[case] sql: &str, #[case] expected: &str) {
    assert_eq!(forwarded(sql).0, expected, "{sql}");
}
