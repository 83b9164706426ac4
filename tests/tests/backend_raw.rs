//! The raw backend connection (`octodb_proxy::backend::raw`) against the real MariaDB: login
//! with a password, text and binary results read packet by packet, multi-results, prepared
//! statements, reset, ping and status flags. Each test gets its own database and its own user
//! (with a password), dropped at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use octodb_proxy::backend::raw::{
    classify_row_or_end, BackendError, ColumnDef, ConnectOpts, Phase, RawConn, Response, RowOrEnd,
    STATUS_IN_TRANS, STATUS_MORE_RESULTS,
};
use octodb_proxy::protocol::wire::Cursor;
use octodb_tests::support::guarded;
use octodb_tests::{backend_admin, root_conn};
use rand::Rng;

/// A database and a user with ALL on it, for one test.
#[derive(Clone)]
struct Fixture {
    db: String,
    user: String,
    password: String,
}

impl Fixture {
    fn opts(&self) -> ConnectOpts {
        let a = backend_admin();
        ConnectOpts {
            host: a.host,
            port: a.port,
            user: self.user.clone(),
            password: self.password.clone(),
            found_rows: false,
            max_packet: 64 << 20,
            connect_timeout: Duration::from_secs(10),
        }
    }

    async fn connect(&self) -> Result<RawConn> {
        Ok(RawConn::connect(&self.opts()).await?)
    }
}

/// Runs `body` with a fresh database and user, dropping both afterwards (also on failure).
async fn with_fixture<F, Fut>(body: F) -> Result<()>
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let n: u32 = rand::thread_rng().gen();
    let fx = Fixture {
        db: format!("octodb_raw_{n:08x}"),
        user: format!("octodb_raw_{n:08x}"),
        password: format!("pw-{n:x}-Ä"),
    };
    let setup = async {
        let mut root = root_conn(None).await?;
        root.query_drop(format!("CREATE DATABASE `{}`", fx.db))
            .await?;
        // The password has no quote or backslash: a literal is safe (CREATE USER cannot be
        // prepared).
        root.query_drop(format!(
            "CREATE USER '{}'@'%' IDENTIFIED BY '{}'",
            fx.user, fx.password
        ))
        .await?;
        root.query_drop(format!("GRANT ALL ON `{}`.* TO '{}'@'%'", fx.db, fx.user))
            .await?;
        anyhow::Ok(fx.clone())
    }
    .await;
    let cleanup = async {
        let mut root = root_conn(None).await?;
        root.query_drop(format!("DROP DATABASE IF EXISTS `{}`", fx.db))
            .await?;
        root.query_drop(format!("DROP USER IF EXISTS '{}'@'%'", fx.user))
            .await?;
        anyhow::Ok(())
    };
    guarded(setup, body, cleanup).await
}

/// One result set as read packet by packet: column names, raw rows, the final EOF's status.
struct ResultSet {
    columns: Vec<String>,
    types: Vec<u8>,
    rows: Vec<Vec<u8>>,
    status: u16,
}

/// Reads the rest of a result set whose column count `n` came from `read_response`.
async fn read_set(c: &mut RawConn, n: u64, binary: bool) -> Result<ResultSet> {
    let mut columns = Vec::new();
    let mut types = Vec::new();
    for _ in 0..n {
        let p = c.next_packet().await?;
        let def = ColumnDef::parse(p)?;
        columns.push(String::from_utf8(def.name.to_vec())?);
        types.push(def.column_type as u8);
    }
    let eof = c.next_packet().await?;
    ensure!(
        eof.first() == Some(&0xFE) && eof.len() < 9,
        "EOF after columns"
    );
    ensure!(matches!(c.phase(), Phase::Rows { .. }));
    let mut rows = Vec::new();
    loop {
        let p = c.next_packet().await?;
        match classify_row_or_end(p, binary) {
            RowOrEnd::Row(r) => rows.push(r.to_vec()),
            RowOrEnd::Eof { status, .. } => {
                return Ok(ResultSet {
                    columns,
                    types,
                    rows,
                    status,
                })
            }
            RowOrEnd::Err(e) => return Err(e.into()),
        }
    }
}

/// Runs a text query that returns one result set.
async fn select(c: &mut RawConn, sql: &str) -> Result<ResultSet> {
    c.send_query(sql.as_bytes()).await?;
    match c.read_response().await? {
        Response::Columns(n) => read_set(c, n, false).await,
        other => bail!("expected a result set, got {other:?}"),
    }
}

