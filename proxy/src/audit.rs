//! Proxy events in the catalog's audit log: failed logins (`proxy.auth_failed`) and statements
//! the policy refused (`proxy.refused`), sampled so that a flood cannot fill the table.
//!
//! - Sampling: at most `[audit] max_per_window` entries per key and action in each window of
//!   `window_secs` (a window starts at its key's first event). The key is the tenant when it is
//!   known, else the user name the client gave; at most [`MAX_USER_KEYS`] user names have their
//!   own key at a time, the rest share one, so random names cannot multiply the budget. When a
//!   window with suppressed events ends (or the proxy stops), one more entry says how many.
//! - Off the connection path: a session only takes a short lock and a `try_send` into a bounded
//!   queue; a background task writes. A full queue drops the entry and counts it
//!   (`octodb_proxy_audit_dropped_total`); so does a failed write.
//! - Redacted: no password, no SQL text. The detail column reads
//!   `proxy <code> <reason>[ <KEYWORD>]`, where
//!   the reason is a fixed tag and the keyword the refused statement's first word (`DROP`,
//!   `GRANT`...); a summary reads `proxy suppressed=<n>`. The actor is empty (not an API key),
//!   the outcome `failure`, the target the user name the client gave.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octodb_catalog::{Catalog, NewAudit, OUTCOME_FAILURE};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::AuditConfig;
use crate::metrics;

/// Audit action of a failed login (unknown user, wrong password, tenant not ready, foreign
/// database asked for at login).
pub const ACTION_AUTH_FAILED: &str = "proxy.auth_failed";
/// Audit action of a statement the policy refused.
pub const ACTION_REFUSED: &str = "proxy.refused";
/// User names with a sampling key of their own at a time (tenants are bounded by the catalog).
pub const MAX_USER_KEYS: usize = 64;
/// Longest target written (the column holds 255 characters).
const MAX_TARGET_CHARS: usize = 255;
/// Longest detail written (kept short; the `detail` column holds 255 characters).
const MAX_DETAIL_CHARS: usize = 64;
/// Longest statement keyword kept.
const MAX_KEYWORD_CHARS: usize = 16;
/// How often the writer looks for ended windows to summarise.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    AuthFailed,
    Refused,
}

impl Kind {
    pub fn action(self) -> &'static str {
        match self {
            Kind::AuthFailed => ACTION_AUTH_FAILED,
            Kind::Refused => ACTION_REFUSED,
        }
    }
}

/// One event to audit. Holds no password and no SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEvent {
    pub kind: Kind,
    pub tenant_id: Option<u64>,
    /// The user name the client gave.
    pub user: String,
    /// `proxy <code> <reason>...`, at most 64 characters.
    pub detail: String,
}

impl ProxyEvent {
    /// A failed login; `reason` is a fixed tag (`bad_password`, `unknown_user`...).
    pub fn auth_failed(tenant_id: Option<u64>, user: &str, code: u16, reason: &str) -> Self {
        ProxyEvent {
            kind: Kind::AuthFailed,
            tenant_id,
            user: clip(user, MAX_TARGET_CHARS),
            detail: clip(&format!("proxy {code} {reason}"), MAX_DETAIL_CHARS),
        }
    }

    /// A refused statement: its error code, and the statement's first keyword (not its text).
    pub fn refused(tenant_id: u64, user: &str, code: u16, sql: &str) -> Self {
        let reason = match code {
            1227 => "not_allowed",
            1044 => "foreign_database",
            1064 => "syntax",
            1046 => "no_database",
            _ => "refused",
        };
        ProxyEvent {
            kind: Kind::Refused,
            tenant_id: Some(tenant_id),
            user: clip(user, MAX_TARGET_CHARS),
            detail: clip(
                &format!("proxy {code} {reason} {}", keyword(sql)),
                MAX_DETAIL_CHARS,
            ),
        }
    }
}

