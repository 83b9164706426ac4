//! Table-driven corpus: each statement is either refused with the expected MySQL error code or
//! forwarded with exactly the expected rewritten text.
//!
//! Session: user `alice`, current database `app`; the tenant owns `app` (physical
//! `t_acme__app`) and `reports` (physical `t_acme__reports`).
//!
//! Tests build the policy with debug assertions, under which every text it tokenizes (each
//! statement here and each forwarded text) is also checked against sqlparser's tokenizer
//! wherever the policy's fast tokenizer answers: the corpus doubles as a differential test of
//! it (`policy/src/canonical.rs`).

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
// ORM introspection: SHOW / DESCRIBE / EXPLAIN name the physical database.
#[case("SHOW TABLES", "SHOW TABLES FROM `t_acme__app`")]
#[case("SHOW FULL TABLES", "SHOW FULL TABLES FROM `t_acme__app`")]
#[case("SHOW FULL TABLES FROM `app`", "SHOW FULL TABLES FROM `t_acme__app`")]
#[case("SHOW TABLES IN reports", "SHOW TABLES FROM `t_acme__reports`")]
#[case(
    "SHOW TABLES LIKE 'user%'",
    "SHOW TABLES FROM `t_acme__app` LIKE 'user%'"
)]
#[case(
    r"SHOW TABLES LIKE 'a\\_b'",
    r"SHOW TABLES FROM `t_acme__app` LIKE 'a\\_b'"
)]
#[case(
    "SHOW FULL TABLES FROM reports WHERE Table_type = 'BASE TABLE'",
    "SHOW FULL TABLES FROM `t_acme__reports` WHERE Table_type = 'BASE TABLE'"
)]
#[case(
    "SHOW TABLES WHERE Tables_in_app LIKE 'a%'",
    "SHOW TABLES FROM `t_acme__app` WHERE `Tables_in_t_acme__app` LIKE 'a%'"
)]
#[case("SHOW COLUMNS FROM t", "SHOW COLUMNS FROM `t_acme__app`.t")]
#[case("SHOW FIELDS FROM t", "SHOW COLUMNS FROM `t_acme__app`.t")]
#[case(
    "SHOW FULL COLUMNS FROM `t`",
    "SHOW FULL COLUMNS FROM `t_acme__app`.`t`"
)]
#[case(
    "SHOW COLUMNS FROM t FROM reports",
    "SHOW COLUMNS FROM `t_acme__reports`.t"
)]
#[case("SHOW COLUMNS IN reports.t", "SHOW COLUMNS IN `t_acme__reports`.t")]
#[case(
    "SHOW FULL COLUMNS FROM t LIKE 'na%'",
    "SHOW FULL COLUMNS FROM `t_acme__app`.t LIKE 'na%'"
)]
#[case(
    "SHOW COLUMNS FROM t WHERE Field = 'id'",
    "SHOW COLUMNS FROM `t_acme__app`.t WHERE Field = 'id'"
)]
#[case("DESCRIBE t", "DESCRIBE `t_acme__app`.t")]
#[case("DESC reports.t", "DESC `t_acme__reports`.t")]
#[case("describe `t`", "DESCRIBE `t_acme__app`.`t`")]
#[case(
    "EXPLAIN SELECT * FROM t WHERE id = 1",
    "EXPLAIN SELECT * FROM `t_acme__app`.t WHERE id = 1"
)]
#[case(
    "EXPLAIN FORMAT=JSON SELECT a FROM t JOIN reports.u ON t.id = u.id",
    "EXPLAIN FORMAT=JSON SELECT a FROM `t_acme__app`.t JOIN `t_acme__reports`.u ON t.id = u.id"
)]
#[case(
    "EXPLAIN UPDATE t SET a = 1 WHERE id = 2",
    "EXPLAIN UPDATE `t_acme__app`.t SET a = 1 WHERE id = 2"
)]
#[case("EXPLAIN DELETE FROM t", "EXPLAIN DELETE FROM `t_acme__app`.t")]
#[case("DESCRIBE SELECT * FROM t", "DESCRIBE SELECT * FROM `t_acme__app`.t")]
#[case("SHOW CREATE TABLE t", "SHOW CREATE TABLE `t_acme__app`.t")]
#[case(
    "SHOW CREATE TABLE `reports`.`t`",
    "SHOW CREATE TABLE `t_acme__reports`.`t`"
)]
#[case("SHOW CREATE VIEW v", "SHOW CREATE VIEW `t_acme__app`.v")]
#[case("SHOW INDEX FROM t", "SHOW INDEX FROM `t_acme__app`.`t`")]
#[case(
    "SHOW INDEXES FROM t FROM reports",
    "SHOW INDEX FROM `t_acme__reports`.`t`"
)]
#[case("SHOW KEYS IN reports.t", "SHOW INDEX FROM `t_acme__reports`.`t`")]
#[case("SHOW INDEX FROM `we``ird`", "SHOW INDEX FROM `t_acme__app`.`we``ird`")]
#[case("SHOW TABLE STATUS", "SHOW TABLE STATUS FROM `t_acme__app`")]
#[case(
    "SHOW TABLE STATUS FROM reports",
    "SHOW TABLE STATUS FROM `t_acme__reports`"
)]
#[case(
    "SHOW TABLE STATUS IN app LIKE 'us%'",
    "SHOW TABLE STATUS FROM `t_acme__app` LIKE 'us%'"
)]
#[case(
    r"SHOW TABLE STATUS LIKE 'it''s\\'",
    r"SHOW TABLE STATUS FROM `t_acme__app` LIKE 'it\'s\\'"
)]
#[case("SHOW COLLATION", "SHOW COLLATION")]
#[case(
    "SHOW COLLATION WHERE Charset = 'utf8mb4' AND Collation = 'utf8mb4_bin'",
    "SHOW COLLATION WHERE Charset = 'utf8mb4' AND Collation = 'utf8mb4_bin'"
)]
#[case("SHOW CHARACTER SET LIKE 'utf8%'", "SHOW CHARACTER SET LIKE 'utf8%'")]
// System variables and identity functions clients read on connect.
#[case("SELECT @@version", "SELECT @@version")]
#[case("SELECT @@sql_mode", "SELECT @@sql_mode")]
#[case("SELECT @@tx_isolation", "SELECT @@tx_isolation")]
#[case("SELECT @@transaction_isolation", "SELECT @@transaction_isolation")]
#[case(
    "SELECT @@session.transaction_isolation",
    "SELECT @@session.transaction_isolation"
)]
#[case("SELECT @@lower_case_table_names", "SELECT @@lower_case_table_names")]
#[case(
    "SELECT @@autocommit, @@session.autocommit",
    "SELECT @@autocommit, @@session.autocommit"
)]
#[case(
    "SELECT @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection",
    "SELECT @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection"
)]
#[case(
    "SELECT @@time_zone, @@system_time_zone, @@version_comment",
    "SELECT @@time_zone, @@system_time_zone, @@version_comment"
)]
#[case(
    "SELECT @@SESSION.auto_increment_increment AS auto_increment_increment, @@character_set_server AS character_set_server, @@interactive_timeout AS interactive_timeout, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout",
    "SELECT @@SESSION.auto_increment_increment AS auto_increment_increment, @@character_set_server AS character_set_server, @@interactive_timeout AS interactive_timeout, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout"
)]
#[case("SELECT VERSION()", "SELECT VERSION()")]
#[case("SELECT CONNECTION_ID()", "SELECT CONNECTION_ID()")]
#[case(
    "SELECT LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS()",
    "SELECT LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS()"
)]
#[case("SELECT SCHEMA() AS s", "SELECT 'app' AS s")]
#[case(
    "SELECT CAST('test plain returns' AS CHAR(60)) AS anon_1",
    "SELECT CAST('test plain returns' AS CHAR(60)) AS anon_1"
)]
// Every SELECT form.
#[case(
    "SELECT a, ROW_NUMBER() OVER (PARTITION BY b ORDER BY c) AS rn FROM t",
    "SELECT a, ROW_NUMBER() OVER (PARTITION BY b ORDER BY c) AS rn FROM `t_acme__app`.t"
)]
#[case(
    "SELECT SUM(a) OVER w FROM t WINDOW w AS (ORDER BY id)",
    "SELECT SUM(a) OVER w FROM `t_acme__app`.t WINDOW w AS (ORDER BY id)"
)]
#[case(
    "SELECT JSON_EXTRACT(doc, '$.a'), JSON_OBJECT('k', a), JSON_ARRAYAGG(b) FROM t GROUP BY a",
    "SELECT JSON_EXTRACT(doc, '$.a'), JSON_OBJECT('k', a), JSON_ARRAYAGG(b) FROM `t_acme__app`.t GROUP BY a"
)]
#[case(
    "SELECT a FROM t UNION ALL SELECT a FROM u ORDER BY a LIMIT 5",
    "SELECT a FROM `t_acme__app`.t UNION ALL SELECT a FROM `t_acme__app`.u ORDER BY a LIMIT 5"
)]
#[case(
    "SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT",
    "SELECT * FROM `t_acme__app`.t WHERE id = 1 FOR UPDATE NOWAIT"
)]
#[case(
    "SELECT * FROM t FOR UPDATE SKIP LOCKED",
    "SELECT * FROM `t_acme__app`.t FOR UPDATE SKIP LOCKED"
)]
#[case(
    "SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE",
    "SELECT * FROM `t_acme__app`.t WHERE id = 1 LOCK IN SHARE MODE"
)]
#[case(
    "select * from t limit 1 lock in share mode;",
    "SELECT * FROM `t_acme__app`.t LIMIT 1 LOCK IN SHARE MODE"
)]
#[case(
    "SELECT * FROM t FOR SHARE",
    "SELECT * FROM `t_acme__app`.t LOCK IN SHARE MODE"
)]
// No FROM: sqlparser alone would read `tfee LOCK` as an alias (found by the fuzzer).
#[case(
    "SELECT @@veol<tfee LOCK IN SHARE MODE ",
    "SELECT @@veol < tfee LOCK IN SHARE MODE"
)]
#[case("SELECT a INTO @v FROM t", "SELECT a INTO @v FROM `t_acme__app`.t")]
#[case(
    "SELECT a, b INTO @x, @y FROM t WHERE id = 1",
    "SELECT a, b INTO @x, @y FROM `t_acme__app`.t WHERE id = 1"
)]
#[case("SELECT @x := 1, @x + 1", "SELECT @x := 1, @x + 1")]
#[case(
    "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10",
    "SELECT SQL_CALC_FOUND_ROWS * FROM `t_acme__app`.t LIMIT 10"
)]
#[case(
    "SELECT DISTINCT a FROM t WHERE b BETWEEN 1 AND 2 AND c LIKE 'x%' AND d IS NOT NULL",
    "SELECT DISTINCT a FROM `t_acme__app`.t WHERE b BETWEEN 1 AND 2 AND c LIKE 'x%' AND d IS NOT NULL"
)]
#[case(
    "SELECT CASE WHEN a > 0 THEN 'p' ELSE 'n' END, IFNULL(b, 0), COALESCE(c, d) FROM t",
    "SELECT CASE WHEN a > 0 THEN 'p' ELSE 'n' END, IFNULL(b, 0), COALESCE(c, d) FROM `t_acme__app`.t"
)]
#[case(
    "SELECT GROUP_CONCAT(a ORDER BY a SEPARATOR ',') FROM t",
    "SELECT GROUP_CONCAT(a ORDER BY a SEPARATOR ',') FROM `t_acme__app`.t"
)]
#[case(
    "WITH RECURSIVE tree AS (SELECT id, parent_id FROM nodes WHERE parent_id IS NULL UNION ALL SELECT n.id, n.parent_id FROM nodes n JOIN tree ON n.parent_id = tree.id) SELECT * FROM tree",
    "WITH RECURSIVE tree AS (SELECT id, parent_id FROM `t_acme__app`.nodes WHERE parent_id IS NULL UNION ALL SELECT n.id, n.parent_id FROM `t_acme__app`.nodes n JOIN tree ON n.parent_id = tree.id) SELECT * FROM tree"
)]
#[case(
    "SELECT t.id, u.name FROM t STRAIGHT_JOIN u ON t.uid = u.id",
    "SELECT t.id, u.name FROM `t_acme__app`.t STRAIGHT_JOIN `t_acme__app`.u ON t.uid = u.id"
)]
#[case("VALUES (1, 2), (3, 4)", "VALUES (1, 2), (3, 4)")]
// INSERT / UPDATE / DELETE forms.
#[case(
    "INSERT IGNORE INTO t (a) VALUES (1)",
    "INSERT IGNORE INTO `t_acme__app`.t (a) VALUES (1)"
)]
#[case(
    "INSERT INTO t (a, b) VALUES (1, 2) AS new ON DUPLICATE KEY UPDATE b = new.b",
    "INSERT INTO `t_acme__app`.t (a, b) VALUES (1, 2) AS new ON DUPLICATE KEY UPDATE b = new.b"
)]
#[case(
    "REPLACE INTO t SELECT * FROM reports.t",
    "REPLACE INTO `t_acme__app`.t SELECT * FROM `t_acme__reports`.t"
)]
#[case(
    "UPDATE t SET a = a + 1 ORDER BY id DESC LIMIT 10",
    "UPDATE `t_acme__app`.t SET a = a + 1 ORDER BY id DESC LIMIT 10"
)]
#[case(
    "DELETE FROM t WHERE a < 5 ORDER BY id LIMIT 100",
    "DELETE FROM `t_acme__app`.t WHERE a < 5 ORDER BY id LIMIT 100"
)]
#[case(
    "DELETE t FROM t LEFT JOIN u ON t.id = u.tid WHERE u.tid IS NULL",
    "DELETE `t_acme__app`.t FROM `t_acme__app`.t LEFT JOIN `t_acme__app`.u ON t.id = u.tid WHERE u.tid IS NULL"
)]
// Sysbench.
#[case(
    "SELECT c FROM sbtest1 WHERE id=1",
    "SELECT c FROM `t_acme__app`.sbtest1 WHERE id = 1"
)]
#[case(
    "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
    "SELECT c FROM `t_acme__app`.sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c"
)]
#[case(
    "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
    "SELECT DISTINCT c FROM `t_acme__app`.sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c"
)]
#[case(
    "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100",
    "SELECT SUM(k) FROM `t_acme__app`.sbtest1 WHERE id BETWEEN 1 AND 100"
)]
#[case(
    "UPDATE sbtest1 SET k=k+1 WHERE id=5",
    "UPDATE `t_acme__app`.sbtest1 SET k = k + 1 WHERE id = 5"
)]
#[case(
    "UPDATE sbtest1 SET c='x' WHERE id=5",
    "UPDATE `t_acme__app`.sbtest1 SET c = 'x' WHERE id = 5"
)]
#[case(
    "DELETE FROM sbtest1 WHERE id=5",
    "DELETE FROM `t_acme__app`.sbtest1 WHERE id = 5"
)]
#[case(
    "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5, 1, 'c', 'p')",
    "INSERT INTO `t_acme__app`.sbtest1 (id, k, c, pad) VALUES (5, 1, 'c', 'p')"
)]
// Session SET allow-list.
#[case("SET sql_mode = ''", "SET sql_mode = ''")]
#[case(
    "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'",
    "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'"
)]
#[case("SET sql_mode = TRADITIONAL", "SET sql_mode = TRADITIONAL")]
#[case("SET sql_mode = DEFAULT", "SET sql_mode = DEFAULT")]
#[case(
    "SET @@SESSION.sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')",
    "SET @@SESSION.sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')"
)]
#[case(
    "SET @@SESSION.sql_mode = CONCAT(REPLACE(REPLACE(@@sql_mode, 'STRICT_TRANS_TABLES', ''), 'STRICT_ALL_TABLES', ''), ',NO_AUTO_VALUE_ON_ZERO')",
    "SET @@SESSION.sql_mode = CONCAT(REPLACE(REPLACE(@@sql_mode, 'STRICT_TRANS_TABLES', ''), 'STRICT_ALL_TABLES', ''), ',NO_AUTO_VALUE_ON_ZERO')"
)]
#[case("SET time_zone = '+00:00'", "SET time_zone = '+00:00'")]
#[case("SET time_zone = 'Europe/Paris'", "SET time_zone = 'Europe/Paris'")]
#[case("SET SESSION time_zone = 'SYSTEM'", "SET SESSION time_zone = 'SYSTEM'")]
#[case(
    "SET SESSION wait_timeout = 28800, net_read_timeout = 30, net_write_timeout = 60",
    "SET SESSION wait_timeout = 28800, net_read_timeout = 30, net_write_timeout = 60"
)]
#[case("SET innodb_lock_wait_timeout = 5", "SET innodb_lock_wait_timeout = 5")]
#[case("SET lock_wait_timeout = 10", "SET lock_wait_timeout = 10")]
#[case("SET max_statement_time = 2.5", "SET max_statement_time = 2.5")]
#[case("SET sql_select_limit = DEFAULT", "SET sql_select_limit = DEFAULT")]
#[case(
    "SET SESSION group_concat_max_len = 1000000",
    "SET SESSION group_concat_max_len = 1000000"
)]
#[case(
    "SET SESSION transaction_isolation = 'READ-COMMITTED'",
    "SET SESSION transaction_isolation = 'READ-COMMITTED'"
)]
#[case(
    "SET tx_isolation = 'repeatable-read'",
    "SET tx_isolation = 'repeatable-read'"
)]
#[case(
    "SET SESSION transaction_read_only = 1",
    "SET SESSION transaction_read_only = 1"
)]
#[case("SET character_set_results = NULL", "SET character_set_results = NULL")]
#[case(
    "SET character_set_client = utf8mb4",
    "SET character_set_client = utf8mb4"
)]
#[case(
    "SET collation_connection = 'utf8mb4_unicode_ci'",
    "SET collation_connection = 'utf8mb4_unicode_ci'"
)]
#[case("SET SQL_AUTO_IS_NULL = 0", "SET SQL_AUTO_IS_NULL = 0")]
#[case("SET foreign_key_checks = 0", "SET foreign_key_checks = 0")]
#[case(
    "SET @a = 1, @b = (SELECT MAX(id) FROM t)",
    "SET @a = 1, @b = (SELECT MAX(id) FROM `t_acme__app`.t)"
)]
// Comments: the two lexers agree on these, so they are plain whitespace.
#[case("SELECT 1--1", "SELECT 1 - -1")]
#[case("SELECT 1 --\tcomment\n, 2", "SELECT 1, 2")]
#[case("SELECT 1 # comment\n, 2", "SELECT 1, 2")]
#[case("SELECT 1 -- x\r, 2", "SELECT 1")]
#[case("SELECT 1 # x\r\n, 2", "SELECT 1, 2")]
#[case("SELECT /* a */ 1 /* b */", "SELECT 1")]
#[case("SELECT 1 /* ; DROP TABLE t */", "SELECT 1")]
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
#[case("PREPARE s FROM 'SELECT 1'", 1227)]
#[case("HANDLER t OPEN", 1227)]
#[case("DO 1", 1227)]
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
#[case("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", 1227)]
#[case("SET @x = 1, @@global.y = 2", 1227)]
#[case("SET @x = 1, autocommit = 0", 1227)]
// DDL and DCL in every spelling.
#[case("CREATE OR REPLACE TABLE x (a INT)", 1227)]
#[case("CREATE TABLE IF NOT EXISTS x (a INT)", 1227)]
#[case("CREATE TABLE x LIKE t", 1227)]
#[case("CREATE TABLE x AS SELECT * FROM t", 1227)]
#[case("CREATE UNIQUE INDEX i ON t (a)", 1227)]
#[case("CREATE FUNCTION f RETURNS STRING SONAME 'x.so'", 1227)]
#[case("CREATE PROCEDURE p() SELECT 1", 1227)]
#[case(
    "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1",
    1227
)]
#[case("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t", 1227)]
#[case("CREATE SEQUENCE s", 1227)]
#[case("CREATE SCHEMA x", 1227)]
#[case("ALTER DATABASE app CHARACTER SET utf8mb4", 1227)]
#[case("ALTER VIEW v AS SELECT 1", 1227)]
#[case("DROP VIEW v", 1227)]
#[case("DROP INDEX i ON t", 1227)]
#[case("DROP PROCEDURE p", 1227)]
#[case("DROP FUNCTION f", 1227)]
#[case("DROP TRIGGER tr", 1227)]
#[case("DROP TABLE IF EXISTS t", 1227)]
#[case("DROP TEMPORARY TABLE t", 1227)]
#[case("RENAME TABLE t TO reports.t", 1227)]
#[case("TRUNCATE t", 1227)]
#[case("GRANT SELECT ON app.* TO 'bob'@'%'", 1227)]
#[case("GRANT r TO u", 1227)]
#[case("REVOKE r FROM u", 1227)]
#[case("CREATE ROLE r", 1227)]
#[case("DROP ROLE r", 1227)]
#[case("SET ROLE r", 1227)]
#[case("SET DEFAULT ROLE r FOR u", 1227)]
#[case("DROP USER x", 1227)]
#[case("ALTER USER x IDENTIFIED BY 'p'", 1227)]
#[case("RENAME USER a TO b", 1227)]
#[case("SET PASSWORD = 'x'", 1227)]
#[case("SET PASSWORD FOR u = PASSWORD('x')", 1227)]
// Dynamic SQL, server-side code and administration.
#[case("EXECUTE s", 1227)]
#[case("EXECUTE s USING @a", 1227)]
#[case("EXECUTE IMMEDIATE 'SELECT 1'", 1227)]
#[case("DEALLOCATE PREPARE s", 1227)]
#[case("DROP PREPARE s", 1227)]
#[case("SET STATEMENT max_statement_time = 1 FOR SELECT 1", 1227)]
#[case("CALL app.p(1)", 1227)]
#[case("DO SLEEP(1)", 1227)]
#[case("HANDLER t READ FIRST", 1227)]
#[case("XA START 'x'", 1227)]
#[case("XA COMMIT 'x'", 1227)]
#[case("UNLOCK TABLES", 1227)]
#[case("LOCK TABLE t READ", 1227)]
#[case("KILL QUERY 3", 1227)]
#[case("KILL CONNECTION 3", 1227)]
#[case("FLUSH TABLES", 1227)]
#[case("FLUSH LOGS", 1227)]
#[case("RESET MASTER", 1227)]
#[case("RESET QUERY CACHE", 1227)]
#[case("SHUTDOWN", 1227)]
#[case("INSTALL PLUGIN x SONAME 'y.so'", 1227)]
#[case("INSTALL SONAME 'y'", 1227)]
#[case("UNINSTALL PLUGIN x", 1227)]
#[case("UNINSTALL SONAME 'y'", 1227)]
#[case("ANALYZE TABLE t", 1227)]
#[case("ANALYZE SELECT * FROM t", 1227)]
#[case("CHECK TABLE t", 1227)]
#[case("CHECKSUM TABLE t", 1227)]
#[case("REPAIR TABLE t", 1227)]
#[case("OPTIMIZE TABLE t", 1227)]
#[case("CACHE INDEX t IN hot", 1227)]
#[case("LOAD INDEX INTO CACHE t", 1227)]
#[case("HELP 'select'", 1227)]
#[case("BINLOG 'AAAA'", 1227)]
#[case("CHANGE MASTER TO MASTER_HOST = 'x'", 1227)]
#[case("CHANGE REPLICATION FILTER REPLICATE_DO_DB = (x)", 1227)]
#[case("START SLAVE", 1227)]
#[case("START REPLICA", 1227)]
#[case("STOP SLAVE", 1227)]
#[case("PURGE BINARY LOGS TO 'x'", 1227)]
#[case("SHOW PROCESSLIST", 1227)]
#[case("SHOW FULL PROCESSLIST", 1227)]
#[case("SHOW GRANTS FOR CURRENT_USER", 1227)]
#[case("SHOW ENGINES", 1227)]
#[case("SHOW ENGINE INNODB STATUS", 1227)]
#[case("SHOW STATUS", 1227)]
#[case("SHOW GLOBAL STATUS", 1227)]
#[case("SHOW SESSION STATUS LIKE 'x'", 1227)]
#[case("SHOW MASTER STATUS", 1227)]
#[case("SHOW SLAVE STATUS", 1227)]
#[case("SHOW BINARY LOGS", 1227)]
#[case("SHOW PLUGINS", 1227)]
#[case("SHOW PRIVILEGES", 1227)]
#[case("SHOW OPEN TABLES", 1227)]
#[case("SHOW CREATE USER u", 1227)]
#[case("SHOW CREATE DATABASE app", 1227)]
#[case("SHOW CREATE PROCEDURE p", 1227)]
#[case("SHOW GLOBAL VARIABLES", 1227)]
#[case("SHOW GLOBAL VARIABLES LIKE 'datadir'", 1227)]
#[case("SHOW DATABASES WHERE `Database` = 'x'", 1227)]
#[case("SHOW TABLE STATUS WHERE Name = 'x'", 1227)]
#[case("SHOW INDEX FROM t WHERE Key_name = 'PRIMARY'", 1227)]
#[case("EXPLAIN ANALYZE SELECT 1", 1227)]
// Files.
#[case("LOAD XML INFILE '/x' INTO TABLE t", 1227)]
#[case("LOAD DATA LOCAL INFILE '/x' REPLACE INTO TABLE t", 1227)]
#[case("SELECT a FROM t UNION SELECT b FROM u INTO OUTFILE '/tmp/x'", 1227)]
#[case("SELECT * INTO OUTFILE '/tmp/x' FROM t", 1227)]
#[case("SELECT a FROM t INTO DUMPFILE '/tmp/x'", 1227)]
#[case("SELECT * FROM (SELECT LOAD_FILE('/etc/passwd')) x", 1227)]
#[case("INSERT INTO t (a) VALUES (LOAD_FILE('/etc/passwd'))", 1227)]
// Function deny-list.
#[case("SELECT load_file(0x2f6574632f706173737764)", 1227)]
#[case("SELECT * FROM t ORDER BY SLEEP(1)", 1227)]
#[case("SELECT IF(1, SLEEP(5), 0)", 1227)]
#[case("SELECT MASTER_POS_WAIT('f', 4, 1)", 1227)]
#[case("SELECT SOURCE_POS_WAIT('f', 4)", 1227)]
#[case("SELECT sys_exec('id')", 1227)]
#[case("SELECT SYS_EVAL('id')", 1227)]
#[case("SELECT sys.format_bytes(1)", 1227)]
#[case("SELECT mysql.f(1)", 1227)]
#[case("SELECT NEXTVAL(other.s)", 1227)]
#[case("SELECT BINLOG_GTID_POS('f', 4)", 1227)]
#[case("SELECT DES_DECRYPT(a) FROM t", 1227)]
#[case("SELECT a INTO @@session.x FROM t", 1227)]
// Host-describing system variables.
#[case("SELECT @@datadir", 1227)]
#[case("SELECT @@basedir", 1227)]
#[case("SELECT @@hostname", 1227)]
#[case("SELECT @@GLOBAL.hostname", 1227)]
#[case("SELECT @@pid_file", 1227)]
#[case("SELECT @@socket", 1227)]
#[case("SELECT @@plugin_dir", 1227)]
#[case("SELECT @@tmpdir", 1227)]
#[case("SELECT @@secure_file_priv", 1227)]
#[case("SELECT @@log_error", 1227)]
#[case("SELECT @@general_log_file", 1227)]
#[case("SELECT @@slow_query_log_file", 1227)]
#[case("SELECT @@log_bin_basename", 1227)]
#[case("SELECT @@relay_log", 1227)]
#[case("SELECT @@innodb_data_home_dir", 1227)]
#[case("SELECT @@port", 1227)]
#[case("SELECT 1 FROM t WHERE @@session.tmpdir IS NOT NULL", 1227)]
#[case("SET @x = @@datadir", 1227)]
// Session SET outside the allow-list.
#[case("SET sql_mode = 'ANSI_QUOTES'", 1227)]
#[case("SET sql_mode = 'NO_BACKSLASH_ESCAPES'", 1227)]
#[case("SET sql_mode = 'ANSI'", 1227)]
#[case("SET sql_mode = 'ORACLE'", 1227)]
#[case("SET sql_mode = 'STRICT_TRANS_TABLES,PIPES_AS_CONCAT'", 1227)]
#[case("SET sql_mode = 'IGNORE_SPACE'", 1227)]
#[case("SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", 1227)]
#[case("SET sql_mode = CONCAT('ANSI_', 'QUOTES')", 1227)]
#[case("SET sql_mode = REPLACE(@@sql_mode, 'X', 'ANSI_QUOTES')", 1227)]
#[case("SET sql_mode = REPLACE(@@sql_mode, 'TRANS', '')", 1227)]
#[case("SET sql_mode = (SELECT 'ANSI')", 1227)]
#[case("SET sql_mode = @x", 1227)]
#[case("SET @@global.sql_mode = ''", 1227)]
#[case("SET GLOBAL time_zone = '+00:00'", 1227)]
#[case("SET time_zone = (SELECT 'x')", 1227)]
#[case("SET time_zone = 'a''b'", 1227)]
#[case("SET wait_timeout = 'x'", 1227)]
#[case("SET wait_timeout = -1", 1227)]
#[case("SET character_set_client = gbk", 1227)]
#[case("SET character_set_connection = 'big5'", 1227)]
#[case("SET collation_connection = 'gbk_chinese_ci'", 1227)]
#[case("SET character_set_filesystem = binary", 1227)]
#[case("SET transaction_isolation = 'CHAOS'", 1227)]
#[case("SET sql_log_bin = 0", 1227)]
#[case("SET max_connections = 1", 1227)]
#[case("SET SESSION debug = 'd'", 1227)]
#[case("SET PERSIST_ONLY x = 1", 1227)]
#[case("SET @@persist.x = 1", 1227)]
// Comments the two lexers would delimit differently.
#[case("SELECT 1 --\u{1}x\n, 2", 1227)]
#[case("SELECT 1 --", 1227)]
#[case("SELECT 1 -- /*! , 2 */", 1227)]
#[case("SELECT /* /* */ 1 */", 1064)]
#[case("SELECT 1 /* unterminated", 1064)]
#[case("SELECT 1 \u{0} , 2", 1064)]
#[case("SELECT 1 # /*!50000 , 2 */", 1227)]
#[case("BEGIN NOT ATOMIC SELECT 1; END", 1227)]
// information_schema outside the allowed views or outside queries; cross-schema.
#[case("SELECT * FROM information_schema.processlist", 1044)]
#[case("SELECT * FROM information_schema.user_privileges", 1044)]
#[case("SELECT * FROM information_schema.innodb_trx", 1044)]
#[case("SELECT * FROM information_schema.plugins", 1044)]
#[case("SELECT * FROM information_schema.views", 1044)]
#[case("SELECT * FROM information_schema.routines", 1044)]
#[case("INSERT INTO t SELECT table_name FROM information_schema.tables", 1044)]
#[case(
    "UPDATE t JOIN information_schema.tables x ON 1 = 1 SET t.a = x.table_name",
    1044
)]
#[case(
    "DELETE FROM t WHERE a IN (SELECT table_name FROM information_schema.tables)",
    1044
)]
#[case("SET @x = (SELECT COUNT(*) FROM information_schema.tables)", 1044)]
#[case(
    "SELECT information_schema.tables.table_name FROM information_schema.tables",
    1044
)]
#[case("SHOW TABLES FROM other", 1044)]
#[case("SHOW TABLES FROM mysql", 1044)]
#[case("SHOW TABLES FROM information_schema", 1044)]
#[case("SHOW FULL TABLES FROM t_acme__app", 1044)]
#[case("SHOW COLUMNS FROM user FROM mysql", 1044)]
#[case("SHOW COLUMNS FROM mysql.user", 1044)]
#[case("DESCRIBE mysql.user", 1044)]
#[case("SHOW CREATE TABLE mysql.user", 1044)]
#[case("SHOW CREATE TABLE other.t", 1044)]
#[case("SHOW INDEX FROM user FROM mysql", 1044)]
#[case("SHOW KEYS FROM other.t", 1044)]
#[case("SHOW TABLE STATUS FROM mysql", 1044)]
#[case(
    "SHOW COLUMNS FROM t WHERE Field IN (SELECT user FROM mysql.user)",
    1044
)]
#[case("SHOW VARIABLES WHERE Variable_name IN (SELECT a FROM other.t)", 1044)]
#[case("EXPLAIN SELECT * FROM mysql.user", 1044)]
#[case("EXPLAIN UPDATE other.t SET a = 1", 1044)]
#[case("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r JOIN other.t) SELECT * FROM r", 1044)]
#[case("SELECT other.t.a FROM t", 1044)]
#[case(
    "SELECT * FROM t WHERE a = (SELECT b FROM performance_schema.threads LIMIT 1)",
    1044
)]
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

