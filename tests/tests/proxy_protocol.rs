//! Protocol tests: a real mysql_async client (and a raw one for hostile bytes) against the
//! in-process proxy and the real MariaDB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::Result;
use mysql_async::prelude::Queryable;
use mysql_async::{ChangeUserOpts, Conn, Opts, Value};
use octodb_tests::raw::{err_code, RawClient};
use octodb_tests::support::server_code;
use octodb_tests::{root_conn, TestEnv};

const ITEMS: &str = "CREATE TABLE items (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(50) NOT NULL,
    qty INT NOT NULL DEFAULT 0
)";

async fn expect_code(conn: &mut Conn, sql: &str, code: u16) {
    let err = conn
        .query_drop(sql)
        .await
        .expect_err(&format!("{sql} should fail"));
    assert_eq!(server_code(&err), Some(code), "{sql}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_with_text_and_binary_protocols() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let mut c = env.connect(&t).await?;
    c.query_drop("INSERT INTO items (name, qty) VALUES ('apple', 3), ('pear', 5)")
        .await?;
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(c.last_insert_id(), Some(1));
    c.exec_drop("INSERT INTO items (name, qty) VALUES (?, ?)", ("plum", 7))
        .await?;
    assert_eq!(c.last_insert_id(), Some(3));
    c.exec_drop(
        "UPDATE items SET qty = qty + ? WHERE name = ?",
        (10, "pear"),
    )
    .await?;
    assert_eq!(c.affected_rows(), 1);
    c.query_drop("DELETE FROM items WHERE name = 'apple'")
        .await?;
    let rows: Vec<(i32, String, i32)> = c
        .query("SELECT id, name, qty FROM items ORDER BY id")
        .await?;
    assert_eq!(rows, vec![(2, "pear".into(), 15), (3, "plum".into(), 7)]);
    let rows: Vec<(String, i32)> = c
        .exec("SELECT name, qty FROM app.items WHERE qty > ?", (10,))
        .await?;
    assert_eq!(rows, vec![("pear".into(), 15)]);
    // The data really lives in the tenant's physical database.
    let mut root = root_conn(Some(&t.physical)).await?;
    let n: Option<i64> = root.query_first("SELECT COUNT(*) FROM items").await?;
    assert_eq!(n, Some(2));
    drop(c);
    drop(root);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_and_roll_back() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let mut c = env.connect(&t).await?;
    c.query_drop("BEGIN").await?;
    c.query_drop("INSERT INTO items (name) VALUES ('gone')")
        .await?;
    c.query_drop("ROLLBACK").await?;
    c.query_drop("START TRANSACTION").await?;
    c.query_drop("INSERT INTO items (name) VALUES ('kept')")
        .await?;
    c.query_drop("COMMIT").await?;
    c.query_drop("SET autocommit = 0").await?;
    c.query_drop("INSERT INTO items (name) VALUES ('gone too')")
        .await?;
    c.query_drop("ROLLBACK").await?;
    c.query_drop("SET autocommit = 1").await?;
    let names: Vec<String> = c.query("SELECT name FROM items").await?;
    assert_eq!(names, vec!["kept".to_string()]);
    drop(c);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_reach_each_other() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let a = env.tenant(ITEMS).await?;
    let b = env.tenant(ITEMS).await?;
    let mut root = root_conn(Some(&b.physical)).await?;
    root.query_drop("INSERT INTO items (name) VALUES ('secret of b')")
        .await?;
    let mut c = env.connect(&a).await?;
    let other = &b.physical;
    for sql in [
        format!("SELECT * FROM {other}.items"),
        format!("SELECT * FROM `{other}`.`items`"),
        format!("SELECT {other}.items.name FROM items"),
        format!("SELECT * FROM items JOIN {other}.items AS x ON x.id = items.id"),
        format!("SELECT * FROM items WHERE id IN (SELECT id FROM {other}.items)"),
        format!("INSERT INTO {other}.items (name) VALUES ('x')"),
        format!("INSERT INTO items (name) SELECT name FROM {other}.items"),
        format!("UPDATE {other}.items SET qty = 1"),
        format!("DELETE FROM {other}.items"),
        format!("USE {other}"),
        "SELECT * FROM mysql.user".to_string(),
        "SELECT * FROM information_schema.processlist".to_string(),
        "SELECT * FROM performance_schema.threads".to_string(),
        "SELECT * FROM sys.version".to_string(),
    ] {
        expect_code(&mut c, &sql, 1044).await;
    }
    // The handshake cannot pick the other tenant's database either.
    let err = Conn::new(Opts::from(env.opts(&a).db_name(Some(other.clone()))))
        .await
        .expect_err("foreign database at connect");
    assert_eq!(server_code(&err), Some(1044), "{err}");
    // Nor can COM_INIT_DB.
    let (mut raw, ok) = RawClient::login(env.addr, &a.user, &a.password, Some("app")).await?;
    assert_eq!(ok[0], 0, "login: {ok:?}");
    let mut init = vec![0x02];
    init.extend_from_slice(other.as_bytes());
    assert_eq!(err_code(&raw.command(&init).await?), Some(1044));
    assert_eq!(raw.command(b"\x02app").await?[0], 0x00);
    // B's row is untouched and A never saw it.
    let n: Option<i64> = root.query_first("SELECT COUNT(*) FROM items").await?;
    assert_eq!(n, Some(1));
    drop((c, root, raw));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_multi_statements_and_executable_comments_are_refused() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let mut c = env.connect(&t).await?;
    for sql in [
        "CREATE TABLE x (a INT)",
        "DROP TABLE items",
        "ALTER TABLE items ADD COLUMN z INT",
        "TRUNCATE TABLE items",
        "GRANT ALL ON *.* TO 'x'@'%'",
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP TABLE items",
        "SELECT 1 /*! , 2 */",
        "SELECT 1 /*!50000 , 2 */",
        "SELECT 1 /*M! , 2 */",
        "SELECT 1 /*M!100000 , 2 */",
    ] {
        expect_code(&mut c, sql, 1227).await;
    }
    // A semicolon inside a string is not a separator.
    let s: Option<String> = c.query_first("SELECT 'a;b'").await?;
    assert_eq!(s.as_deref(), Some("a;b"));
    // The table is still there.
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM items").await?;
    assert_eq!(n, Some(0));
    drop(c);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslashes_in_literals_survive_rendering() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let mut c = env.connect(&t).await?;
    let row: Option<(String, String)> = c.query_first(r"SELECT 'a\\', 'b'").await?;
    assert_eq!(row, Some((r"a\".to_string(), "b".to_string())));
    let row: Option<(String, String, String)> =
        c.query_first(r#"SELECT 'it''s', 'x\'y', "q\"q""#).await?;
    assert_eq!(row, Some(("it's".into(), "x'y".into(), "q\"q".into())));
    c.query_drop(r"INSERT INTO items (name) VALUES ('\\''; DROP TABLE items; -- ')")
        .await?;
    let names: Vec<String> = c.query("SELECT name FROM items").await?;
    assert_eq!(names, vec![r"\'; DROP TABLE items; -- ".to_string()]);
    drop(c);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_checked() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let wrong = env.opts(&t).pass(Some("not-the-password"));
    let err = Conn::new(Opts::from(wrong))
        .await
        .expect_err("wrong password");
    assert_eq!(server_code(&err), Some(1045), "{err}");
    let nobody = env.opts(&t).user(Some("nobody_here"));
    let err = Conn::new(Opts::from(nobody))
        .await
        .expect_err("unknown user");
    assert_eq!(server_code(&err), Some(1045), "{err}");
    // Two connections get different scrambles and connection ids.
    let a = RawClient::connect(env.addr).await?;
    let b = RawClient::connect(env.addr).await?;
    assert_eq!(a.scramble.len(), 20);
    assert_ne!(a.scramble, b.scramble);
    assert_ne!(a.connection_id, b.connection_id);
    assert!(a.server_version.contains("MariaDB"), "{}", a.server_version);
    drop((a, b));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_reauthenticates() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let a = env.tenant(ITEMS).await?;
    let b = env.tenant(ITEMS).await?;
    let mut root = root_conn(Some(&b.physical)).await?;
    root.query_drop("INSERT INTO items (name) VALUES ('b-row')")
        .await?;
    // Wrong credentials: refused, and the connection is not left logged in.
    let mut c = env.connect(&a).await?;
    let res = c
        .change_user(
            ChangeUserOpts::default()
                .with_user(Some(b.user.clone()))
                .with_pass(Some("wrong".to_string()))
                .with_db_name(Some("app".to_string())),
        )
        .await;
    assert!(res.is_err(), "change_user with a wrong password must fail");
    assert!(c.query_drop("SELECT 1").await.is_err());
    // Right credentials: the session now is tenant B's.
    let mut c = env.connect(&a).await?;
    c.change_user(
        ChangeUserOpts::default()
            .with_user(Some(b.user.clone()))
            .with_pass(Some(b.password.clone()))
            .with_db_name(Some("app".to_string())),
    )
    .await?;
    let names: Vec<String> = c.query("SELECT name FROM items").await?;
    assert_eq!(names, vec!["b-row".to_string()]);
    drop((c, root));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_rows_arrive_intact() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let mut c = env.connect(&t).await?;
    // A text row of exactly 0xFFFFFF payload bytes: 4 bytes of length prefix + data.
    let n = 0xFF_FFFF - 4;
    let v: Option<Vec<u8>> = c.query_first(format!("SELECT REPEAT('x', {n})")).await?;
    let v = v.unwrap();
    assert_eq!(v.len(), n);
    assert!(v.iter().all(|&b| b == b'x'));
    // A 20 MiB row (two 10 MiB columns), text and binary.
    let ten = 10 << 20;
    let sql = format!("SELECT REPEAT('a', {ten}), REPEAT('b', {ten})");
    let row: Option<(Vec<u8>, Vec<u8>)> = c.query_first(&sql).await?;
    let (x, y) = row.unwrap();
    assert_eq!((x.len(), y.len()), (ten, ten));
    assert!(x.iter().all(|&b| b == b'a') && y.iter().all(|&b| b == b'b'));
    let row: Option<(Vec<u8>, Vec<u8>)> = c.exec_first(&sql, ()).await?;
    let (x, y) = row.unwrap();
    assert_eq!((x.len(), y.len()), (ten, ten));
    // And a large parameter travels the other way (MariaDB's own max_allowed_packet, 16 MiB
    // here, bounds what the server accepts).
    let big = vec![b'z'; 15 << 20];
    let len: Option<i64> = c.exec_first("SELECT LENGTH(?)", (big,)).await?;
    assert_eq!(len, Some(15 << 20));
    drop(c);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_packets_get_errors_not_panics() -> Result<()> {
    let mut env = TestEnv::start_with(|c| c.max_packet_size = 1 << 20).await?;
    let t = env.tenant(ITEMS).await?;
    let login = || RawClient::login(env.addr, &t.user, &t.password, Some("app"));
    // Unknown commands are errors, never OK.
    let (mut raw, ok) = login().await?;
    assert_eq!(ok[0], 0);
    for cmd in [0x00u8, 0x05, 0x08, 0x0A, 0x12, 0x1D, 0xFF] {
        assert_eq!(
            err_code(&raw.command(&[cmd]).await?),
            Some(1047),
            "cmd {cmd:#x}"
        );
    }
    // Multi-statements cannot be switched on.
    assert_eq!(err_code(&raw.command(&[0x1B, 0, 0]).await?), Some(1227));
    // A statement id this session never created.
    let mut exec = vec![0x17];
    exec.extend_from_slice(&77u32.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0]);
    assert_eq!(err_code(&raw.command(&exec).await?), Some(1243));
    // A truncated COM_STMT_EXECUTE for a real statement: an error, the session goes on.
    let prep = raw.command(b"\x16SELECT ? + ?").await?;
    assert_eq!(prep[0], 0);
    let id = u32::from_le_bytes(prep[1..5].try_into().unwrap());
    for _ in 0..(2 + 1 + 1 + 1) {
        raw.read_packet().await?; // two params + EOF, one column + EOF
    }
    let mut exec = vec![0x17];
    exec.extend_from_slice(&id.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1, 8, 0]);
    assert!(err_code(&raw.command(&exec).await?).is_some());
    assert_eq!(
        raw.command(&[0x0E]).await?[0],
        0,
        "ping after a bad execute"
    );
    // Commands with an answer whose statement id or option is cut short: error 1835, like
    // the server, and the session goes on.
    for cut in [&[0x17u8, 1, 0][..], &[0x1A, 1], &[0x1B], &[0x1B, 0]] {
        assert_eq!(err_code(&raw.command(cut).await?), Some(1835), "{cut:02x?}");
    }
    assert_eq!(raw.command(&[0x0E]).await?[0], 0, "ping after cut commands");
    // An empty packet and a truncated COM_STMT_CLOSE.
    assert!(err_code(&raw.command(&[]).await?).is_some());
    raw.write_packet(0, &[0x19, 1]).await?;
    assert!(
        raw.is_closed().await,
        "a malformed close ends the connection"
    );
    // A packet over the configured maximum: error 1153 and the connection closes.
    let (mut raw, _) = login().await?;
    let mut q = b"\x03SELECT '".to_vec();
    q.extend(std::iter::repeat_n(b'x', 2 << 20));
    q.push(b'\'');
    let mut sent = 0;
    let mut seq = 0u8;
    while sent < q.len() {
        let n = (q.len() - sent).min(0xFF_FFFF);
        // The proxy may close before the whole packet is written.
        let _ = raw.write_packet(seq, &q[sent..sent + n]).await;
        sent += n;
        seq += 1;
    }
    // The proxy answers 1153 and closes; the close may overtake the error packet (unread
    // input makes the kernel reset the connection), so either is accepted, but it must close.
    if let Ok((_, reply)) = raw.read_packet().await {
        assert_eq!(err_code(&reply), Some(1153));
        assert!(raw.is_closed().await);
    }
    // Garbage instead of a handshake response.
    let mut g = RawClient::connect(env.addr).await?;
    g.write_packet(1, &[1, 2, 3]).await?;
    let (_, reply) = g.read_packet().await?;
    assert!(err_code(&reply).is_some());
    // The proxy still serves everyone else.
    let mut c = env.connect(&t).await?;
    let one: Option<i64> = c.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));
    drop(c);
    env.cleanup().await
}

/// Every common column type: values and metadata through the proxy equal a direct connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_types_match_a_direct_connection() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env
        .tenant(
            "CREATE TABLE types (
            id INT PRIMARY KEY,
            n_null INT NULL,
            ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
            mi MEDIUMINT, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
            dec1 DECIMAL(20,6), f FLOAT, d DOUBLE, bt BIT(8), yr YEAR,
            dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME, tm6 TIME(6),
            zd DATE, ch CHAR(4), vc VARCHAR(20), tx TEXT, bl BLOB, vb VARBINARY(8),
            js JSON, en ENUM('a','b'), st SET('x','y'), u8 VARCHAR(20) CHARACTER SET utf8mb4
        )",
        )
        .await?;
    let mut root = root_conn(Some(&t.physical)).await?;
    root.query_drop("SET SESSION sql_mode = ''").await?;
    root.query_drop(
        "INSERT INTO types VALUES
         (1, NULL, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295,
          -9223372036854775808, 18446744073709551615, -12345678901234.123456, 3.25,
          -2.5e-300, b'10100101', 2024, '2024-02-29', '2024-02-29 23:59:59.123456',
          '2038-01-19 03:14:07.999', '-838:59:59', '-01:02:03.000004', '0000-00-00',
          'ab', 'héllo', 'long text', X'00FF10FF', X'FF00FF', '{\"k\": [1, 2]}', 'b', 'x,y',
          '日本語🙂'),
         (2, 5, 127, 0, 32767, 0, 8388607, 2147483647, 0, 9223372036854775807, 0,
          0.000001, -1.5, 1.7976931348623157e308, b'0', 1901, '1000-01-01',
          '9999-12-31 23:59:59.999999', NULL, '838:59:59', '00:00:00', '0000-00-00',
          '', '', '', X'', X'', 'null', 'a', '', '')",
    )
    .await?;
    let sql = "SELECT * FROM types ORDER BY id";
    let mut proxied = env.connect(&t).await?;
    for binary in [false, true] {
        let (direct_cols, direct_rows) = fetch(&mut root, sql, binary).await?;
        let (proxy_cols, proxy_rows) = fetch(&mut proxied, sql, binary).await?;
        assert_eq!(direct_rows, proxy_rows, "values differ (binary: {binary})");
        assert_eq!(direct_cols.len(), proxy_cols.len());
        for (d, p) in direct_cols.iter().zip(proxy_cols.iter()) {
            let name = d.name_str();
            assert_eq!(d.column_type(), p.column_type(), "{name} type");
            assert_eq!(d.flags(), p.flags(), "{name} flags");
            assert_eq!(d.character_set(), p.character_set(), "{name} charset");
            assert_eq!(d.column_length(), p.column_length(), "{name} length");
            assert_eq!(d.decimals(), p.decimals(), "{name} decimals");
            assert_eq!(d.name_ref(), p.name_ref());
            assert_eq!(d.org_name_ref(), p.org_name_ref());
            assert_eq!(d.table_ref(), p.table_ref());
            assert_eq!(d.org_table_ref(), p.org_table_ref());
            assert_eq!(d.schema_ref(), t.physical.as_bytes());
            assert_eq!(
                p.schema_ref(),
                b"app",
                "{name}: the logical name, not the physical"
            );
        }
    }
    drop((root, proxied));
    env.cleanup().await
}

