//! Rate limiting of failed logins, so password guessing is bounded. Failures are counted per
//! (user name, source address), per source address and per user name, each with its own
//! threshold, in a window that starts at the first failure. Once a key reaches its threshold,
//! logins matching it are refused for the window *without checking the password* (even the
//! right one), then the key starts afresh.
//!
//! - (user, address) has the lowest threshold: guessing one account from one place stops fast,
//!   while the same user elsewhere and other users from the same place are unaffected;
//! - the address threshold bounds one place guessing many accounts;
//! - the user threshold bounds many places guessing one account (a distributed attack); it
//!   is high, since reaching it locks the user out from everywhere.
//!
//! IPv6 addresses count by /64 (one host usually holds the whole prefix). User names are cut to
//! [`MAX_USER_KEY`] bytes. Memory is bounded: at most `max_entries` keys are tracked; when full,
//! expired keys go first, then the oldest tenth.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Longest user name kept as a key (longer names are cut; no real user name is that long).
const MAX_USER_KEY: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    UserAddress(String, IpAddr),
    Address(IpAddr),
    User(String),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    blocked_until: Option<Instant>,
    /// The tenant of the user name, when it exists (to attribute refusals in the audit log).
    tenant: Option<u64>,
}

/// Thresholds (0 turns one off) and the window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    pub per_user_address: u32,
    pub per_address: u32,
    pub per_user: u32,
    pub window: Duration,
    pub max_entries: usize,
}

pub(crate) struct AuthThrottle {
    t: Thresholds,
    entries: HashMap<Key, Failures>,
}

fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn user_key(user: &str) -> String {
    let mut end = user.len().min(MAX_USER_KEY);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user[..end].to_string()
}