/// information_schema: only the tenant's databases, logical names become physical, and the
/// session maps result values back.
#[rstest]
#[case(
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM information_schema.tables WHERE `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT * FROM INFORMATION_SCHEMA.TABLES",
    "SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE `TABLES`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT schema_name FROM information_schema.schemata",
    "SELECT CASE schema_name WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END AS `schema_name` FROM information_schema.schemata WHERE `schemata`.SCHEMA_NAME IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    "SELECT table_name FROM information_schema.tables WHERE (CASE table_schema WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END = 'app') AND `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'users'",
    "SELECT COUNT(*) FROM information_schema.tables WHERE (CASE table_schema WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END = 'app' AND table_name = 'users') AND `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE = 'SEQUENCE' AND TABLE_SCHEMA = 'reports'",
    "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE (TABLE_TYPE = 'SEQUENCE' AND CASE TABLE_SCHEMA WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END = 'reports') AND `TABLES`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT column_name, data_type FROM information_schema.columns c WHERE c.table_schema IN ('app', 'other') AND c.table_name = 't' ORDER BY ordinal_position",
    "SELECT column_name, data_type FROM information_schema.columns c WHERE (CASE c.table_schema WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END IN ('app', 'other') AND c.table_name = 't') AND c.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports') ORDER BY ordinal_position"
)]
#[case(
    "SELECT * FROM information_schema.statistics WHERE 'app' = table_schema",
    "SELECT * FROM information_schema.statistics WHERE ('app' = CASE table_schema WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END) AND `statistics`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT k.constraint_name, k.referenced_table_schema FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r ON r.constraint_name = k.constraint_name WHERE k.referenced_table_schema <> 'reports'",
    "SELECT k.constraint_name, CASE k.referenced_table_schema WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END AS `referenced_table_schema` FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r ON r.constraint_name = k.constraint_name WHERE ((CASE k.referenced_table_schema WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END <> 'reports') AND k.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')) AND r.CONSTRAINT_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT c.column_name FROM information_schema.columns c LEFT JOIN information_schema.statistics s ON s.table_name = c.table_name",
    "SELECT c.column_name FROM information_schema.columns c LEFT JOIN information_schema.statistics s ON (s.table_name = c.table_name) AND s.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports') WHERE c.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "SELECT * FROM t WHERE name IN (SELECT table_name FROM information_schema.table_constraints WHERE constraint_type = 'UNIQUE')",
    "SELECT * FROM `t_acme__app`.t WHERE name IN (SELECT table_name FROM information_schema.table_constraints WHERE (constraint_type = 'UNIQUE') AND `table_constraints`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports'))"
)]
#[case(
    "SELECT x.n FROM (SELECT table_name AS n FROM information_schema.tables WHERE table_schema LIKE 'app') x",
    "SELECT x.n FROM (SELECT table_name AS n FROM information_schema.tables WHERE (CASE table_schema WHEN 't_acme__app' THEN 'app' WHEN 't_acme__reports' THEN 'reports' END LIKE 'app') AND `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')) x"
)]
#[case(
    "WITH c AS (SELECT table_name FROM information_schema.tables) SELECT * FROM c",
    "WITH c AS (SELECT table_name FROM information_schema.tables WHERE `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')) SELECT * FROM c"
)]
#[case(
    "SELECT table_name FROM information_schema.tables UNION SELECT table_name FROM information_schema.columns",
    "SELECT table_name FROM information_schema.tables WHERE `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports') UNION SELECT table_name FROM information_schema.columns WHERE `columns`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
