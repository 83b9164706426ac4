//! `OCTODB_LOG_FORMAT=json`: the real binary writes one JSON object a line, and a session's
//! lines carry its connection id (the session span's fields), so they can be found by a log
//! shipper without parsing text.
//!
//! Needs the MariaDB at `OCTODB_TEST_MYSQL_HOST`/`_PORT` (default 127.0.0.1:3306, root, no
//! password): the proxy keeps its catalog there, in a database of this test's own, dropped at
//! the end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn mysql_host() -> String {
    std::env::var("OCTODB_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn mysql_port() -> u16 {
    std::env::var("OCTODB_TEST_MYSQL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3306)
}

fn root_opts() -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(mysql_host())
        .tcp_port(mysql_port())
        .user(Some(
            std::env::var("OCTODB_TEST_MYSQL_USER").unwrap_or_else(|_| "root".into()),
        ))
        .pass(std::env::var("OCTODB_TEST_MYSQL_PASSWORD").ok())
        .prefer_socket(false)
}

/// The proxy binary, killed (by its own handle) when dropped.
struct Proxy {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proxy {
    fn start(catalog_db: &str, worker_threads: &str) -> Result<Proxy> {
        let password = std::env::var("OCTODB_TEST_MYSQL_PASSWORD").unwrap_or_default();
        let user = std::env::var("OCTODB_TEST_MYSQL_USER").unwrap_or_else(|_| "root".into());
        let auth = if password.is_empty() {
            user
        } else {
            format!("{user}:{password}")
        };
        let url = format!(
            "mysql://{auth}@{}:{}/{catalog_db}?prefer_socket=false",
            mysql_host(),
            mysql_port()
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_octodb-proxy"))
            .args(["--listen", "127.0.0.1:0"])
            .env("OCTODB_LOG_FORMAT", "json")
            .env("OCTODB_WORKER_THREADS", worker_threads)
            .env("RUST_LOG", "info")
            .env("OCTODB_CATALOG__URL", url)
            .env("OCTODB_CATALOG__KEY", "5a".repeat(32))
            .env_remove("OCTODB_CATALOG__KEY_FILE")
            .env_remove("OCTODB_REDIS__URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting octodb-proxy")?;
        let stdout = child.stdout.take().context("the proxy's stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Proxy { child, lines })
    }

    /// The next log line, which must be a JSON object.
    fn next(&self) -> Result<Value> {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .context("no log line from the proxy")?;
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("not a JSON line: {line}"))?;
        if !v.is_object() {
            bail!("not a JSON object: {line}");
        }
        Ok(v)
    }

    /// Reads lines until one whose message is `message`.
    fn find(&self, message: &str) -> Result<Value> {
        loop {
            let v = self.next()?;
            if v["fields"]["message"] == message {
                return Ok(v);
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn json_lines_carry_the_session_id() -> Result<()> {
    sessions_log_with_their_ids("0").await
}

/// The same on the single-thread runtime (`worker_threads = 1`).
#[tokio::test]
async fn a_single_thread_proxy_serves_and_logs_sessions() -> Result<()> {
    sessions_log_with_their_ids("1").await
}

async fn sessions_log_with_their_ids(worker_threads: &str) -> Result<()> {
    let catalog_db = format!("octodb_jsonlogs_{}_{worker_threads}", std::process::id());
    let result = async {
        let proxy = Proxy::start(&catalog_db, worker_threads)?;
        let listening = proxy.find("OctoDB proxy listening")?;
        assert_eq!(listening["level"], "INFO", "{listening}");
        let addr: std::net::SocketAddr = listening["fields"]["addr"]
            .as_str()
            .context("the listening line names its address")?
            .parse()?;

        // Two failed logins: two sessions, each line with its own connection id.
        let mut ids = Vec::new();
        for _ in 0..2 {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname(addr.ip().to_string())
                .tcp_port(addr.port())
                .user(Some("nosuch_jsonlogs"))
                .pass(Some("wrong"))
                .prefer_socket(false);
            let e = mysql_async::Conn::new(opts)
                .await
                .err()
                .context("an unknown user logged in")?;
            match &e {
                mysql_async::Error::Server(se) => assert_eq!(se.code, 1045, "{e}"),
                other => bail!("not refused with an error packet: {other}"),
            }
            let ended = proxy.find("session ended with an error")?;
            let span = &ended["span"];
            assert_eq!(span["name"], "session", "{ended}");
            assert!(span["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("127.0.0.1:")));
            ids.push(span["session_id"].as_u64().context("a session id")?);
        }
        assert_ne!(ids[0], ids[1], "two sessions with one id");
        Ok(())
    }
    .await;
    let mut root = mysql_async::Conn::new(root_opts()).await?;
    root.query_drop(format!("DROP DATABASE IF EXISTS `{catalog_db}`"))
        .await?;
    root.disconnect().await?;
    result
}