/// The first keyword of a statement, upper-cased, after comments; `?` if there is none.
/// Only ASCII letters and `_`, so nothing else of the statement leaks.
pub fn keyword(sql: &str) -> String {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else if rest.starts_with("--") || rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let word: String = rest
        .trim_start_matches('(')
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .take(MAX_KEYWORD_CHARS)
        .collect();
    if word.is_empty() {
        "?".to_string()
    } else {
        word.to_ascii_uppercase()
    }
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Whose budget an event spends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Tenant(u64),
    User(String),
    /// User names beyond [`MAX_USER_KEYS`].
    OtherUsers,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    suppressed: u64,
    tenant_id: Option<u64>,
    target: Option<String>,
}

/// "`suppressed` events of `kind` were not written": the entry that ends a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub kind: Kind,
    pub tenant_id: Option<u64>,
    pub target: Option<String>,
    pub suppressed: u64,
}

/// Fixed windows per (kind, subject). Pure: time is a parameter.
#[derive(Debug)]
pub struct Limiter {
    max: u32,
    window: Duration,
    keys: HashMap<(Kind, Subject), Window>,
    user_keys: usize,
}

impl Limiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Limiter {
            max,
            window,
            keys: HashMap::new(),
            user_keys: 0,
        }
    }

    fn subject(&self, kind: Kind, e: &ProxyEvent) -> Subject {
        if let Some(t) = e.tenant_id {
            return Subject::Tenant(t);
        }
        let own = Subject::User(e.user.clone());
        if self.user_keys < MAX_USER_KEYS || self.keys.contains_key(&(kind, own.clone())) {
            own
        } else {
            Subject::OtherUsers
        }
    }

    /// Whether `e` is written (`true`) or suppressed; the summary of its key's previous
    /// window when that one ended with events suppressed.
    pub fn admit(&mut self, e: &ProxyEvent, now: Instant) -> (bool, Option<Summary>) {
        let subject = self.subject(e.kind, e);
        let key = (e.kind, subject);
        let mut ended = None;
        if let Some(w) = self.keys.get(&key) {
            if now.duration_since(w.started) >= self.window {
                ended = self.remove(&key);
            }
        }
        let target = match &key.1 {
            Subject::User(u) => Some(u.clone()),
            _ => None,
        };
        if matches!(key.1, Subject::User(_)) && !self.keys.contains_key(&key) {
            self.user_keys += 1;
        }
        let w = self.keys.entry(key).or_insert_with(|| Window {
            started: now,
            written: 0,
            suppressed: 0,
            tenant_id: e.tenant_id,
            target,
        });
        let write = w.written < self.max;
        if write {
            w.written += 1;
        } else {
            w.suppressed += 1;
        }
        (write, ended)
    }

    /// Forgets the windows that ended by `now`; summaries of those that suppressed events.
    pub fn sweep(&mut self, now: Instant) -> Vec<Summary> {
        let ended: Vec<(Kind, Subject)> = self
            .keys
            .iter()
            .filter(|(_, w)| now.duration_since(w.started) >= self.window)
            .map(|(k, _)| k.clone())
            .collect();
        ended.iter().filter_map(|k| self.remove(k)).collect()
    }

    /// Forgets every window (at shutdown); summaries of those that suppressed events.
    pub fn drain(&mut self) -> Vec<Summary> {
        let all: Vec<(Kind, Subject)> = self.keys.keys().cloned().collect();
        all.iter().filter_map(|k| self.remove(k)).collect()
    }

    fn remove(&mut self, key: &(Kind, Subject)) -> Option<Summary> {
        let w = self.keys.remove(key)?;
        if matches!(key.1, Subject::User(_)) {
            self.user_keys = self.user_keys.saturating_sub(1);
        }
        (w.suppressed > 0).then_some(Summary {
            kind: key.0,
            tenant_id: w.tenant_id,
            target: w.target,
            suppressed: w.suppressed,
        })
    }
}

/// What the writer writes.
#[derive(Debug)]
enum Entry {
    Event(ProxyEvent),
    Summary(Summary),
}

/// The sessions' side: decides and queues, never waits. Disabled when `max_per_window` is 0.
pub struct AuditSampler {
    inner: Option<(Arc<Mutex<Limiter>>, mpsc::Sender<Entry>)>,
}

