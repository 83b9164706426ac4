//! Following the catalog: a watcher reads the catalog version (when Redis announces a new one,
//! and on a timer) and, when it moved, publishes the current state of every tenant with open
//! sessions on a `watch` channel per tenant. Sessions
//! close when their tenant is suspended or deleted (or their user is), and reload their name
//! mapping when its version moves. Only what changed is applied; nothing is reloaded wholesale.
//!
//! New connections read their login from the catalog, or from the logins it confirmed since
//! the version last moved (`crate::logins`, invalidated here before sessions are told).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use octodb_catalog::{Catalog, Login, TenantStatus};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// A tenant's state as the proxy last saw it; `None` once the tenant is gone from the catalog.
pub type Published = Option<octodb_catalog::TenantState>;

struct Entry {
    tx: watch::Sender<Published>,
    sessions: usize,
}

/// The tenants with open sessions, each with the channel their sessions listen on.
#[derive(Default)]
pub struct Followers {
    tenants: Mutex<HashMap<u64, Entry>>,
    /// Logins confirmed since the catalog version last moved.
    pub logins: crate::logins::LoginCache,
}

impl Followers {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        crate::sync::lock(&self.tenants)
    }

    /// Registers a session of `login`'s tenant. The first session of a tenant seeds its state
    /// from its own (fresh) login.
    pub fn subscribe(self: &Arc<Self>, login: &Login) -> Subscription {
        let mut tenants = self.lock();
        let entry = tenants.entry(login.tenant_id).or_insert_with(|| Entry {
            tx: watch::Sender::new(Some(octodb_catalog::TenantState {
                id: login.tenant_id,
                status: login.tenant_status,
                mapping_version: login.mapping_version,
                users: vec![login.username.clone()],
            })),
            sessions: 0,
        });
        entry.sessions += 1;
        Subscription {
            rx: entry.tx.subscribe(),
            tenant_id: login.tenant_id,
            followers: self.clone(),
        }
    }

    fn unsubscribe(&self, tenant_id: u64) {
        let mut tenants = self.lock();
        if let Some(e) = tenants.get_mut(&tenant_id) {
            e.sessions = e.sessions.saturating_sub(1);
            if e.sessions == 0 {
                tenants.remove(&tenant_id);
            }
        }
    }

    fn tenant_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.lock().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Publishes fresh states for `ids`: a tenant missing from `states` is gone.
    fn publish(&self, ids: &[u64], states: Vec<octodb_catalog::TenantState>) {
        let mut by_id: HashMap<u64, octodb_catalog::TenantState> =
            states.into_iter().map(|s| (s.id, s)).collect();
        let tenants = self.lock();
        for id in ids {
            let Some(entry) = tenants.get(id) else {
                continue;
            };
            let fresh = by_id.remove(id);
            entry.tx.send_if_modified(|current| {
                if *current == fresh {
                    return false;
                }
                debug!(tenant_id = id, state = ?fresh, "tenant changed in the catalog");
                *current = fresh;
                true
            });
        }
    }
}

/// A session's registration; unregisters when dropped.
pub struct Subscription {
    rx: watch::Receiver<Published>,
    tenant_id: u64,
    followers: Arc<Followers>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.followers.unsubscribe(self.tenant_id);
    }
}

/// Why an open session must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    TenantGone,
    TenantNotReady(TenantStatus),
    UserGone,
}

impl Subscription {
    /// The latest mapping version published for the tenant, if it still exists.
    pub fn mapping_version(&self) -> Option<u64> {
        self.rx.borrow().as_ref().map(|s| s.mapping_version)
    }

    /// Whether the session of `user` must end now.
    pub fn eviction(&self, user: &str) -> Option<Eviction> {
        eviction(&self.rx.borrow(), user)
    }