#[case(
    "EXPLAIN SELECT * FROM information_schema.tables",
    "EXPLAIN SELECT * FROM information_schema.tables WHERE `tables`.TABLE_SCHEMA IN ('t_acme__app', 't_acme__reports')"
)]
fn information_schema(#[case] sql: &str, #[case] expected: &str) {
    match run(sql, Some("app"), false) {
        Ok(Decision::Forward(f)) => {
            assert_eq!(f.sql, expected, "{sql}");
            assert!(f.remap_names, "{sql}");
        }
        other => panic!("{sql}: expected a forward, got {other:?}"),
    }
}

/// Which forwarded statements have their result names mapped back.
#[rstest]
#[case("SHOW TABLES", true)]
#[case("SHOW FULL TABLES FROM reports", true)]
#[case("SHOW CREATE TABLE t", true)]
#[case("SHOW INDEX FROM t", true)]
#[case("SHOW TABLE STATUS", true)]
#[case("SELECT * FROM information_schema.columns", true)]
#[case("SHOW COLUMNS FROM t", false)]
#[case("DESCRIBE t", false)]
#[case("SELECT * FROM t", false)]
#[case("SHOW VARIABLES LIKE 'sql_mode'", false)]
#[case("SELECT c FROM sbtest1 WHERE id = 1", false)]
fn remap_names(#[case] sql: &str, #[case] remap: bool) {
    match run(sql, Some("app"), false) {
        Ok(Decision::Forward(f)) => assert_eq!(f.remap_names, remap, "{sql}"),
        other => panic!("{sql}: expected a forward, got {other:?}"),
    }
}

