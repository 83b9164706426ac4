//! Helpers the integration tests share: running external client programs, reading result
//! cells as text, server error codes, and running a test body so that cleanup always happens.

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mysql_async::{Row, Value};
use tokio::io::AsyncWriteExt;

/// The MySQL error code of a server error.
pub fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Rows as text cells (NULL as None).
pub type Cells = Vec<Vec<Option<String>>>;

/// One value as text, NULL as None.
pub fn cell(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        v => Some(v.as_sql(true)),
    }
}

/// Rows as text cells.
pub fn cells(rows: &[Row]) -> Cells {
    rows.iter()
        .map(|r| (0..r.len()).map(|i| r.as_ref(i).and_then(cell)).collect())
        .collect()
}

/// Runs `body` on what `setup` produced in its own task, so that a panic in it still lets
/// `cleanup` run; then re-raises the body's failure, or the setup's, or the cleanup's.
pub async fn guarded<C, F, Fut>(
    setup: Result<C>,
    body: F,
    cleanup: impl Future<Output = Result<()>>,
) -> Result<()>
where
    C: Send + 'static,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let outcome = match setup {
        Ok(ctx) => Ok(tokio::spawn(body(ctx)).await),
        Err(e) => Err(e),
    };
    let cleaned = cleanup.await;
    match outcome {
        Err(setup_error) => return Err(setup_error.context("test setup failed")),
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(r)) => r?,
    }
    cleaned
}

/// What a client process printed and how it ended.
pub struct Output {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Everything the process printed, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "exit status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program` with `args` (and `stdin` piped in, if any), killing it after `limit`.
/// A program missing from PATH is an error that says what to install.
pub async fn run_program(
    program: &str,
    args: &[String],
    stdin: Option<&str>,
    limit: Duration,
) -> Result<Output> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{program}` is not installed or not in PATH; this test needs the real client \
             (deploy/ensure-services.sh installs it)"
        ),
        Err(e) => return Err(e).with_context(|| format!("starting {program}")),
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).await?;
        drop(pipe);
    }
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("{program} did not finish within {limit:?}"))??;
    Ok(Output {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
