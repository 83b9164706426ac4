//! `octodb-admin rollout watch <id>`: follows a rollout through the admin API until it ends,
//! showing each wave's progress ([`super::rollout_progress`]), then a summary with the
//! databases that did not make it and why.
//!
//! The rollout succeeded when it `completed` and every database is `done` (or was `skipped`,
//! already at the target). Anything else (stopped by the failure threshold, cancelled, or
//! completed with failures, restores or conflicts under the threshold) is not a success: the
//! caller's exit code says so. A rollout has ended when it is `completed`, `stopped` or
//! `cancelled` and none of its databases is still running. Connection trouble (an admin
//! restarting) is waited out for a while: the rollout itself resumes on the admin's side.

use std::time::Duration;

use serde_json::Value;

use super::api_client::{ApiClient, ClientError};
use super::rollout_progress::{waves, Progress};

/// How often the rollout is read.
const POLL: Duration = Duration::from_millis(500);
/// Consecutive failed reads tolerated (about a minute).
const MAX_FAILED_POLLS: u32 = 120;

/// How a watched rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub status: String,
    pub succeeded: bool,
}

fn status_line(id: u64, r: &Value) -> String {
    let status = r["status"].as_str().unwrap_or("unknown");
    let mut line = format!("rollout {id}: {status}, wave {}", r["wave"]);
    if let Some(e) = r["error"].as_str() {
        line.push_str(&format!(" ({e})"));
    }
    line
}

fn has_ended(r: &Value) -> bool {
    let status = r["status"].as_str().unwrap_or_default();
    let running = waves(r).iter().map(|w| w.running).sum::<u64>();
    matches!(status, "completed" | "stopped" | "cancelled") && running == 0
}

/// Watches rollout `id` with `progress` until it ends.
pub async fn run(
    client: &ApiClient,
    id: u64,
    mut progress: Progress,
) -> Result<Ended, ClientError> {
    let path = format!("/v1/rollouts/{id}");
    let mut failures = 0;
    let r = loop {
        let r = match client.get(&path).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() && failures < MAX_FAILED_POLLS => {
                failures += 1;
                if failures == 1 {
                    eprintln!("octodb-admin: {e}; retrying");
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        failures = 0;
        progress.update(&status_line(id, &r), &waves(&r));
        if has_ended(&r) {
            break r;
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish();
    Ok(summarise(id, &r))
}

/// Prints the outcome and the databases that did not reach the target.
fn summarise(id: u64, r: &Value) -> Ended {
    let status = r["status"].as_str().unwrap_or("unknown").to_string();
    let all = waves(r);
    let sum = |f: fn(&super::rollout_progress::WaveCounts) -> u64| all.iter().map(f).sum::<u64>();
    let (done, failed, restored, conflict, skipped, cancelled) = (
        sum(|w| w.done),
        sum(|w| w.failed),
        sum(|w| w.restored),
        sum(|w| w.conflict),
        sum(|w| w.skipped),
        sum(|w| w.cancelled),
    );
    let succeeded = status == "completed" && failed + restored + conflict + cancelled == 0;
    println!(
        "rollout {id} {status}: done {done}, failed {failed}, restored {restored}, \
         conflict {conflict}, skipped {skipped}, cancelled {cancelled}"
    );
    for d in r["databases"].as_array().into_iter().flatten() {
        let s = d["status"].as_str().unwrap_or_default();
        if matches!(s, "failed" | "restored" | "conflict") {
            println!(
                "  tenant {} database id {}: {s}: {}",
                d["tenant_id"],
                d["database_id"],
                d["error"].as_str().unwrap_or("no reason recorded")
            );
        }
    }
    println!(
        "{}",
        if succeeded {
            "rollout succeeded"
        } else {
            "rollout did not succeed"
        }
    );
    Ended { status, succeeded }
}
