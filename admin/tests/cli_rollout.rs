//! The operator CLI against an in-process admin on the real MariaDB: `octodb-admin rollout
//! start` (the real binary) rolls a template version out in two waves and follows it to the end
//! in plain lines (stdout is a pipe here), with each wave's counts reaching its total, exit 0;
//! `rollout plan` gates on lint (exit 2 until the destructive change is allowed); a rollout that
//! stops on a failure exits 2; `rollout watch` takes the key from `OCTODBADMIN_KEY`; a bad key
//! exits 1 with the server's answer.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Context, Result};
use common::{Fixture, Server};
use serde_json::json;

const BASE_V1: &str =
    "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, qty INT NULL)";
/// Drops `qty`: refused unless `drop_column` is allowed.
const BASE_V2: &str = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL)";

/// Output of one run of the CLI.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `octodb-admin rollout <args>` against `server`, with `key` in `--key` or, when
/// `key_env`, in `OCTODBADMIN_KEY`. No `OCTODB_*` variable reaches it.
async fn cli(server: &Server, key: &str, key_env: bool, args: &[&str]) -> Result<Run> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_octodb-admin"));
    cmd.arg("rollout")
        .args(args)
        .arg("--url")
        .arg(format!("http://{}", server.addr));
    for (k, _) in std::env::vars() {
        if k.starts_with("OCTODB") {
            cmd.env_remove(k);
        }
    }
    if key_env {
        cmd.env("OCTODBADMIN_KEY", key);
    } else {
        cmd.arg("--key").arg(key);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .context("the CLI did not finish within 60 s")??;
    Ok(Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The last line of `out` that starts with `prefix`.
fn last_line<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
    out.lines().rev().find(|l| l.starts_with(prefix))
}

#[tokio::test]
async fn rollout_cli_shows_progress_and_exits_with_the_outcome() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let mut tenants = Vec::new();
            for prefix in ["clia", "clib"] {
                let name = fx.tenant_name(prefix);
                tenants.push(server.ready_tenant(&op, &name).await?);
            }
            let call = |method: &'static str, path: String, body: serde_json::Value| {
                let (server, op) = (&server, op.clone());
                async move {
                    server
                        .call(method, &path, Some(&op), Some(&body.to_string()))
                        .await
                }
            };
            let r = call("POST", "/v1/templates".into(), json!({ "name": "base" })).await?;
            ensure!(r.status == 201, "{r:?}");
            let base = r.json()?["id"].as_u64().context("id")?;
            let versions = format!("/v1/templates/{base}/versions");
            let r = call("POST", versions.clone(), json!({ "schema": BASE_V1 })).await?;
            ensure!(r.status == 201, "{r:?}");
            for t in &tenants {
                let path = format!("/v1/tenants/{t}/databases/main/template");
                let r = call(
                    "PUT",
                    path,
                    json!({ "template": "base", "channel": "auto" }),
                )
                .await?;
                ensure!(r.status == 200, "{r:?}");
            }

            // v1 to both: a canary of one, then a batch of one; watched to the end.
            let run = cli(
                &server,
                &op,
                false,
                &[
                    "start",
                    "--template",
                    "base",
                    "--version",
                    "1",
                    "--canary",
                    "1",
                    "--batch",
                    "1",
                ],
            )
            .await?;
            ensure!(
                run.code == Some(0),
                "exit {:?}\n{}\n{}",
                run.code,
                run.stdout,
                run.stderr
            );
            let started = last_line(&run.stdout, "rollout ").context("no rollout line")?;
            ensure!(
                run.stdout
                    .contains("2 databases to migrate, 0 already there"),
                "{}",
                run.stdout
            );
            let canary = last_line(&run.stdout, "wave 0 (canary):").context("no canary line")?;
            ensure!(
                canary.starts_with(
                    "wave 0 (canary): 1/1 finished (done 1, failed 0, restored 0, conflict 0"
                ),
                "{canary}"
            );
            let batch = last_line(&run.stdout, "wave 1:").context("no wave 1 line")?;
            ensure!(
                batch.starts_with("wave 1: 1/1 finished (done 1, failed 0, restored 0, conflict 0"),
                "{batch}"
            );
            ensure!(
                run.stdout
                    .contains("completed: done 2, failed 0, restored 0, conflict 0"),
                "{}",
                run.stdout
            );
            ensure!(
                run.stdout.trim_end().ends_with("rollout succeeded"),
                "{started}\n{}",
                run.stdout
            );
            // Lines, not bars: no carriage returns or escape sequences on a pipe.
            ensure!(
                !run.stdout.contains('\r') && !run.stdout.contains('\u{1b}'),
                "{:?}",
                run.stdout
            );
            let id: u64 = run
                .stdout
                .lines()
                .find_map(|l| {
                    l.strip_prefix("rollout ")?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
                .context("rollout id")?;

            // Watching a finished rollout (key from the environment) shows its final counts.
            let watched = cli(&server, &op, true, &["watch", &id.to_string()]).await?;
            ensure!(
                watched.code == Some(0),
                "{}\n{}",
                watched.stdout,
                watched.stderr
            );
            ensure!(
                watched.stdout.contains(&format!("rollout {id}: completed")),
                "{}",
                watched.stdout
            );
            ensure!(
                watched.stdout.contains("wave 1: 1/1 finished (done 1"),
                "{}",
                watched.stdout
            );

            // v2 drops a column: the plan is not clean until it is allowed.
            let r = call("POST", versions, json!({ "schema": BASE_V2 })).await?;
            ensure!(r.status == 201, "{r:?}");
            let plan = cli(
                &server,
                &op,
                false,
                &["plan", "--template", "base", "--version", "2"],
            )
            .await?;
            ensure!(plan.code == Some(2), "{}\n{}", plan.stdout, plan.stderr);
            ensure!(
                plan.stdout.contains(": refused") && plan.stdout.contains("NOT clean"),
                "{}",
                plan.stdout
            );
            let allowed = cli(
                &server,
                &op,
                false,
                &[
                    "plan",
                    "--template",
                    &base.to_string(),
                    "--version",
                    "2",
                    "--allow",
                    "drop_column",
                ],
            )
            .await?;
            ensure!(
                allowed.code == Some(0),
                "{}\n{}",
                allowed.stdout,
                allowed.stderr
            );
            ensure!(
                allowed.stdout.contains("DROP COLUMN `qty`"),
                "{}",
                allowed.stdout
            );

            // Rolled out without the allow: the canary fails, the rollout stops, exit 2.
            let stopped = cli(
                &server,
                &op,
                false,
                &[
                    "start",
                    "--template",
                    "base",
                    "--version",
                    "2",
                    "--batch",
                    "1",
                ],
            )
            .await?;
            ensure!(
                stopped.code == Some(2),
                "exit {:?}\n{}\n{}",
                stopped.code,
                stopped.stdout,
                stopped.stderr
            );
            let canary = last_line(&stopped.stdout, "wave 0 (canary):").context("canary")?;
            ensure!(
                canary.starts_with("wave 0 (canary): 1/1 finished (done 0, failed 1"),
                "{canary}"
            );
            ensure!(
                stopped.stdout.contains("stopped: done 0, failed 1"),
                "{}",
                stopped.stdout
            );
            ensure!(
                stopped
                    .stdout
                    .trim_end()
                    .ends_with("rollout did not succeed"),
                "{}",
                stopped.stdout
            );

            // A wrong key: exit 1, the server's answer on stderr.
            let denied = cli(&server, "not-a-key", false, &["watch", &id.to_string()]).await?;
            ensure!(
                denied.code == Some(1),
                "{}\n{}",
                denied.stdout,
                denied.stderr
            );
            ensure!(denied.stderr.contains("401"), "{}", denied.stderr);
            let missing = cli(&server, &op, false, &["watch", "999999"]).await?;
            ensure!(
                missing.code == Some(1) && missing.stderr.contains("404"),
                "{}",
                missing.stderr
            );
            server.stop().await
        })
        .await
}