#[rstest]
#[case("SHOW DATABASES", None)]
#[case("show schemas", None)]
#[case("SHOW DATABASES LIKE 'app%'", Some("app%"))]
#[case("SHOW SCHEMAS LIKE 'r\\_%';", Some("r\\_%"))]
fn show_databases_is_local(#[case] sql: &str, #[case] like: Option<&str>) {
    assert_eq!(
        run(sql, Some("app"), false),
        Ok(Decision::Local(Local::ShowDatabases {
            like: like.map(str::to_string)
        }))
    );
}

#[test]
fn show_variables_hides_host_variables() {
    let (sql, _) = forwarded("SHOW SESSION VARIABLES LIKE 'sql_mode'");
    assert!(
        sql.starts_with("SHOW SESSION VARIABLES WHERE Variable_name LIKE 'sql_mode' AND Variable_name NOT LIKE '%dir%' AND Variable_name NOT LIKE '%file%'"),
        "{sql}"
    );
    assert!(sql.contains(r"NOT LIKE '%ssl\\_%'"), "{sql}");
    let (sql, _) = forwarded("SHOW VARIABLES WHERE Variable_name = 'x' OR 1 = 1");
    assert!(
        sql.starts_with("SHOW VARIABLES WHERE (Variable_name = 'x' OR 1 = 1) AND Variable_name NOT LIKE '%dir%'"),
        "{sql}"
    );
    let (sql, _) = forwarded("SHOW VARIABLES");
    assert!(
        sql.starts_with("SHOW VARIABLES WHERE Variable_name NOT LIKE '%dir%'"),
        "{sql}"
    );
}

#[test]
fn refusal_messages_for_new_bullets() {
    let msg = |sql: &str| run(sql, Some("app"), false).unwrap_err().message;
    assert!(msg("SET sql_mode = 'ANSI_QUOTES'").contains("ANSI_QUOTES"));
    assert!(msg("SELECT @@datadir").contains("@@datadir"));
    assert!(msg("SELECT 1 --\u{1}x").contains("comments"));
    assert!(msg("START SLAVE").starts_with("START SLAVE is not allowed"));
    assert!(msg("SET STATEMENT max_statement_time = 1 FOR SELECT 1").starts_with("SET STATEMENT"));
    assert!(msg("SELECT * FROM information_schema.processlist").contains("SCHEMATA, TABLES"));
}
