//! Logins the catalog recently confirmed, so that a client opening a connection per request
//! costs the catalog nothing.
//!
//! A login read from the catalog is a join over four tables behind a pooled MetaDB connection:
//! two round trips (the checkout's liveness ping, the query) that dominate the cost of a short
//! connection. The answer changes only when the catalog does, and the proxy already follows the
//! catalog version (`crate::follow`: Redis notices, and polling): every time the watcher sees
//! the version move, it calls [`LoginCache::invalidate`] before it tells open sessions, so a
//! new login learns of a suspension, a deleted user or a rotated password no later than open
//! sessions do (the notice, or one poll interval without Redis).
//!
//! Only what is safe to reuse is kept: logins of ready tenants whose password checked out. A
//! cached login is only ever a shortcut to "accepted": an answer that does not match it, or a
//! tenant that is not ready, goes to the catalog as before, so a rotated password works at once
//! and failures are counted exactly as without the cache.
//!
//! A read that raced with an invalidation is not kept: each insert carries the generation read
//! before the catalog was asked, and a stale generation is dropped.
//!
//! What is kept is the session's whole [`Identity`] (the login with its name mapping, built
//! once), shared: a hit costs a reference count, not a copy of the login and two maps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use octodb_catalog::TenantStatus;

use crate::session::Identity;

/// Most logins kept; past it the cache starts over (a churn of distinct users then costs what
/// it cost without the cache).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
struct State {
    /// Bumped by every invalidation.
    generation: u64,
    by_user: HashMap<String, Arc<Identity>>,
}

/// Confirmed logins by user name, valid until the catalog version moves.
#[derive(Default)]
pub struct LoginCache {
    state: Mutex<State>,
}

impl LoginCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// The generation to pass to [`LoginCache::insert`]: read it before asking the catalog.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The login last confirmed for `user`, if the catalog has not changed since.
    pub fn get(&self, user: &str) -> Option<Arc<Identity>> {
        self.lock().by_user.get(user).cloned()
    }

    /// Keeps `login`, read from the catalog when the cache was at `generation`, unless the
    /// catalog moved since (or the tenant is not ready: such logins always go to the catalog).
    pub fn insert(&self, generation: u64, id: &Arc<Identity>) {
        let login = &id.login;
        if login.tenant_status != TenantStatus::Ready {
            return;
        }
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        if state.by_user.len() >= MAX_ENTRIES && !state.by_user.contains_key(&login.username) {
            state.by_user.clear();
        }
        state.by_user.insert(login.username.clone(), id.clone());
    }

    /// Drops `user`'s login (its answer did not match: the catalog decides again).
    pub fn forget(&self, user: &str) {
        self.lock().by_user.remove(user);
    }

    /// The catalog changed: forget everything, and refuse inserts of reads made before now.
    pub fn invalidate(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.by_user.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use octodb_catalog::Login;

    fn login(user: &str, status: TenantStatus) -> Arc<Identity> {
        Arc::new(Identity::new(Login {
            tenant_status: status,
            verifier: [1; 20],
            ..crate::test_support::login(1, user)
        }))
    }

    #[test]
    fn keeps_ready_logins_until_the_catalog_moves() {
        let cache = LoginCache::default();
        let g = cache.generation();
        cache.insert(g, &login("a", TenantStatus::Ready));
        cache.insert(g, &login("s", TenantStatus::Suspended));
        assert_eq!(
            cache.get("a").map(|id| id.login.username.clone()),
            Some("a".to_string())
        );
        assert!(
            cache.get("s").is_none(),
            "a tenant that is not ready is kept"
        );
        cache.forget("a");
        assert!(cache.get("a").is_none());
        cache.insert(g, &login("a", TenantStatus::Ready));
        cache.invalidate();
        assert!(cache.get("a").is_none(), "kept across a catalog change");
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_dropped() {
        let cache = LoginCache::default();
        let before = cache.generation();
        // The catalog moved while the login was being read: what was read may be stale.
        cache.invalidate();
        cache.insert(before, &login("a", TenantStatus::Ready));
        assert!(cache.get("a").is_none());
        cache.insert(cache.generation(), &login("a", TenantStatus::Ready));
        assert!(cache.get("a").is_some());
    }
}
