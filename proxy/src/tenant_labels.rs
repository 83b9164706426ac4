//! Which tenants get their own `tenant` label on the statement metrics.
//!
//! Why bounded: every label value is a time series per kind, outcome and bucket, so a label
//! per tenant on a proxy serving thousands of tenants would swamp Prometheus. In `top` mode
//! (the default) only the `top_k` busiest tenants of this proxy are named and every other
//! tenant is `other`; the ranking is recomputed every `top_k_refresh_ms` from statement counts
//! that decay by half at each recomputation, so a tenant that went quiet gives its place up
//! within a few rounds. `all` names every tenant (for small fleets), `off` adds no label.
//!
//! The statement path only bumps a counter and reads a flag of its session's [`TenantSlot`];
//! the registry's lock is taken at login and by the recomputation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::SharedString;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// `[metrics] tenant_labels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantLabelMode {
    /// No `tenant` label.
    Off,
    /// The `top_k` busiest tenants by name, the others as `other`.
    #[default]
    Top,
    /// Every tenant by name.
    All,
}

/// `[metrics]`: labels of the proxy's metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `off`, `top` or `all` (see the module documentation). Env:
    /// `OCTODB_METRICS__TENANT_LABELS`.
    pub tenant_labels: TenantLabelMode,
    /// Tenants named in `top` mode. Env: `OCTODB_METRICS__TOP_K`.
    pub top_k: usize,
    /// Milliseconds between two rankings in `top` mode. Env: `OCTODB_METRICS__TOP_K_REFRESH_MS`.
    pub top_k_refresh_ms: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            tenant_labels: TenantLabelMode::Top,
            top_k: 10,
            top_k_refresh_ms: 5_000,
        }
    }
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.top_k > 1_000 {
            return Err("metrics.top_k must be at most 1000".into());
        }
        if self.top_k_refresh_ms < 10 || self.top_k_refresh_ms > 3_600_000 {
            return Err("metrics.top_k_refresh_ms must be between 10 and 3600000".into());
        }
        Ok(())
    }
}

/// The label value for tenants not named.
pub const OTHER: &str = "other";

/// One tenant's place in the ranking, shared by its sessions.
#[derive(Debug)]
pub struct TenantSlot {
    name: Arc<str>,
    /// Statements since the last ranking.
    recent: AtomicU64,
    /// Decayed count, written by the ranking only.
    score: AtomicU64,
    named: AtomicBool,
    /// The statement series labelled with the tenant's name.
    handles: crate::metrics::TenantHandles,
}

/// The statement series of the tenants not named, shared by all of them.
fn other_handles() -> &'static crate::metrics::TenantHandles {
    static OTHERS: std::sync::OnceLock<crate::metrics::TenantHandles> = std::sync::OnceLock::new();
    OTHERS.get_or_init(Default::default)
}

impl TenantSlot {
    /// Counts one statement and records it in the series of the tenant's label.
    pub fn record_statement(
        &self,
        kind: &'static str,
        outcome: &'static str,
        elapsed: std::time::Duration,
    ) {
        self.recent.fetch_add(1, Ordering::Relaxed);
        if self.named.load(Ordering::Relaxed) {
            let label = || SharedString::from(self.name.clone());
            self.handles.record(label, kind, outcome, elapsed);
        } else {
            let label = || SharedString::const_str(OTHER);
            other_handles().record(label, kind, outcome, elapsed);
        }
    }

    /// Counts one statement and returns the tenant's label value.
    pub fn label(&self) -> SharedString {
        self.recent.fetch_add(1, Ordering::Relaxed);
        if self.named.load(Ordering::Relaxed) {
            SharedString::from(self.name.clone())
        } else {
            SharedString::const_str(OTHER)
        }
    }
}

/// The tenants of this proxy that have had sessions, and which are named.
#[derive(Debug)]
pub struct TenantLabels {
    mode: TenantLabelMode,
    k: usize,
    slots: Mutex<HashMap<u64, Arc<TenantSlot>>>,
}

use crate::sync::lock;