type Fetched = (Vec<mysql_async::Column>, Vec<Vec<Value>>);

async fn fetch(conn: &mut Conn, sql: &str, binary: bool) -> Result<Fetched> {
    let rows: Vec<mysql_async::Row> = if binary {
        conn.exec(sql, ()).await?
    } else {
        conn.query(sql).await?
    };
    let cols = rows
        .first()
        .map(|r| r.columns_ref().to_vec())
        .unwrap_or_default();
    Ok((cols, rows.into_iter().map(|r| r.unwrap()).collect()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_really_resets() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let mut c = env.connect(&t).await?;
    c.query_drop("SET @marker = 42").await?;
    c.query_drop("SET autocommit = 0").await?;
    c.query_drop("INSERT INTO items (name) VALUES ('uncommitted')")
        .await?;
    assert!(c.reset().await?, "COM_RESET_CONNECTION is supported");
    let marker: Option<Option<i64>> = c.query_first("SELECT @marker").await?;
    assert_eq!(marker, Some(None), "user variables are gone");
    let ac: Option<i64> = c.query_first("SELECT @@autocommit").await?;
    assert_eq!(ac, Some(1), "autocommit is back on");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM items").await?;
    assert_eq!(n, Some(0), "the open transaction was rolled back");
    let db: Option<String> = c.query_first("SELECT DATABASE()").await?;
    assert_eq!(db.as_deref(), Some("app"), "the current database stays");
    drop(c);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_list_and_long_data_commands() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let (mut raw, ok) = RawClient::login(env.addr, &t.user, &t.password, Some("app")).await?;
    assert_eq!(ok[0], 0);
    // COM_FIELD_LIST: one definition per column, then EOF; the schema is the logical name.
    let first = raw.command(b"\x04items\0").await?;
    let mut defs = vec![first];
    loop {
        let (_, p) = raw.read_packet().await?;
        if p.first() == Some(&0xFE) && p.len() < 9 {
            break;
        }
        defs.push(p);
    }
    assert_eq!(defs.len(), 3);
    assert_eq!(&defs[0][..8], b"\x03def\x03app");
    let foreign = raw.command(b"\x04mysql.user\0").await?;
    assert!(err_code(&foreign).is_some());
    // COM_STMT_SEND_LONG_DATA in two pieces, then execute.
    let prep = raw.command(b"\x16SELECT CONCAT(?, '!')").await?;
    assert_eq!(prep[0], 0);
    let id = u32::from_le_bytes(prep[1..5].try_into().unwrap());
    for _ in 0..4 {
        raw.read_packet().await?; // one param + EOF, one column + EOF
    }
    for piece in [&b"long "[..], &b"data"[..]] {
        let mut p = vec![0x18];
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        p.extend_from_slice(piece);
        raw.write_packet(0, &p).await?; // no answer
    }
    let mut exec = vec![0x17];
    exec.extend_from_slice(&id.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0]); // flags, iterations
    exec.extend_from_slice(&[0, 1, 253, 0]); // null bitmap, types bound, VAR_STRING
    let count = raw.command(&exec).await?;
    assert_eq!(count, vec![1]);
    raw.read_packet().await?; // column
    raw.read_packet().await?; // EOF
    let (_, row) = raw.read_packet().await?;
    assert_eq!(&row[2..], &b"\x0along data!"[..]);
    let (_, eof) = raw.read_packet().await?;
    assert_eq!(eof[0], 0xFE);
    // COM_STMT_RESET answers OK; COM_STMT_CLOSE has no answer and the id is gone after it.
    let mut reset = vec![0x1A];
    reset.extend_from_slice(&id.to_le_bytes());
    assert_eq!(raw.command(&reset).await?[0], 0);
    let mut close = vec![0x19];
    close.extend_from_slice(&id.to_le_bytes());
    raw.write_packet(0, &close).await?;
    assert_eq!(err_code(&raw.command(&reset).await?), Some(1243));
    drop(raw);
    env.cleanup().await
}

#[tokio::test]
async fn string_parameters_keep_the_clients_types() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    let (mut raw, ok) = RawClient::login(env.addr, &t.user, &t.password, Some("app")).await?;
    assert_eq!(ok[0], 0);
    let prep = raw
        .command(b"\x16SELECT CHARSET(?), CAST(? / 3 AS CHAR)")
        .await?;
    assert_eq!(prep[0], 0);
    let id = u32::from_le_bytes(prep[1..5].try_into().unwrap());
    for _ in 0..6 {
        raw.read_packet().await?; // two params + EOF, two columns + EOF
    }
    // A BLOB is binary, a NEWDECIMAL is exact, as they are on a direct connection; sent as
    // character strings they would be utf8mb4 and 3.3333333333333335.
    let mut exec = vec![0x17];
    exec.extend_from_slice(&id.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0]); // flags, iterations
    exec.extend_from_slice(&[0, 1, 252, 0, 246, 0]); // null bitmap, types bound: BLOB, NEWDECIMAL
    exec.extend_from_slice(b"\x01\xff\x0210");
    let count = raw.command(&exec).await?;
    assert_eq!(count, vec![2]);
    raw.read_packet().await?; // columns
    raw.read_packet().await?;
    raw.read_packet().await?; // EOF
    let (_, row) = raw.read_packet().await?;
    assert_eq!(String::from_utf8_lossy(&row[2..]), "\x06binary\x063.3333");
    let (_, eof) = raw.read_packet().await?;
    assert_eq!(eof[0], 0xFE);
    drop(raw);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_data_is_bounded_across_statements() -> Result<()> {
    let mut env = TestEnv::start_with(|c| c.max_packet_size = 1 << 20).await?;
    let t = env.tenant(ITEMS).await?;
    let (mut raw, ok) = RawClient::login(env.addr, &t.user, &t.password, Some("app")).await?;
    assert_eq!(ok[0], 0);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let prep = raw.command(b"\x16SELECT LENGTH(?)").await?;
        assert_eq!(prep[0], 0);
        ids.push(u32::from_le_bytes(prep[1..5].try_into().unwrap()));
        for _ in 0..4 {
            raw.read_packet().await?; // one param + EOF, one column + EOF
        }
    }
    // 600 KiB for each statement: each fits, together they pass the 1 MiB bound.
    for id in ids {
        let mut p = vec![0x18];
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        p.extend(std::iter::repeat_n(b'x', 600 << 10));
        let _ = raw.write_packet(0, &p).await;
    }
    let (_, reply) = raw.read_packet().await?;
    assert_eq!(err_code(&reply), Some(1153));
    assert!(raw.is_closed().await);
    drop(raw);
    env.cleanup().await
}