    /// Completes when the session of `user` must end. It watches on its own copy of the
    /// channel, so a session can keep it across commands while using the subscription.
    pub fn watch(
        &self,
        user: &str,
    ) -> impl std::future::Future<Output = Eviction> + Send + 'static {
        let mut rx = self.rx.clone();
        let user = user.to_owned();
        async move {
            loop {
                if let Some(e) = eviction(&rx.borrow_and_update(), &user) {
                    return e;
                }
                if rx.changed().await.is_err() {
                    // The registry dropped the channel: nothing more will be published.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

fn eviction(state: &Published, user: &str) -> Option<Eviction> {
    let Some(state) = state else {
        return Some(Eviction::TenantGone);
    };
    if state.status != TenantStatus::Ready {
        return Some(Eviction::TenantNotReady(state.status));
    }
    if !state.users.iter().any(|u| u == user) {
        return Some(Eviction::UserGone);
    }
    None
}

/// What drives the watcher besides its timer: notices heard on Redis (see `crate::notify`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notices {
    /// Subscribed right now: the timer may use the slow fallback interval.
    pub subscribed: bool,
    /// The newest catalog version announced (0: none yet).
    pub announced: u64,
    /// Bumped to ask for a read now whatever was announced (after (re)subscribing: changes
    /// made while unsubscribed were announced to nobody).
    pub nudges: u64,
}

/// How often the watcher reads the catalog version on its own.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    /// Without notices (no Redis, Redis unreachable) and after a failed read.
    pub poll: Duration,
    /// While subscribed: only a safety net for a lost notice.
    pub fallback: Duration,
}

/// Reads the catalog version when a notice announces a version not yet read, and on a timer
/// (every `poll`, or every `fallback` while subscribed); publishes tenant states when it moved.
/// Runs until `shutdown`. Each read goes through [`poll_once`]: notices and timer apply
/// changes the same way.
pub async fn watch_catalog(
    catalog: Catalog,
    followers: Arc<Followers>,
    limits: Arc<crate::limits::Limits>,
    every: Intervals,
    mut notices: Option<watch::Receiver<Notices>>,
    shutdown: CancellationToken,
) {
    let mut seen: Option<u64> = None;
    let mut failed = false;
    let mut nudges = 0;
    loop {
        let subscribed = notices.as_ref().is_some_and(|n| n.borrow().subscribed);
        let wait = if subscribed && !failed {
            every.fallback
        } else {
            every.poll
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            notice = next_notice(&mut notices) => {
                let Some(n) = notice else { continue };
                let nudged = n.nudges != nudges;
                nudges = n.nudges;
                if !nudged && seen.is_some_and(|v| v >= n.announced) {
                    continue;
                }
                crate::metrics::catalog_notice_applied();
            }
            _ = shutdown.cancelled() => return,
        }
        match poll_once(&catalog, &followers, &limits, seen).await {
            Ok(v) => {
                seen = Some(v);
                failed = false;
            }
            Err(e) => {
                failed = true;
                warn!(error = %e, "following the catalog failed; retrying");
            }
        }
    }
}

/// The next change of `notices`; pending forever once there is no sender (or no channel).
async fn next_notice(notices: &mut Option<watch::Receiver<Notices>>) -> Option<Notices> {
    let Some(rx) = notices else {
        return std::future::pending().await;
    };
    match rx.changed().await {
        Ok(()) => Some(*rx.borrow_and_update()),
        Err(_) => {
            *notices = None;
            None
        }
    }
}

/// One poll: the version first, then (when it moved) the states and the tenants' limits, so
/// they are at least as new as the version recorded.
async fn poll_once(
    catalog: &Catalog,
    followers: &Followers,
    limits: &crate::limits::Limits,
    seen: Option<u64>,
) -> Result<u64, octodb_catalog::CatalogError> {
    let version = catalog.catalog_version().await?;
    if seen == Some(version) {
        return Ok(version);
    }
    followers.logins.invalidate();
    let ids = followers.tenant_ids();
    let states = catalog.tenant_states(&ids).await?;
    followers.publish(&ids, states);
    limits.refresh(catalog).await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::login;
    use octodb_catalog::TenantState;

    fn state(status: TenantStatus, users: &[&str]) -> Published {
        Some(TenantState {
            id: 1,
            status,
            mapping_version: 1,
            users: users.iter().map(|u| u.to_string()).collect(),
        })
    }

    #[test]
    fn registry_publishes_to_live_tenants_and_forgets_the_rest() {
        let followers = Arc::new(Followers::default());
        let a = followers.subscribe(&login(1, "a"));
        let b = followers.subscribe(&login(1, "b"));
        assert_eq!(followers.tenant_ids(), vec![1]);
        assert_eq!(a.eviction("a"), None);
        let Some(mut moved) = state(TenantStatus::Ready, &["a", "b"]) else {
            panic!("a state");
        };
        moved.mapping_version = 7;
        followers.publish(&[1], vec![moved]);
        assert_eq!(b.mapping_version(), Some(7));
        followers.publish(&[1], Vec::new());
        assert_eq!(a.eviction("a"), Some(Eviction::TenantGone));
        drop(a);
        assert_eq!(followers.tenant_ids(), vec![1]);
        drop(b);
        assert!(followers.tenant_ids().is_empty());
    }

    #[test]
    fn evictions() {
        assert_eq!(eviction(&state(TenantStatus::Ready, &["a"]), "a"), None);
        assert_eq!(
            eviction(&state(TenantStatus::Suspended, &["a"]), "a"),
            Some(Eviction::TenantNotReady(TenantStatus::Suspended))
        );
        assert_eq!(
            eviction(&state(TenantStatus::Ready, &["b"]), "a"),
            Some(Eviction::UserGone)
        );
        assert_eq!(eviction(&None, "a"), Some(Eviction::TenantGone));
    }
}
