//! [`RawConn`] against a scripted fake server on a local TCP port: the paths the real server
//! does not take on request (LOCAL INFILE, an ERR among the rows, malformed answers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mysql_common::constants::{ColumnFlags, ColumnType};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::frame::Framed;
use super::*;
use crate::protocol::wire::err_packet;

/// One command the fake server expects (None: any) and the packets it answers with. An
/// expected empty packet continues the exchange (the LOCAL INFILE answer) rather than starting
/// a command.
type Step = (Option<Vec<u8>>, Vec<Vec<u8>>);

const OK: [u8; 7] = [0, 0, 0, 2, 0, 0, 0];

fn greeting() -> Vec<u8> {
    let mut g = vec![10];
    g.extend_from_slice(b"5.5.5-10.11.2-MariaDB\0");
    g.extend_from_slice(&9u32.to_le_bytes());
    g.extend_from_slice(b"12345678\0");
    let caps: u32 = 0x00FF_FFFF;
    g.extend_from_slice(&(caps as u16).to_le_bytes());
    g.push(45);
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0; 10]);
    g.extend_from_slice(b"abcdefghijkl\0mysql_native_password\0");
    g
}

/// Listens on a local port; returns the listener and options that connect to it.
async fn listen() -> (TcpListener, ConnectOpts) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = ConnectOpts {
        host: "127.0.0.1".into(),
        port: listener.local_addr().unwrap().port(),
        user: "u".into(),
        password: String::new(),
        found_rows: false,
        max_packet: 1 << 20,
        connect_timeout: Duration::from_secs(5),
    };
    (listener, opts)
}

/// Accepts one connection and logs its client in (any credentials).
async fn accept_login(listener: TcpListener) -> Framed<tokio::net::TcpStream> {
    let (stream, _) = listener.accept().await.unwrap();
    let mut io = Framed::new(stream, 1 << 20);
    io.push_packet(&greeting());
    io.flush().await.unwrap();
    io.read_packet().await.unwrap();
    io.push_packet(&OK);
    io.flush().await.unwrap();
    io
}

/// Starts a fake server that logs the client in, then plays `script`.
async fn fake(script: Vec<Step>) -> (ConnectOpts, JoinHandle<()>) {
    let (listener, opts) = listen().await;
    let server = tokio::spawn(async move {
        let mut io = accept_login(listener).await;
        for (expect, answers) in script {
            if expect.as_ref().is_none_or(|e| !e.is_empty()) {
                io.reset_seq();
            }
            if io.read_packet().await.is_err() {
                return;
            }
            if let Some(e) = expect {
                assert_eq!(io.payload(), e.as_slice());
            }
            for a in answers {
                io.push_packet(&a);
            }
            io.flush().await.unwrap();
        }
    });
    (opts, server)
}

fn query(sql: &[u8]) -> Option<Vec<u8>> {
    let mut q = vec![COM_QUERY];
    q.extend_from_slice(sql);
    Some(q)
}

fn column(name: &[u8]) -> Vec<u8> {
    let def = ColumnDef {
        catalog: b"def",
        schema: b"",
        table: b"",
        org_table: b"",
        name,
        org_name: b"",
        charset: 45,
        length: 10,
        column_type: ColumnType::MYSQL_TYPE_VAR_STRING,
        flags: ColumnFlags::empty(),
        decimals: 0,
    };
    let mut b = Vec::new();
    write_column_def(&mut b, &def, None, None);
    b
}

const EOF: [u8; 5] = [0xFE, 0, 0, 2, 0];