impl TenantLabels {
    pub fn new(config: &MetricsConfig) -> Self {
        TenantLabels {
            mode: config.tenant_labels,
            k: config.top_k,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The slot of a tenant for a new session; `None` when tenant labels are off.
    pub fn slot(&self, tenant_id: u64, name: &str) -> Option<Arc<TenantSlot>> {
        if self.mode == TenantLabelMode::Off {
            return None;
        }
        let mut slots = lock(&self.slots);
        let slot = slots.entry(tenant_id).or_insert_with(|| {
            Arc::new(TenantSlot {
                name: Arc::from(name),
                recent: AtomicU64::new(0),
                score: AtomicU64::new(0),
                named: AtomicBool::new(self.mode == TenantLabelMode::All),
                handles: crate::metrics::TenantHandles::default(),
            })
        });
        Some(slot.clone())
    }

    /// Ranks the tenants (`top` mode): halves every score, adds the statements since the last
    /// ranking, names the `k` highest non-zero scores. Tenants with no session and a zero score
    /// are forgotten. Returns how many are named.
    pub fn rank(&self) -> usize {
        let mut slots = lock(&self.slots);
        let mut scores: Vec<(u64, u64)> = Vec::with_capacity(slots.len());
        for (&id, slot) in slots.iter() {
            let recent = slot.recent.swap(0, Ordering::Relaxed);
            let score = slot.score.load(Ordering::Relaxed) / 2 + recent;
            slot.score.store(score, Ordering::Relaxed);
            scores.push((id, score));
        }
        slots.retain(|_, slot| {
            Arc::strong_count(slot) > 1 || slot.score.load(Ordering::Relaxed) > 0
        });
        if self.mode != TenantLabelMode::Top {
            return slots.len();
        }
        // Highest score first; ties by id, so the choice is stable.
        scores.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let named: Vec<u64> = scores
            .iter()
            .filter(|(_, score)| *score > 0)
            .take(self.k)
            .map(|(id, _)| *id)
            .collect();
        for (id, slot) in slots.iter() {
            slot.named.store(named.contains(id), Ordering::Relaxed);
        }
        named.len()
    }

    /// Ranks every `every` until `stop` (nothing to do unless in `top` mode).
    pub async fn run(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        if self.mode != TenantLabelMode::Top {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => crate::metrics::tenant_labels(self.rank()),
                _ = stop.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn labels(mode: TenantLabelMode, k: usize) -> TenantLabels {
        TenantLabels::new(&MetricsConfig {
            tenant_labels: mode,
            top_k: k,
            ..MetricsConfig::default()
        })
    }

    fn run(slot: &TenantSlot, n: usize) -> SharedString {
        let mut last = SharedString::const_str("");
        for _ in 0..n {
            last = slot.label();
        }
        last
    }

    #[test]
    fn only_the_busiest_are_named_and_quiet_ones_give_their_place_up() {
        let l = labels(TenantLabelMode::Top, 2);
        let a = l.slot(1, "alpha").unwrap();
        let b = l.slot(2, "beta").unwrap();
        let c = l.slot(3, "gamma").unwrap();
        // Nobody is named before the first ranking.
        assert_eq!(&*run(&a, 1), OTHER);
        run(&a, 99);
        run(&b, 50);
        run(&c, 10);
        assert_eq!(l.rank(), 2);
        assert_eq!(&*a.label(), "alpha");
        assert_eq!(&*b.label(), "beta");
        assert_eq!(&*c.label(), OTHER);
        // gamma gets busy, alpha and beta go quiet: within a few rankings gamma is named.
        for _ in 0..4 {
            run(&c, 200);
            l.rank();
        }
        assert_eq!(&*c.label(), "gamma");
        // A tenant with no session and no recent statements is forgotten.
        drop(b);
        for _ in 0..20 {
            l.rank();
        }
        assert!(!lock(&l.slots).contains_key(&2));
        assert!(lock(&l.slots).contains_key(&1), "alpha still has a session");
    }

    #[test]
    fn modes() {
        assert!(labels(TenantLabelMode::Off, 10).slot(1, "a").is_none());
        let all = labels(TenantLabelMode::All, 0);
        assert_eq!(&*all.slot(1, "a").unwrap().label(), "a");
        let none = labels(TenantLabelMode::Top, 0);
        let s = none.slot(1, "a").unwrap();
        run(&s, 5);
        assert_eq!(none.rank(), 0);
        assert_eq!(&*s.label(), OTHER);
    }

    #[test]
    fn config_parses_and_validates() {
        let c: MetricsConfig =
            serde_json::from_str(r#"{"tenant_labels":"all","top_k":3}"#).unwrap();
        assert_eq!(c.tenant_labels, TenantLabelMode::All);
        assert!(c.validate().is_ok());
        assert!(serde_json::from_str::<MetricsConfig>(r#"{"tenant_labels":"some"}"#).is_err());
        let bad = MetricsConfig {
            top_k: 5_000,
            ..MetricsConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