/// The background side: writes what was queued, and the summaries of ended windows.
pub struct AuditWriter {
    limiter: Arc<Mutex<Limiter>>,
    rx: mpsc::Receiver<Entry>,
}

use crate::sync::lock;

impl AuditSampler {
    /// A sampler and the writer to run for it (none when sampling is off).
    pub fn new(config: &AuditConfig) -> (AuditSampler, Option<AuditWriter>) {
        if config.max_per_window == 0 {
            return (AuditSampler { inner: None }, None);
        }
        let limiter = Arc::new(Mutex::new(Limiter::new(
            config.max_per_window,
            Duration::from_secs(config.window_secs),
        )));
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let writer = AuditWriter {
            limiter: limiter.clone(),
            rx,
        };
        (
            AuditSampler {
                inner: Some((limiter, tx)),
            },
            Some(writer),
        )
    }

    /// Records `e`: queued for writing, or counted as suppressed.
    pub fn record(&self, e: ProxyEvent) {
        let Some((limiter, tx)) = &self.inner else {
            return;
        };
        let (write, ended) = lock(limiter).admit(&e, Instant::now());
        if let Some(s) = ended {
            queue(tx, Entry::Summary(s));
        }
        if write {
            queue(tx, Entry::Event(e));
        } else {
            metrics::audit_suppressed(e.kind.action());
        }
    }
}

fn queue(tx: &mpsc::Sender<Entry>, entry: Entry) {
    if let Err(e) = tx.try_send(entry) {
        let reason = match e {
            mpsc::error::TrySendError::Full(_) => "queue_full",
            mpsc::error::TrySendError::Closed(_) => "stopped",
        };
        metrics::audit_dropped(reason);
    }
}

impl AuditWriter {
    /// Writes until `stop`, then writes what is still queued and the summaries of every open
    /// window.
    pub async fn run(mut self, catalog: Catalog, stop: CancellationToken) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                entry = self.rx.recv() => match entry {
                    Some(entry) => write(&catalog, entry).await,
                    None => break,
                },
                _ = sweep.tick() => {
                    let ended = lock(&self.limiter).sweep(Instant::now());
                    for s in ended {
                        write(&catalog, Entry::Summary(s)).await;
                    }
                }
                _ = stop.cancelled() => break,
            }
        }
        self.rx.close();
        while let Ok(entry) = self.rx.try_recv() {
            write(&catalog, entry).await;
        }
        let open = lock(&self.limiter).drain();
        for s in open {
            write(&catalog, Entry::Summary(s)).await;
        }
        debug!("proxy audit writer stopped");
    }
}

