//! Clients behind a load balancer that speaks the PROXY protocol (`proxy_protocol_from`): the
//! client address in the header is the session's, so failed logins from one client do not
//! lock out the others; a trusted peer without a valid header gets no greeting. The balancer is
//! a forwarder in the test that writes a header ahead of each connection's bytes; the clients
//! are real MySQL clients connecting through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use octodb_tests::{TestEnv, TestTenant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A balancer in front of `proxy` that starts every connection with `header`.
async fn balancer(proxy: SocketAddr, header: Vec<u8>) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let header = header.clone();
            tokio::spawn(async move {
                let Ok(mut upstream) = TcpStream::connect(proxy).await else {
                    return;
                };
                if upstream.write_all(&header).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    Ok(addr)
}

fn v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 50000 3306\r\n").into_bytes()
}

/// A version-2 header: PROXY command, or LOCAL (`proxy: false`).
fn v2(client: Ipv4Addr, proxy: bool) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(if proxy { 0x21 } else { 0x20 });
    h.push(0x11);
    h.extend_from_slice(&12u16.to_be_bytes());
    h.extend_from_slice(&client.octets());
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&50000u16.to_be_bytes());
    h.extend_from_slice(&3306u16.to_be_bytes());
    h
}

async fn connect_via(
    via: SocketAddr,
    env: &TestEnv,
    t: &TestTenant,
    password: &str,
) -> Result<Conn, mysql_async::Error> {
    let opts = env
        .opts(t)
        .ip_or_hostname(via.ip().to_string())
        .tcp_port(via.port())
        .pass(Some(password.to_string()));
    Conn::new(Opts::from(opts)).await
}

fn refused(r: Result<Conn, mysql_async::Error>) -> Result<String> {
    match r {
        Err(mysql_async::Error::Server(e)) if e.code == 1045 => Ok(e.message),
        other => bail!("expected 1045, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_count_against_the_address_the_balancer_reports() -> Result<()> {
    TestEnv::run_with(
        |c| {
            c.proxy_protocol_from = vec!["127.0.0.0/8".into()];
            c.limits.auth_failures_per_address = 3;
        },
        |mut env| async move {
            let r = async {
                let t = env.tenant("").await?;
                let first = balancer(env.addr, v1("203.0.113.7")).await?;
                let second = balancer(env.addr, v2(Ipv4Addr::new(203, 0, 113, 8), true)).await?;
                let health = balancer(env.addr, v2(Ipv4Addr::new(203, 0, 113, 9), false)).await?;
                for _ in 0..3 {
                    let m = refused(connect_via(first, &env, &t, "wrong").await)?;
                    ensure!(!m.contains("too many"), "{m}");
                }
                // The first client's address is now blocked, even with the right password...
                let m = refused(connect_via(first, &env, &t, &t.password).await)?;
                ensure!(m.contains("too many failed logins"), "{m}");
                // ...but not the second client's, which comes through the same balancer
                // (version 2 header).
                let mut c = connect_via(second, &env, &t, &t.password).await?;
                let one: Option<i64> = c.query_first("SELECT 1").await?;
                ensure!(one == Some(1));
                c.disconnect().await?;
                // A LOCAL header (a health check) keeps the balancer's own address.
                let mut c = connect_via(health, &env, &t, &t.password).await?;
                c.query_drop("SELECT 1").await?;
                c.disconnect().await?;
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn a_trusted_peer_without_a_header_gets_no_greeting() -> Result<()> {
    TestEnv::run_with(
        |c| c.proxy_protocol_from = vec!["127.0.0.1".into()],
        |env| async move {
            let r = async {
                for junk in [
                    &b"GET / HTTP/1.0\r\n\r\n"[..],
                    b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n",
                ] {
                    let mut s = TcpStream::connect(env.addr).await?;
                    s.write_all(junk).await?;
                    // Closed (with a reset when the rest of the junk was left unread), and
                    // never a greeting.
                    let mut buf = [0u8; 64];
                    let read =
                        tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await?;
                    match read {
                        Ok(0) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                        Ok(n) => bail!("got {n} bytes: {:?}", &buf[..n]),
                        Err(e) => bail!("{e}"),
                    }
                }
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn headers_from_anyone_else_are_not_read() -> Result<()> {
    TestEnv::run_with(
        |c| c.proxy_protocol_from = vec!["10.0.0.0/8".into()],
        |mut env| async move {
            let r = async {
                let t = env.tenant("").await?;
                // A direct client is served as usual.
                let mut c = env.connect(&t).await?;
                c.query_drop("SELECT 1").await?;
                c.disconnect().await?;
                // A header from an address not listed is not a header: it reaches the MySQL
                // handshake as the client's answer and is refused there.
                let via = balancer(env.addr, v1("203.0.113.7")).await?;
                ensure!(connect_via(via, &env, &t, &t.password).await.is_err());
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}