/// Decodes a text row: each value length-encoded, NULL as 0xFB.
fn text_values(row: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
    let mut c = Cursor::new(row);
    let mut out = Vec::new();
    while c.remaining() > 0 {
        if row[row.len() - c.remaining()] == 0xFB {
            c.u8("null")?;
            out.push(None);
        } else {
            out.push(Some(c.lenenc_bytes("value")?.to_vec()));
        }
    }
    Ok(out)
}

fn text(v: &[u8]) -> Option<Vec<u8>> {
    Some(v.to_vec())
}

fn server_code(e: &BackendError) -> Option<u16> {
    match e {
        BackendError::Server { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn login_with_password_and_wrong_password() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let (major, _, _) = c.server_version();
        ensure!(
            major >= 10,
            "MariaDB version parsed: {:?}",
            c.server_version()
        );
        let other = fx.connect().await?;
        ensure!(c.connection_id() != other.connection_id());
        other.disconnect().await;
        c.ping().await?;
        let who = select(&mut c, "SELECT CURRENT_USER(), @@character_set_client").await?;
        let vals = text_values(&who.rows[0])?;
        ensure!(vals[0] == text(format!("{}@%", fx.user).as_bytes()));
        ensure!(vals[1] == text(b"utf8mb4"));
        c.disconnect().await;

        let mut bad = fx.opts();
        bad.password.push('x');
        let e = RawConn::connect(&bad)
            .await
            .err()
            .context("wrong password accepted")?;
        ensure!(server_code(&e) == Some(1045), "{e:?}");
        ensure!(!e.connection_lost());
        let mut empty = fx.opts();
        empty.password.clear();
        let e = RawConn::connect(&empty)
            .await
            .err()
            .context("no password accepted")?;
        ensure!(server_code(&e) == Some(1045), "{e:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn root_with_empty_password_logs_in() -> Result<()> {
    let a = backend_admin();
    let mut c = RawConn::connect(&ConnectOpts {
        host: a.host,
        port: a.port,
        user: a.user,
        password: a.password,
        found_rows: false,
        max_packet: 16 << 20,
        connect_timeout: Duration::from_secs(10),
    })
    .await?;
    c.ping().await?;
    c.disconnect().await;
    Ok(())
}

#[tokio::test]
async fn a_backend_that_never_greets_is_given_up_on_in_time() -> Result<()> {
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = silent.local_addr()?.port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let started = std::time::Instant::now();
    let e = RawConn::connect(&ConnectOpts {
        host: "127.0.0.1".into(),
        port,
        user: "nobody".into(),
        password: String::new(),
        found_rows: false,
        max_packet: 16 << 20,
        connect_timeout: Duration::from_millis(300),
    })
    .await
    .err()
    .context("a silent backend cannot log anyone in")?;
    let took = started.elapsed();
    ensure!(
        matches!(&e, BackendError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
        "{e:?}"
    );
    ensure!(e.to_string().contains("took longer than 300ms"), "{e}");
    ensure!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    held.abort();
    Ok(())
}

#[tokio::test]
async fn query_drop_insert_ids_and_errors() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let db = &fx.db;
        c.query_drop(&format!(
            "CREATE TABLE `{db}`.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
        ))
        .await?;
        c.query_drop(&format!("INSERT INTO `{db}`.t (id, v) VALUES (41, 0)"))
            .await?;
        let ok = c
            .query_drop(&format!("INSERT INTO `{db}`.t (v) VALUES (1), (2), (3)"))
            .await?;
        ensure!(ok.affected_rows == 3, "{ok:?}");
        ensure!(ok.last_insert_id == 42, "{ok:?}");
        ensure!(
            ok.info.starts_with(b"Records: 3"),
            "{:?}",
            String::from_utf8_lossy(&ok.info)
        );
        let ok = c
            .query_drop(&format!("UPDATE `{db}`.t SET v = 2 WHERE v >= 2"))
            .await?;
        ensure!(
            ok.affected_rows == 1,
            "changed rows without FOUND_ROWS: {ok:?}"
        );
        ensure!(c.last_ok() == Some(&ok));

        let e = c
            .query_drop(&format!("SELECT * FROM `{db}`.missing"))
            .await
            .err()
            .context("missing table")?;
        ensure!(server_code(&e) == Some(1146), "{e:?}");
        ensure!(!e.connection_lost() && !c.is_broken() && c.phase() == Phase::Idle);
        let rs = select(&mut c, &format!("SELECT COUNT(*) FROM `{db}`.t")).await?;
        ensure!(text_values(&rs.rows[0])? == vec![text(b"4")]);

        // FOUND_ROWS: matched rather than changed rows.
        let mut opts = fx.opts();
        opts.found_rows = true;
        let mut f = RawConn::connect(&opts).await?;
        let ok = f
            .query_drop(&format!("UPDATE `{db}`.t SET v = 2 WHERE v >= 2"))
            .await?;
        ensure!(
            ok.affected_rows == 2,
            "matched rows with FOUND_ROWS: {ok:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn streamed_select_with_nulls_and_long_values() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let db = &fx.db;
        c.query_drop(&format!(
            "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, s LONGTEXT NULL, n INT NULL)"
        ))
        .await?;
        let long300 = "x".repeat(300);
        let long70k: String = (0..70_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        c.query_drop(&format!(
            "INSERT INTO `{db}`.t VALUES (1, 'one', 10), (2, NULL, NULL), (3, '', -3), \
             (4, '{long300}', NULL), (5, '{long70k}', 5), (6, 'é€😀', 6)"
        ))
        .await?;
        let rs = select(
            &mut c,
            &format!("SELECT id, s, n FROM `{db}`.t ORDER BY id"),
        )
        .await?;
        ensure!(rs.columns == ["id", "s", "n"]);
        ensure!(rs.types == [0x03, 0xFC, 0x03], "{:?}", rs.types);
        let expected: Vec<Vec<Option<Vec<u8>>>> = vec![
            vec![text(b"1"), text(b"one"), text(b"10")],
            vec![text(b"2"), None, None],
            vec![text(b"3"), text(b""), text(b"-3")],
            vec![text(b"4"), text(long300.as_bytes()), None],
            vec![text(b"5"), text(long70k.as_bytes()), text(b"5")],
            vec![text(b"6"), text("é€😀".as_bytes()), text(b"6")],
        ];
        let got: Vec<_> = rs
            .rows
            .iter()
            .map(|r| text_values(r))
            .collect::<Result<_>>()?;
        ensure!(got == expected, "rows differ");
        ensure!(rs.rows[3][2] == 0xFC, "300 bytes use a 2-byte length");
        ensure!(rs.rows[4][2] == 0xFD, "70,000 bytes use a 3-byte length");
        ensure!(rs.status & STATUS_MORE_RESULTS == 0 && c.phase() == Phase::Idle);
        c.ping().await?;
        Ok(())
    })
    .await
}

/// Rows of 16 MiB - 1 bytes and more come in several chunks. The value is generated by the
/// server (REPEAT), so max_allowed_packet only bounds the value, not our query.
#[tokio::test]
async fn rows_at_and_over_the_16_mib_packet_boundary() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let max = select(&mut c, "SELECT @@max_allowed_packet").await?;
        let max: u64 =
            String::from_utf8(text_values(&max.rows[0])?[0].clone().unwrap_or_default())?
                .parse()?;
        // Value of 16 MiB - 5 bytes: with its 4-byte length the row is exactly 0xFFFFFF bytes,
        // followed on the wire by an empty chunk.
        let exact = 0xFF_FFFF - 4;
        // Over the boundary: two chunks of data, the row's first byte is 0xFE (8-byte length)
        // only from 2^24 bytes on, so use one value of 2^24 bytes when the server allows it.
        let over = 1usize << 24;
        for (n, first) in [(exact, 0xFD), (over, 0xFE)] {
            if n as u64 > max {
                eprintln!(
                    "skipping the {n}-byte value: max_allowed_packet is {max} (the server \
                     returns NULL for a longer REPEAT)"
                );
                continue;
            }
            let rs = select(&mut c, &format!("SELECT REPEAT('q', {n})")).await?;
            ensure!(rs.rows.len() == 1);
            let row = &rs.rows[0];
            ensure!(row[0] == first, "row starts with {:#x}", row[0]);
            let vals = text_values(row)?;
            let v = vals[0].as_ref().context("NULL value")?;
            ensure!(v.len() == n && v.iter().all(|&b| b == b'q'));
            // The connection is in step afterwards.
            let rs = select(&mut c, "SELECT 7").await?;
            ensure!(text_values(&rs.rows[0])? == vec![text(b"7")]);
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn procedure_with_two_result_sets() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let db = &fx.db;
        c.query_drop(&format!(
            "CREATE PROCEDURE `{db}`.two() BEGIN SELECT 1 AS a; SELECT 'x' AS b, NULL AS c; END"
        ))
        .await?;
        c.send_query(format!("CALL `{db}`.two()").as_bytes())
            .await?;
        let Response::Columns(1) = c.read_response().await? else {
            bail!("first result set")
        };
        let first = read_set(&mut c, 1, false).await?;
        ensure!(first.columns == ["a"] && text_values(&first.rows[0])? == vec![text(b"1")]);
        ensure!(first.status & STATUS_MORE_RESULTS != 0);
        ensure!(matches!(c.phase(), Phase::Response { .. }));
        let Response::Columns(2) = c.read_response().await? else {
            bail!("second result set")
        };
        let second = read_set(&mut c, 2, false).await?;
        ensure!(second.columns == ["b", "c"]);
        ensure!(text_values(&second.rows[0])? == vec![text(b"x"), None]);
        ensure!(second.status & STATUS_MORE_RESULTS != 0);
        // The CALL's own OK ends the answer.
        let Response::Ok(ok) = c.read_response().await? else {
            bail!("final OK")
        };
        ensure!(ok.status & STATUS_MORE_RESULTS == 0 && c.phase() == Phase::Idle);
        // query_drop walks all of them too.
        c.query_drop(&format!("CALL `{db}`.two()")).await?;
        ensure!(c.phase() == Phase::Idle);
        c.ping().await?;
        Ok(())
    })
    .await
}

/// One binary row of `SELECT id, s, d, dt`: the DATETIME as its raw binary encoding.
type BinaryRow = (i32, Option<String>, Option<f64>, Option<Vec<u8>>);

/// Decodes the binary row `SELECT id, s, d, dt` (INT, VARCHAR, DOUBLE, DATETIME(6)).
fn binary_values(row: &[u8]) -> Result<BinaryRow> {
    let mut c = Cursor::new(row);
    ensure!(c.u8("header")? == 0);
    let bitmap = c.u8("bitmap")?;
    let null = |i: usize| bitmap & (1 << (i + 2)) != 0;
    ensure!(!null(0));
    let id = c.u32("id")? as i32;
    let s = if null(1) {
        None
    } else {
        Some(String::from_utf8(c.lenenc_bytes("s")?.to_vec())?)
    };
    let d = if null(2) {
        None
    } else {
        Some(f64::from_bits(c.u64("d")?))
    };
    let dt = if null(3) {
        None
    } else {
        let n = c.u8("dt len")?;
        Some(c.bytes(usize::from(n), "dt")?.to_vec())
    };
    ensure!(c.remaining() == 0);
    Ok((id, s, d, dt))
}

#[tokio::test]
async fn prepared_statements_with_binary_rows() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let db = &fx.db;
        c.query_drop(&format!(
            "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, s VARCHAR(50), d DOUBLE, dt DATETIME(6))"
        ))
        .await?;
        let ins = c
            .prepare(&format!("INSERT INTO `{db}`.t VALUES (?, ?, ?, ?)"))
            .await?;
        ensure!(ins.params.len() == 4 && ins.columns.is_empty());
        let rows = [
            vec![
                Value::Int(1),
                Value::Bytes(b"one".to_vec()),
                Value::Double(1.25),
                Value::Date(2024, 2, 29, 13, 14, 15, 123_456),
            ],
            vec![Value::UInt(2), Value::NULL, Value::NULL, Value::NULL],
            vec![
                Value::Int(-3),
                Value::Bytes("drei €".as_bytes().to_vec()),
                Value::Double(-0.5),
                Value::Date(1999, 12, 31, 0, 0, 0, 0),
            ],
        ];
        for params in &rows {
            c.send_execute(ins.id, params, &[]).await?;
            let Response::Ok(ok) = c.read_response().await? else {
                bail!("insert gives OK")
            };
            ensure!(ok.affected_rows == 1);
        }
        let sel = c
            .prepare(&format!(
                "SELECT id, s, d, dt FROM `{db}`.t WHERE id >= ? ORDER BY id"
            ))
            .await?;
        ensure!(sel.params.len() == 1 && sel.columns.len() == 4);
        let names: Vec<Vec<u8>> = (0..4)
            .map(|i| Ok(sel.column_def(i).context("def")??.name.to_vec()))
            .collect::<Result<_>>()?;
        ensure!(names == [b"id".to_vec(), b"s".to_vec(), b"d".to_vec(), b"dt".to_vec()]);
        c.send_execute(sel.id, &[Value::Int(-10)], &[]).await?;
        let Response::Columns(4) = c.read_response().await? else {
            bail!("select gives 4 columns")
        };
        let rs = read_set(&mut c, 4, true).await?;
        let got: Vec<_> = rs
            .rows
            .iter()
            .map(|r| binary_values(r))
            .collect::<Result<_>>()?;
        let dt1 = [0xE8, 0x07, 2, 29, 13, 14, 15, 0x40, 0xE2, 0x01, 0x00];
        let dt3 = [0xCF, 0x07, 12, 31];
        ensure!(
            got == vec![
                (-3, Some("drei €".into()), Some(-0.5), Some(dt3.to_vec())),
                (1, Some("one".into()), Some(1.25), Some(dt1.to_vec())),
                (2, None, None, None),
            ],
            "{got:?}"
        );
        // A text-protocol read sees the same values.
        let rs = select(&mut c, &format!("SELECT dt FROM `{db}`.t WHERE id = 1")).await?;
        ensure!(text_values(&rs.rows[0])? == vec![text(b"2024-02-29 13:14:15.123456")]);

        // A closed statement is gone on the server.
        c.close_statement(sel.id).await?;
        c.send_execute(sel.id, &[Value::Int(0)], &[]).await?;
        let e = c
            .read_response()
            .await
            .err()
            .context("closed statement ran")?;
        ensure!(server_code(&e) == Some(1243), "{e:?}");
        c.send_execute(ins.id, &rows[0], &[]).await?;
        let e = c.read_response().await.err().context("duplicate key")?;
        ensure!(server_code(&e) == Some(1062), "{e:?}");
        let e = c.prepare("SELEKT 1").await.err().context("bad prepare")?;
        ensure!(server_code(&e) == Some(1064), "{e:?}");
        c.ping().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn reset_ping_and_transaction_status() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let db = &fx.db;
        c.query_drop(&format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)"))
            .await?;
        ensure!(!c.in_transaction());
        c.query_drop("BEGIN").await?;
        ensure!(
            c.status() & STATUS_IN_TRANS != 0,
            "status {:#x}",
            c.status()
        );
        c.query_drop(&format!("INSERT INTO `{db}`.t VALUES (1)"))
            .await?;
        let rs = select(&mut c, &format!("SELECT id FROM `{db}`.t")).await?;
        ensure!(rs.status & STATUS_IN_TRANS != 0, "EOF inside a transaction");
        c.query_drop("COMMIT").await?;
        ensure!(!c.in_transaction());

        c.query_drop("SET @x = 5").await?;
        let rs = select(&mut c, "SELECT @x").await?;
        ensure!(text_values(&rs.rows[0])? == vec![text(b"5")]);
        c.query_drop("BEGIN").await?;
        c.reset().await?;
        ensure!(!c.in_transaction(), "reset ends the transaction");
        let rs = select(&mut c, "SELECT @x").await?;
        ensure!(
            text_values(&rs.rows[0])? == vec![None],
            "reset clears user variables"
        );
        c.ping().await?;

        // Commands while an answer is unread are refused (and the connection is given up).
        c.send_query(b"SELECT 1").await?;
        let e = c.ping().await.err().context("ping with an unread answer")?;
        ensure!(e.connection_lost() && c.is_broken());

        // LOAD DATA LOCAL is refused: we never offer CLIENT_LOCAL_FILES.
        let mut c = fx.connect().await?;
        let e = c
            .query_drop(&format!(
                "LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE `{db}`.t"
            ))
            .await
            .err()
            .context("LOCAL INFILE accepted")?;
        ensure!(!e.connection_lost(), "{e:?}");
        c.ping().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn queued_queries_go_out_with_the_next_command() -> Result<()> {
    with_fixture(|fx| async move {
        let mut c = fx.connect().await?;
        let db = &fx.db;
        c.query_drop(&format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)"))
            .await?;
        // A queued BEGIN is answered before the query it went out with.
        c.queue_query(b"BEGIN")?;
        ensure!(c.has_queued() && !c.in_transaction());
        let rs = select(&mut c, "SELECT @@in_transaction").await?;
        ensure!(text_values(&rs.rows[0])? == vec![text(b"1")]);
        ensure!(rs.status & STATUS_IN_TRANS != 0 && !c.has_queued());
        c.query_drop("ROLLBACK").await?;
        // Two queued, then a prepared statement: both ahead of the prepare and the execute.
        c.queue_query(b"SET @a = 1")?;
        c.queue_query(b"BEGIN")?;
        let stmt = c.prepare("SELECT @a + ?").await?;
        c.send_execute(stmt.id, &[Value::Int(2)], &[]).await?;
        match c.read_response().await? {
            Response::Columns(n) => {
                let rs = read_set(&mut c, n, true).await?;
                ensure!(rs.status & STATUS_IN_TRANS != 0, "inside the transaction");
            }
            other => bail!("expected a result set, got {other:?}"),
        }
        c.query_drop("ROLLBACK").await?;
        // A queued query that fails: the command after it ran without it, so the connection
        // is given up rather than trusted.
        c.queue_query(b"SELEC 1")?;
        c.send_query(b"SELECT 1")
            .await
            .err()
            .context("the failed queued query")?;
        ensure!(c.is_broken());
        Ok(())
    })
    .await
}