#[tokio::test]
async fn greeting_values_and_local_infile_refusal() {
    let mut infile = vec![0xFB];
    infile.extend_from_slice(b"/etc/passwd");
    let (opts, server) = fake(vec![
        (query(b"LOAD DATA LOCAL INFILE"), vec![infile]),
        (Some(Vec::new()), vec![vec![0, 0, 0, 2, 0, 1, 0]]),
        (Some(vec![COM_PING]), vec![OK.to_vec()]),
    ])
    .await;
    let mut c = RawConn::connect(&opts).await.unwrap();
    assert_eq!(c.server_version(), (10, 11, 2));
    assert_eq!(c.connection_id(), 9);
    c.send_query(b"LOAD DATA LOCAL INFILE").await.unwrap();
    assert_eq!(c.read_response().await.unwrap(), Response::LocalInfile);
    assert_eq!(c.phase(), Phase::Idle);
    assert_eq!(c.last_ok().map(|o| o.warnings), Some(1));
    c.ping().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn err_among_rows_ends_the_answer_but_not_the_connection() {
    let mut err = Vec::new();
    err_packet(&mut err, 1317, "70100", "interrupted");
    let (opts, server) = fake(vec![
        (
            query(b"SELECT"),
            vec![vec![1], column(b"a"), EOF.to_vec(), vec![1, b'x'], err],
        ),
        (Some(vec![COM_PING]), vec![OK.to_vec()]),
    ])
    .await;
    let mut c = RawConn::connect(&opts).await.unwrap();
    c.send_query(b"SELECT").await.unwrap();
    assert_eq!(c.read_response().await.unwrap(), Response::Columns(1));
    assert_eq!(
        ColumnDef::parse(c.next_packet().await.unwrap())
            .unwrap()
            .name,
        b"a"
    );
    assert!(is_eof(c.next_packet().await.unwrap()));
    assert_eq!(c.next_packet().await.unwrap(), &[1, b'x']);
    let e = c.next_packet().await.unwrap_err();
    assert!(matches!(e, BackendError::Server { code: 1317, .. }));
    assert_eq!(c.phase(), Phase::Idle);
    assert!(!c.is_broken());
    c.ping().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn malformed_answers_are_protocol_errors_and_break_the_connection() {
    let cases: Vec<Vec<Vec<u8>>> = vec![
        vec![vec![]],                                  // empty packet
        vec![EOF.to_vec()],                            // EOF where a result starts
        vec![vec![0x00, 0xFC]],                        // truncated OK
        vec![vec![0xFF, 1]],                           // truncated ERR
        vec![vec![0xFF]],                              // column count 0xFF
        vec![vec![2], column(b"a"), EOF.to_vec()],     // EOF among column definitions
        vec![vec![1], column(b"a"), vec![1, b'x']],    // a row where the EOF belongs
        vec![vec![1], column(b"a"), vec![0xFE, 0, 0]], // truncated EOF
    ];
    for (i, answers) in cases.into_iter().enumerate() {
        let (opts, server) = fake(vec![(query(b"Q"), answers)]).await;
        let mut c = RawConn::connect(&opts).await.unwrap();
        c.send_query(b"Q").await.unwrap();
        let e = match c.read_response().await {
            Err(e) => e,
            Ok(Response::Columns(_)) => loop {
                match c.next_packet().await {
                    Ok(_) => {}
                    Err(e) => break e,
                }
            },
            Ok(other) => panic!("case {i}: {other:?}"),
        };
        assert!(matches!(e, BackendError::Protocol(_)), "case {i}: {e:?}");
        assert!(c.is_broken(), "case {i}");
        assert!(matches!(c.ping().await, Err(BackendError::Protocol(_))));
        drop(c);
        server.await.unwrap();
    }
}

#[tokio::test]
async fn binary_row_without_header_is_a_protocol_error() {
    let (opts, server) = fake(vec![(
        None,
        vec![vec![1], column(b"a"), EOF.to_vec(), vec![1, b'x']],
    )])
    .await;
    let mut c = RawConn::connect(&opts).await.unwrap();
    c.send_execute(1, &[], &[]).await.unwrap();
    assert_eq!(c.read_response().await.unwrap(), Response::Columns(1));
    c.next_packet().await.unwrap();
    c.next_packet().await.unwrap();
    assert!(matches!(
        c.next_packet().await,
        Err(BackendError::Protocol(_))
    ));
    assert!(c.is_broken());
    server.await.unwrap();
}

#[tokio::test]
async fn connect_timeout_and_refused() {
    // A listener that never answers the greeting.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = ConnectOpts {
        host: "127.0.0.1".into(),
        port,
        user: "u".into(),
        password: String::new(),
        found_rows: false,
        max_packet: 1 << 20,
        connect_timeout: Duration::from_millis(200),
    };
    let e = RawConn::connect(&opts).await.err().unwrap();
    assert!(matches!(e, BackendError::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut));
    drop(listener);
    let e = RawConn::connect(&opts).await.err().unwrap();
    assert!(e.connection_lost());
}

/// Rows already received are handed out as whole packets, up to what ends them; the rest of
/// the answer is read as usual, and an ERR after such a run still ends it.
#[tokio::test]
async fn buffered_rows_stop_at_what_ends_them() {
    let mut err = Vec::new();
    err_packet(&mut err, 1317, "70100", "interrupted");
    // A text row may start with 0xFE when its first value is long: still a row.
    let mut long = vec![0xFE];
    long.extend_from_slice(&9u64.to_le_bytes());
    long.extend_from_slice(b"123456789");
    let (opts, server) = fake(vec![
        (
            query(b"SELECT"),
            vec![
                vec![1],
                column(b"a"),
                EOF.to_vec(),
                vec![1, b'x'],
                long.clone(),
                vec![1, b'y'],
                EOF.to_vec(),
            ],
        ),
        (
            query(b"SELECT 2"),
            vec![vec![1], column(b"a"), EOF.to_vec(), vec![1, b'z'], err],
        ),
    ])
    .await;
    let mut c = RawConn::connect(&opts).await.unwrap();
    c.send_query(b"SELECT").await.unwrap();
    assert_eq!(c.read_response().await.unwrap(), Response::Columns(1));
    // Nothing is handed out before the rows start.
    assert_eq!(c.buffered_rows().unwrap().1, 0);
    c.next_packet().await.unwrap();
    assert!(is_eof(c.next_packet().await.unwrap()));
    let (packets, n) = c.buffered_rows().unwrap();
    assert_eq!(n, 3);
    let mut want = vec![2, 0, 0, 4, 1, b'x'];
    want.extend_from_slice(&[u8::try_from(long.len()).unwrap(), 0, 0, 5]);
    want.extend_from_slice(&long);
    want.extend_from_slice(&[2, 0, 0, 6, 1, b'y']);
    assert_eq!(packets, want.as_slice());
    assert_eq!(c.buffered_rows().unwrap().1, 0);
    assert!(is_eof(c.next_packet().await.unwrap()));
    c.drain().await.unwrap();
    assert_eq!(c.phase(), Phase::Idle);
    assert_eq!(c.buffered_rows().unwrap().1, 0);

    c.send_query(b"SELECT 2").await.unwrap();
    assert_eq!(c.read_response().await.unwrap(), Response::Columns(1));
    c.next_packet().await.unwrap();
    c.next_packet().await.unwrap();
    assert_eq!(c.buffered_rows().unwrap().1, 1);
    let e = c.next_packet().await.unwrap_err();
    assert!(matches!(e, BackendError::Server { code: 1317, .. }));
    assert!(!c.is_broken());
    server.await.unwrap();
}

#[tokio::test]
async fn bytes_after_an_answer_break_the_connection() {
    let (listener, opts) = listen().await;
    let server = tokio::spawn(async move {
        let mut io = accept_login(listener).await;
        io.reset_seq();
        io.read_packet().await.unwrap();
        // A complete answer, then three bytes that start no packet anyone asked for.
        io.push_packet(&OK);
        io.wbuf().extend_from_slice(&[7, 0, 0]);
        io.flush().await.unwrap();
        // Whatever comes next is never answered: a connection that read past the stray
        // bytes would wait here for ever.
        let _ = io.read_packet().await;
    });
    let mut c = RawConn::connect(&opts).await.unwrap();
    c.send_query(b"DO 1").await.unwrap();
    assert!(matches!(c.read_response().await, Ok(Response::Ok(_))));
    // The stray bytes arrived with the answer; the next command finds them.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = tokio::time::timeout(Duration::from_secs(5), c.ping())
        .await
        .expect("the ping waits for an answer that never comes")
        .unwrap_err();
    assert!(matches!(e, BackendError::Protocol(_)), "{e:?}");
    assert!(c.is_broken());
    drop(c);
    server.await.unwrap();
}