/// A client character set the server cannot take (not ASCII-compatible: ucs2, utf16, utf32)
/// is refused at login and in COM_CHANGE_USER with the server's error, 1231; before, the login
/// succeeded and every statement then failed when the character set was applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_character_sets_the_server_refuses_are_refused_at_login() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let t = env.tenant(ITEMS).await?;
    // ucs2_unicode_ci, utf16_general_ci, utf16le_general_ci, utf32_general_ci.
    for collation in [128u8, 54, 56, 60] {
        let mut raw = RawClient::connect(env.addr).await?;
        let mut p = raw.handshake_response(&t.user, &t.password, Some("app"));
        p[8] = collation;
        raw.write_packet(1, &p).await?;
        let (_, reply) = raw.read_packet().await?;
        assert_eq!(err_code(&reply), Some(1231), "collation {collation}");
    }
    // latin1_swedish_ci is fine, and so is the session after it.
    let mut raw = RawClient::connect(env.addr).await?;
    let mut p = raw.handshake_response(&t.user, &t.password, Some("app"));
    p[8] = 8;
    raw.write_packet(1, &p).await?;
    assert_eq!(raw.read_packet().await?.1[0], 0);
    let first = raw.command(b"\x03SELECT 1").await?;
    assert_eq!(first, vec![1], "one column");
    // COM_CHANGE_USER to the same user with ucs2: refused alike.
    let (mut raw, _) = RawClient::login(env.addr, &t.user, &t.password, Some("app")).await?;
    let change = raw.change_user_command(&t.user, &t.password, "app", 128);
    assert_eq!(err_code(&raw.command(&change).await?), Some(1231));
    env.cleanup().await
}