impl AuthThrottle {
    pub(crate) fn new(t: Thresholds) -> Self {
        AuthThrottle {
            t,
            entries: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The keys of a login, each with its threshold.
    fn keys(&self, user: &str, peer: Option<IpAddr>) -> Vec<(Key, u32)> {
        let user = user_key(user);
        let mut keys = Vec::with_capacity(3);
        if let Some(ip) = peer.map(address_key) {
            keys.push((Key::UserAddress(user.clone(), ip), self.t.per_user_address));
            keys.push((Key::Address(ip), self.t.per_address));
        }
        keys.push((Key::User(user), self.t.per_user));
        keys.retain(|(_, threshold)| *threshold > 0);
        keys
    }

    /// `Some((wait, tenant of the user if known))` while a login of `user` from `peer` must be
    /// refused.
    pub(crate) fn blocked(
        &self,
        user: &str,
        peer: Option<IpAddr>,
        now: Instant,
    ) -> Option<(Duration, Option<u64>)> {
        if self.entries.is_empty() {
            // Nothing failed lately (the usual case): no keys to build.
            return None;
        }
        let found: Vec<&Failures> = self
            .keys(user, peer)
            .iter()
            .filter_map(|(k, _)| self.entries.get(k))
            .collect();
        let wait = found
            .iter()
            .filter_map(|f| f.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()?;
        Some((wait, found.iter().find_map(|f| f.tenant)))
    }

    /// Counts a failed login of `user` (of `tenant`, when the user exists).
    pub(crate) fn failed(
        &mut self,
        user: &str,
        peer: Option<IpAddr>,
        tenant: Option<u64>,
        now: Instant,
    ) {
        let window = self.t.window;
        for (key, threshold) in self.keys(user, peer) {
            let of_user = !matches!(key, Key::Address(_));
            if !self.entries.contains_key(&key) {
                self.make_room(now);
            }
            let f = self.entries.entry(key).or_insert(Failures {
                count: 0,
                since: now,
                blocked_until: None,
                tenant: None,
            });
            let expired = match f.blocked_until {
                Some(until) => until <= now,
                None => now.saturating_duration_since(f.since) >= window,
            };
            if expired {
                *f = Failures {
                    count: 0,
                    since: now,
                    blocked_until: None,
                    tenant: None,
                };
            }
            if of_user && tenant.is_some() {
                f.tenant = tenant;
            }
            if f.blocked_until.is_some() {
                continue;
            }
            f.count += 1;
            if f.count >= threshold {
                f.blocked_until = Some(now + window);
            }
        }
    }

    /// A successful login forgets the (user, address) failures; the address and user counts
    /// stay, or one valid account would let its holder guess others' passwords for free.
    pub(crate) fn succeeded(&mut self, user: &str, peer: Option<IpAddr>) {
        if self.entries.is_empty() {
            return;
        }
        if let Some(ip) = peer.map(address_key) {
            self.entries.remove(&Key::UserAddress(user_key(user), ip));
        }
    }

    fn live(f: &Failures, now: Instant, window: Duration) -> bool {
        match f.blocked_until {
            Some(until) => until > now,
            None => now.saturating_duration_since(f.since) < window,
        }
    }

    /// Makes room for one more key when full: drops expired keys, then the oldest tenth.
    fn make_room(&mut self, now: Instant) {
        let max = self.t.max_entries.max(1);
        if self.entries.len() < max {
            return;
        }
        let window = self.t.window;
        self.entries.retain(|_, f| Self::live(f, now, window));
        if self.entries.len() < max {
            return;
        }
        let mut since: Vec<Instant> = self.entries.values().map(|f| f.since).collect();
        let cut = (since.len() / 10).max(1).min(since.len() - 1);
        let (_, pivot, _) = since.select_nth_unstable(cut);
        let pivot = *pivot;
        self.entries.retain(|_, f| f.since > pivot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max_entries: usize) -> AuthThrottle {
        AuthThrottle::new(Thresholds {
            per_user_address: 3,
            per_address: 5,
            per_user: 10,
            window: Duration::from_secs(60),
            max_entries,
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn user_address_then_address_then_user() {
        let now = Instant::now();
        let mut t = throttle(1000);
        let a = ip("10.0.0.1");
        for _ in 0..2 {
            t.failed("alice", a, None, now);
        }
        assert_eq!(t.blocked("alice", a, now), None);
        t.failed("alice", a, None, now);
        assert_eq!(
            t.blocked("alice", a, now),
            Some((Duration::from_secs(60), None))
        );
        // Same user elsewhere, other users here: not yet.
        assert_eq!(t.blocked("alice", ip("10.0.0.2"), now), None);
        assert_eq!(t.blocked("bob", a, now), None);
        // Two more failures from the address (another user) block the address.
        t.failed("bob", a, None, now);
        t.failed("carol", a, None, now);
        assert!(t.blocked("dave", a, now).is_some());
        assert_eq!(t.blocked("dave", ip("10.0.0.9"), now), None);
        // Ten failures of one user from ten places block the user everywhere.
        for i in 0..10 {
            t.failed("eve", ip(&format!("10.1.0.{i}")), None, now);
        }
        assert!(t.blocked("eve", ip("10.2.0.1"), now).is_some());
        // The window ends.
        let later = now + Duration::from_secs(61);
        assert_eq!(t.blocked("alice", a, later), None);
        t.failed("alice", a, None, later);
        assert_eq!(t.blocked("alice", a, later), None);
    }

    #[test]
    fn refusals_know_the_tenant_of_a_real_user() {
        let now = Instant::now();
        let mut t = throttle(1000);
        let a = ip("10.0.0.1");
        t.failed("alice", a, Some(7), now);
        t.failed("alice", a, Some(7), now);
        t.failed("alice", a, Some(7), now);
        assert_eq!(t.blocked("alice", a, now).map(|(_, t)| t), Some(Some(7)));
        // Blocked by the address only: the name tried is nobody's.
        t.failed("x", a, None, now);
        t.failed("y", a, None, now);
        assert_eq!(t.blocked("zed", a, now).map(|(_, t)| t), Some(None));
    }

    #[test]
    fn success_clears_only_the_pair() {
        let now = Instant::now();
        let mut t = throttle(1000);
        let a = ip("10.0.0.1");
        t.failed("alice", a, None, now);
        t.failed("alice", a, None, now);
        t.succeeded("alice", a);
        t.failed("alice", a, None, now);
        t.failed("alice", a, None, now);
        assert_eq!(t.blocked("alice", a, now), None);
        // ...but the address count went on: 4 so far, the fifth blocks it.
        t.failed("zed", a, None, now);
        assert!(t.blocked("anyone", a, now).is_some());
    }

    #[test]
    fn ipv6_counts_by_prefix_and_memory_is_bounded() {
        let now = Instant::now();
        let mut t = throttle(50);
        for i in 0..3 {
            t.failed("alice", ip(&format!("2001:db8::{i}")), None, now);
        }
        assert!(t.blocked("alice", ip("2001:db8::ffff"), now).is_some());
        for i in 0..10_000u32 {
            let user = format!("u{i}");
            t.failed(
                &user,
                ip(&format!("10.{}.{}.1", i / 256, i % 256)),
                None,
                now,
            );
            assert!(t.len() <= 50, "{}", t.len());
        }
        let long = "x".repeat(10_000);
        t.failed(&long, None, None, now);
        assert!(t.len() <= 50);
    }
}
