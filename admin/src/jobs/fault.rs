//! A test-only fault hook for the job runner, so that crash recovery can be proven with a real
//! process kill instead of half-done state built by hand.
//!
//! **Never set it in production.** It is read once, from the environment variable [`ENV_VAR`],
//! when the job queue starts; unset (the normal case) it costs one `OnceLock` read per step.
//! The name deliberately does not start with `OCTODB_`: the configuration loader treats every
//! `OCTODB_*` variable as a setting and refuses unknown ones.
//!
//! Values (`K` is the 1-based position of a step in its job's plan, counting the steps a resumed
//! job skips; for `provision_tenant` with one database: 1 `backend_user`, 2 `database:main`,
//! 3 `ready`):
//! - `after_effect:K`: the process aborts (`std::process::abort`: no cleanup, no unwinding, like
//!   a `kill -9`) right after step K did its work, before its success is recorded;
//! - `after_record:K`: the process aborts right after step K's success is recorded (job step
//!   and audit row), before the next step starts;
//! - `fail:K:N`: step K fails with a retryable error, without doing its work, while the job is on
//!   its first N attempts (a transient failure: the retries then succeed).
//!
//! Every job of every kind run by the process is subject to it.

use std::sync::OnceLock;

use super::JobError;

/// The environment variable holding the fault (see the module documentation).
pub const ENV_VAR: &str = "OCTODBFAULT_JOB_STEP";

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Abort after step `K`'s effect, before its success is recorded.
    AbortAfterEffect(usize),
    /// Abort after step `K`'s success is recorded.
    AbortAfterRecord(usize),
    /// Step `step` fails (retryably) while the job's attempt count is at most `attempts`.
    Fail { step: usize, attempts: u32 },
}

static FAULT: OnceLock<Option<Fault>> = OnceLock::new();

/// Reads [`ENV_VAR`] (once per process: later calls keep the first answer). An unparseable value
/// is an error, so that a typo cannot silently turn the fault off.
pub(crate) fn init() -> Result<(), String> {
    if FAULT.get().is_some() {
        return Ok(());
    }
    let fault = match std::env::var(ENV_VAR) {
        Ok(spec) => Some(parse(&spec).map_err(|e| format!("{ENV_VAR}={spec:?}: {e}"))?),
        Err(std::env::VarError::NotPresent) => None,
        Err(e) => return Err(format!("{ENV_VAR}: {e}")),
    };
    if let Some(fault) = FAULT.get_or_init(|| fault) {
        tracing::warn!(?fault, "test-only job fault hook enabled");
    }
    Ok(())
}

fn get() -> Option<Fault> {
    FAULT.get().copied().flatten()
}

fn parse(spec: &str) -> Result<Fault, String> {
    let position = |k: &str| match k.parse::<usize>() {
        Ok(k) if k >= 1 => Ok(k),
        _ => Err(format!("step position {k:?} is not an integer >= 1")),
    };
    let parts: Vec<&str> = spec.trim().split(':').collect();
    match parts.as_slice() {
        ["after_effect", k] => Ok(Fault::AbortAfterEffect(position(k)?)),
        ["after_record", k] => Ok(Fault::AbortAfterRecord(position(k)?)),
        ["fail", k, n] => Ok(Fault::Fail {
            step: position(k)?,
            attempts: n
                .parse()
                .map_err(|_| format!("attempt count {n:?} is not an integer >= 0"))?,
        }),
        _ => Err("expected after_effect:K, after_record:K or fail:K:N".to_string()),
    }
}

/// The injected failure for step `position` on attempt `attempt`, if any.
pub(crate) fn failure(position: usize, attempt: u32) -> Option<JobError> {
    match get() {
        Some(Fault::Fail { step, attempts }) if step == position && attempt <= attempts => {
            Some(JobError::Fault(format!(
                "injected failure of step {position}, attempt {attempt}"
            )))
        }
        _ => None,
    }
}

/// Where in a step [`abort_if`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    AfterEffect,
    AfterRecord,
}

/// Aborts the process if the fault says so for step `position` of job `job_id` at `point`.
pub(crate) fn abort_if(point: Point, position: usize, job_id: u64) {
    let hit = matches!(
        (get(), point),
        (Some(Fault::AbortAfterEffect(k)), Point::AfterEffect)
            | (Some(Fault::AbortAfterRecord(k)), Point::AfterRecord) if k == position
    );
    if hit {
        // stderr is unbuffered: the line is out before the abort.
        eprintln!("{ENV_VAR}: aborting in job {job_id} at step {position} ({point:?})");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("after_effect:2"), Ok(Fault::AbortAfterEffect(2)));
        assert_eq!(parse("after_record:1"), Ok(Fault::AbortAfterRecord(1)));
        assert_eq!(
            parse("fail:1:2"),
            Ok(Fault::Fail {
                step: 1,
                attempts: 2
            })
        );
        for bad in [
            "",
            "after_effect",
            "after_effect:0",
            "after_effect:x",
            "after_record:-1",
            "fail:1",
            "fail:1:x",
            "abort:1",
            "after_effect:1:2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// The configuration loader must not see it (it refuses unknown `OCTODB_*` variables).
    #[test]
    fn the_config_loader_ignores_it() {
        let loaded = octodb_catalog::config::load_config_from::<crate::AdminConfig>(
            None,
            "OCTODB",
            [(ENV_VAR.to_string(), "after_effect:1".to_string())],
        );
        assert!(loaded.is_ok(), "{loaded:?}");
    }
}