async fn write(catalog: &Catalog, entry: Entry) {
    let (kind, detail);
    let row = match &entry {
        Entry::Event(e) => {
            kind = e.kind;
            NewAudit {
                actor: None,
                action: e.kind.action(),
                tenant_id: e.tenant_id,
                target: Some(&e.user),
                outcome: OUTCOME_FAILURE,
                request_id: None,
                detail: Some(&e.detail),
            }
        }
        Entry::Summary(s) => {
            kind = s.kind;
            detail = format!("proxy suppressed={}", s.suppressed);
            NewAudit {
                actor: None,
                action: s.kind.action(),
                tenant_id: s.tenant_id,
                target: s.target.as_deref(),
                outcome: OUTCOME_FAILURE,
                request_id: None,
                detail: Some(&detail),
            }
        }
    };
    match catalog.audit(&row).await {
        Ok(()) => metrics::audit_written(kind.action()),
        Err(e) => {
            metrics::audit_dropped("write_failed");
            warn!(error = %e, action = kind.action(), "cannot write a proxy audit entry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(tenant: Option<u64>, user: &str) -> ProxyEvent {
        ProxyEvent::auth_failed(tenant, user, 1045, "bad_password")
    }

    #[test]
    fn keywords_say_what_not_the_text() {
        assert_eq!(keyword("drop table secret_name"), "DROP");
        assert_eq!(keyword("  /* hi */ -- x\n # y\n GRANT ALL"), "GRANT");
        assert_eq!(keyword("(SELECT 1)"), "SELECT");
        assert_eq!(keyword("'password'"), "?");
        assert_eq!(keyword("/* unterminated"), "?");
        assert_eq!(keyword(""), "?");
        assert_eq!(keyword(&"A".repeat(100)).len(), MAX_KEYWORD_CHARS);
    }

    #[test]
    fn details_are_bounded_and_redacted() {
        let e = ProxyEvent::refused(7, "u", 1227, "DROP TABLE t -- password 'hunter2'");
        assert_eq!(e.detail, "proxy 1227 not_allowed DROP");
        assert!(!e.detail.contains("hunter2"));
        let long = ProxyEvent::auth_failed(None, &"é".repeat(300), 1045, &"x".repeat(100));
        assert_eq!(long.user.chars().count(), MAX_TARGET_CHARS);
        assert_eq!(long.detail.chars().count(), MAX_DETAIL_CHARS);
    }

    #[test]
    fn a_window_writes_its_budget_then_summarises() {
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        let mut l = Limiter::new(3, window);
        let written = (0..1000)
            .filter(|_| l.admit(&failed(Some(1), "a"), t0).0)
            .count();
        assert_eq!(written, 3);
        // Another tenant and another action have budgets of their own.
        assert!(l.admit(&failed(Some(2), "b"), t0).0);
        let refused = ProxyEvent::refused(1, "a", 1227, "DROP");
        assert!(l.admit(&refused, t0).0);
        assert!(l.sweep(t0 + Duration::from_secs(59)).is_empty());
        let summaries = l.sweep(t0 + window);
        assert_eq!(
            summaries,
            vec![Summary {
                kind: Kind::AuthFailed,
                tenant_id: Some(1),
                target: None,
                suppressed: 997,
            }]
        );
        assert!(l.keys.is_empty());
        // A new window has a fresh budget.
        assert!(l.admit(&failed(Some(1), "a"), t0 + window).0);
    }

    #[test]
    fn an_event_after_the_window_carries_the_summary() {
        let t0 = Instant::now();
        let mut l = Limiter::new(1, Duration::from_secs(10));
        assert_eq!(l.admit(&failed(None, "x"), t0), (true, None));
        assert_eq!(l.admit(&failed(None, "x"), t0), (false, None));
        let (write, ended) = l.admit(&failed(None, "x"), t0 + Duration::from_secs(10));
        assert!(write);
        assert_eq!(
            ended,
            Some(Summary {
                kind: Kind::AuthFailed,
                tenant_id: None,
                target: Some("x".into()),
                suppressed: 1,
            })
        );
        assert!(l.drain().is_empty());
    }

    #[test]
    fn random_user_names_share_one_budget_beyond_the_cap() {
        let t0 = Instant::now();
        let mut l = Limiter::new(2, Duration::from_secs(60));
        let written = (0..10_000)
            .filter(|i| l.admit(&failed(None, &format!("u{i}")), t0).0)
            .count();
        assert_eq!(written, MAX_USER_KEYS + 2);
        assert_eq!(l.keys.len(), MAX_USER_KEYS + 1);
        let summaries = l.drain();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].suppressed, (10_000 - MAX_USER_KEYS - 2) as u64);
        assert_eq!(l.user_keys, 0);
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_waiting() {
        let config = AuditConfig {
            max_per_window: 100,
            window_secs: 60,
            queue: 2,
        };
        let (sampler, writer) = AuditSampler::new(&config);
        let Some(mut writer) = writer else {
            panic!("a writer");
        };
        for i in 0..10 {
            sampler.record(failed(Some(i), "a"));
        }
        let mut queued = 0;
        while writer.rx.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, 2);
        let (off, none) = AuditSampler::new(&AuditConfig {
            max_per_window: 0,
            ..config
        });
        assert!(none.is_none());
        off.record(failed(Some(1), "a"));
    }
}
