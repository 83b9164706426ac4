//! For the crash tests: the real `octodb-admin` binary as a child process (config file in a temp
//! dir, optional test fault), a private `redis-server` on a free port that a test may kill
//! and restart (never the shared one on 6379), and the few HTTP calls the tests make.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use octodb_admin::AdminConfig;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common::{request, suffix};

/// SIGABRT: how `std::process::abort` ends a process.
pub const SIGABRT: i32 = 6;

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A fresh directory under the system temp dir; removed by [`TempDir::remove`].
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("octodb-crash-{}", suffix()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Writes `config` (all but the listen address and the catalog key, which go through the
/// environment) as `admin.toml` in `dir`.
pub fn write_config(dir: &Path, config: &AdminConfig) -> Result<PathBuf> {
    let (b, j, r) = (&config.backend, &config.jobs, &config.redis);
    let mut text = format!(
        "[catalog]\nurl = {}\n\n[backend]\nhost = {}\nport = {}\nadmin_user = {}\n\
         admin_password = {}\n\n[jobs]\nmax_attempts = {}\nbackoff_base_ms = {}\n\
         backoff_max_ms = {}\nconcurrency = {}\n",
        toml_str(&config.catalog.url),
        toml_str(&b.host),
        b.port,
        toml_str(&b.admin_user),
        toml_str(&b.admin_password),
        j.max_attempts,
        j.backoff_base_ms,
        j.backoff_max_ms,
        j.concurrency,
    );
    if let Some(url) = &r.url {
        text.push_str(&format!(
            "\n[redis]\nurl = {}\nstream_prefix = {}\ngroup = {}\nclaim_idle_ms = {}\n\
             block_ms = {}\n",
            toml_str(url),
            toml_str(&r.stream_prefix),
            toml_str(&r.group),
            r.claim_idle_ms,
            r.block_ms,
        ));
    }
    let path = dir.join("admin.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// A running `octodb-admin serve`, killed if dropped.
pub struct AdminProcess {
    pub addr: SocketAddr,
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl AdminProcess {
    /// Starts the binary with `config_file` (and `config`'s catalog key), `fault` in the test
    /// fault variable if given, and waits until `/healthz` answers. `name` names its log file.
    pub async fn start(
        dir: &Path,
        name: &str,
        config_file: &Path,
        config: &AdminConfig,
        fault: Option<&str>,
    ) -> Result<AdminProcess> {
        // A port picked here may be taken before the child binds it: try again then.
        for _ in 0..3 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let log = dir.join(format!("{name}.log"));
            let child = spawn(&log, addr, config_file, config, fault)?;
            let mut p = AdminProcess {
                addr,
                name: name.to_string(),
                child,
                log,
            };
            if p.wait_healthy().await? {
                return Ok(p);
            }
        }
        bail!("admin process {name} did not start")
    }

    /// Whether it answers `/healthz` (false: it exited on a taken port; any other exit fails).
    async fn wait_healthy(&mut self) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let log = self.log_tail();
                if log.contains("binding") {
                    return Ok(false);
                }
                bail!("admin process {} exited ({status}):\n{log}", self.name);
            }
            if let Ok(r) = request(self.addr, "GET", "/healthz", None, None).await {
                if r.status == 200 {
                    return Ok(true);
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!(
            "admin process {} never answered:\n{}",
            self.name,
            self.log_tail()
        )
    }

    /// Waits for the process to exit on its own; its exit status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => bail!(
                "admin process {} still running after {timeout:?}:\n{}",
                self.name,
                self.log_tail()
            ),
        }
    }

    /// Waits for the process to die of the test fault (SIGABRT).
    pub async fn wait_abort(&mut self) -> Result<()> {
        let status = self.wait_exit(Duration::from_secs(30)).await?;
        if status.signal() != Some(SIGABRT) {
            bail!(
                "admin process {} ended with {status}, not SIGABRT:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) -> Result<()> {
        let pid = self.child.id().context("already exited")?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        let status = self.wait_exit(Duration::from_secs(20)).await?;
        if !status.success() {
            bail!(
                "admin process {} ended with {status}:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last lines of its log (stderr).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn spawn(
    log: &Path,
    addr: SocketAddr,
    config_file: &Path,
    config: &AdminConfig,
    fault: Option<&str>,
) -> Result<Child> {
    let log_file = std::fs::File::create(log)?;
    // Through sh to switch core dumps off: the fault aborts the process.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -c 0; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_octodb-admin"))
        .arg("--config")
        .arg(config_file)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .kill_on_drop(true);
    // The loader refuses unknown OCTODB_* variables (the tests' own settings among them).
    for (var, _) in std::env::vars() {
        if var.starts_with("OCTODB_") || var == octodb_admin::jobs::FAULT_ENV_VAR {
            cmd.env_remove(var);
        }
    }
    cmd.env("OCTODB_LISTEN", addr.to_string())
        .env("RUST_LOG", "info")
        .env(
            "OCTODB_CATALOG__KEY",
            config
                .catalog
                .key
                .as_deref()
                .context("the test config has a catalog key")?,
        );
    if let Some(fault) = fault {
        cmd.env(octodb_admin::jobs::FAULT_ENV_VAR, fault);
    }
    Ok(cmd.spawn()?)
}

/// A private `redis-server` (no persistence) on its own port, killed if dropped.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start(dir: &Path) -> Result<PrivateRedis> {
        let mut redis = PrivateRedis {
            port: free_port()?,
            dir: dir.to_path_buf(),
            child: None,
        };
        redis.launch().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn conn(&self) -> Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        Ok(client.get_multiplexed_async_connection().await?)
    }

    async fn launch(&mut self) -> Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut conn) = self.conn().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("redis-server on port {} never answered", self.port)
    }

    /// SIGKILL (it keeps nothing: no persistence).
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Kills it and starts a fresh, empty one on the same port.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill().await?;
        self.launch().await
    }
}

/// A tenant being provisioned.
pub struct Provisioning {
    pub name: String,
    pub tenant_id: u64,
    pub job_id: u64,
}

/// `POST /v1/tenants`.
pub async fn create_tenant(addr: SocketAddr, key: &str, name: String) -> Result<Provisioning> {
    let body = format!(r#"{{"name":"{name}"}}"#);
    let r = request(addr, "POST", "/v1/tenants", Some(key), Some(&body)).await?;
    ensure!(r.status == 202, "{r:?}");
    let created = r.json()?;
    Ok(Provisioning {
        name,
        tenant_id: created["id"].as_u64().context("id")?,
        job_id: created["job_id"].as_u64().context("job_id")?,
    })
}

pub async fn get_json(addr: SocketAddr, key: &str, path: &str) -> Result<Value> {
    let r = request(addr, "GET", path, Some(key), None).await?;
    ensure!(r.status == 200, "GET {path}: {r:?}");
    r.json()
}

/// Polls `GET /v1/jobs/{id}` until the job is finished.
pub async fn wait_job(addr: SocketAddr, key: &str, job_id: u64) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let job = get_json(addr, key, &format!("/v1/jobs/{job_id}")).await?;
        if job["status"] == "succeeded" || job["status"] == "failed" {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("job {job_id} did not finish")
}
