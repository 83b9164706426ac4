//! Backend connections: a small pool per tenant, and the lease (RAII guard) that lends a
//! session one connection for a statement or a transaction.
//!
//! Each pool logs in as the tenant's own backend user, which holds SELECT, INSERT, UPDATE and
//! DELETE on the tenant's physical databases only: even a policy bug cannot reach another
//! tenant. Pool connections never have a default database; every statement names its tables
//! fully, so the session's current database needs no replay.
//!
//! Our own pool of our own connections ([`raw`]): a pooled connection carries the session
//! state last applied on it ([`ConnState`]), so the next borrower replays only what differs,
//! and it comes back without COM_RESET_CONNECTION (a round trip per statement otherwise). A
//! lease is returned as it is when the session left nothing behind that cannot move, reset
//! first when it did (user variables, an open transaction: see [`pins`]), and closed when
//! broken or when an answer on it was left unread. Each connection prepares statements on
//! first use and keeps a capped cache of them ([`BackendConn::prepared`]), so the server's
//! Prepared_stmt_count stays under the pool size times `stmt_cache`.
//!
//! With several workers (`crate::workers`), a pool keeps its idle connections per worker and
//! its waiting sessions per worker ([`slots`]): a connection given back goes to a session of
//! its own worker when one waits, so a busy pool does not bounce connections between threads.

pub mod pins;
pub mod raw;
pub mod slots;
pub mod state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use octodb_catalog::Login;

pub use pins::{PinCounts, PinReason, Pins};
pub use state::{batched, ConnState};

use raw::{BackendError, ConnectOpts, Phase, Prepared, RawConn, StmtCache};
pub use slots::SWEEP_EVERY;
use slots::{Slot, Slots, WaitLog};

/// A pooled backend connection and the statements prepared on it.
pub struct BackendConn {
    pub raw: RawConn,
    stmts: StmtCache,
    /// The worker whose event loop its socket is registered with (`crate::workers`).
    home: usize,
}

impl BackendConn {
    /// The statement prepared for `sql` on this connection, prepared now if it is not yet
    /// (closing the least recently used one when the cache is full).
    pub async fn prepared(&mut self, sql: &str) -> Result<&Prepared, BackendError> {
        if self.stmts.get(sql).is_none() {
            self.prepare(sql).await?;
        }
        self.stmts
            .get(sql)
            .ok_or_else(|| BackendError::Protocol("a prepared statement went missing".into()))
    }

    /// The id and parameter count of the statement for `sql`, as [`Self::prepared`] but with
    /// a single cache lookup when it is there (every execution comes here).
    pub async fn statement(&mut self, sql: &str) -> Result<(u32, usize), BackendError> {
        if let Some(p) = self.stmts.get(sql) {
            return Ok((p.id, p.params.len()));
        }
        self.prepare(sql).await
    }

    /// Prepares `sql` and caches it, closing the statement it evicts.
    async fn prepare(&mut self, sql: &str) -> Result<(u32, usize), BackendError> {
        let stmt = self.raw.prepare(sql).await?;
        let found = (stmt.id, stmt.params.len());
        if let Some(evicted) = self.stmts.insert(sql.to_owned(), stmt) {
            self.raw.close_statement(evicted).await?;
        }
        Ok(found)
    }

    /// COM_RESET_CONNECTION: the server drops every prepared statement, and so does the cache.
    pub async fn reset(&mut self) -> Result<(), BackendError> {
        self.stmts.clear();
        self.raw.reset().await
    }

    /// The same connection, registered with the current worker's event loop.
    fn move_here(self: Box<Self>) -> std::io::Result<Box<BackendConn>> {
        let BackendConn { raw, stmts, .. } = *self;
        Ok(Box::new(BackendConn {
            raw: raw.move_here()?,
            stmts,
            home: crate::workers::current(),
        }))
    }

    /// Whether it can go back to a pool: not broken, no answer left unread, nothing queued.
    fn reusable(&self) -> bool {
        !self.raw.is_broken() && self.raw.phase() == Phase::Idle && !self.raw.has_queued()
    }
}

/// How pools are sized and kept.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections per tenant (both FOUND_ROWS variants together).
    pub max: usize,
    /// Longest wait for a connection before the client gets an error.
    pub wait: Duration,
    /// Idle connections older than this are closed.
    pub idle: Duration,
    /// Longest time to open a connection and log in.
    pub connect_timeout: Duration,
    /// Prepared statements kept per connection (least recently used closed first), so the
    /// server's Prepared_stmt_count stays under max x this for a tenant.
    pub stmt_cache: usize,
    pub max_packet: usize,
    /// Workers (`crate::workers`): each pool keeps idle connections per worker.
    pub workers: usize,
}

/// The tenant's credentials on its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Creds {
    host: String,
    port: u16,
    user: String,
    password: String,
}

/// An idle connection and the state applied on it.
impl Creds {
    fn is(&self, login: &Login) -> bool {
        self.port == login.backend_port
            && self.host == login.backend_host
            && self.user == login.backend_user
            && self.password == login.backend_password
    }
}

struct Idle {
    /// Boxed, as in [`Lease`]: a checkout and a return move a pointer, not the connection.
    conn: Box<BackendConn>,
    state: ConnState,
    since: Instant,
}

/// One tenant's connections. Two idle lists: the FOUND_ROWS capability changes what UPDATE
/// reports as affected rows, so a client asking for it needs connections opened with it.
pub struct TenantPool {
    creds: Creds,
    /// At most the tenant's cap lent at once; waiters served on their own worker first.
    slots: Arc<Slots>,
    /// Per worker (indexed by `BackendConn::home`).
    idle: Box<[IdleLists]>,
    /// Idle connections taken by a session of another worker (and moved to it).
    moved: AtomicUsize,
    settings: PoolSettings,
}

/// Idle connections in the order they came back, without and with FOUND_ROWS.
type IdleLists = Mutex<[Vec<Idle>; 2]>;

fn idle_lists(workers: usize) -> Box<[IdleLists]> {
    (0..workers.max(1))
        .map(|_| Mutex::new([Vec::new(), Vec::new()]))
        .collect()
}

/// A session's hold on its tenant's pool (see [`Backends::checkout`]): the pool, and the
/// connection cap the session last sized it to, so that an unchanged cap costs nothing.
#[derive(Default)]
pub struct PoolHandle {
    pool: Option<(u64, Arc<TenantPool>)>,
    max: Option<usize>,
}

/// All tenant pools of this proxy.
pub struct Backends {
    pools: Mutex<HashMap<u64, Arc<TenantPool>, ahash::RandomState>>,
    /// The slots of every pool still in use, replaced ones too, for the sweeper
    /// ([`Backends::expire_waits`]).
    slots: Mutex<Vec<Weak<Slots>>>,
    /// Whether the sweeper has anything to walk.
    waits: Arc<WaitLog>,
    settings: PoolSettings,
    /// Pinned sessions by reason.
    pub pins: PinCounts,
}

/// Why a backend connection could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("all {max} backend connections of the tenant stayed busy for {waited:?}")]
    Timeout { max: usize, waited: Duration },
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl CheckoutError {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckoutError::Timeout { .. } => "timeout",
            CheckoutError::Backend(_) => "connect",
        }
    }
}

pub(crate) use crate::sync::lock;

impl Backends {
    pub fn new(settings: PoolSettings) -> Arc<Self> {
        Arc::new(Backends {
            pools: Mutex::new(HashMap::default()),
            slots: Mutex::new(Vec::new()),
            waits: Arc::default(),
            settings,
            pins: PinCounts::default(),
        })
    }

    /// The tenant's pool; a pool with other credentials (rotated password) is replaced, its
    /// connections closed as their leases end.
    fn pool(&self, login: &Login) -> Arc<TenantPool> {
        let mut pools = lock(&self.pools);
        // Every statement comes here: compared in place, copied only for a new pool.
        if let Some(p) = pools.get(&login.tenant_id) {
            if p.creds.is(login) {
                return p.clone();
            }
        }
        let creds = Creds {
            host: login.backend_host.clone(),
            port: login.backend_port,
            user: login.backend_user.clone(),
            password: login.backend_password.clone(),
        };
        let max = self.settings.max.max(1);
        let pool = Arc::new(TenantPool {
            creds,
            slots: Slots::new(max, self.settings.workers, self.waits.clone()),
            idle: idle_lists(self.settings.workers),
            moved: AtomicUsize::new(0),
            settings: self.settings.clone(),
        });
        pools.insert(login.tenant_id, pool.clone());
        let mut slots = lock(&self.slots);
        slots.retain(|s| s.strong_count() > 0);
        slots.push(Arc::downgrade(&pool.slots));
        pool
    }

    /// Lets go of the sessions that waited for a connection longer than the pool wait: they
    /// answer that the tenant's connections stayed busy (see `slots`). Returns how many.
    /// Walks the pools only when someone may be waiting.
    pub fn expire_waits(&self) -> usize {
        let Some(at) = self.waits.due() else {
            return 0;
        };
        let live: Vec<Arc<Slots>> = lock(&self.slots).iter().filter_map(Weak::upgrade).collect();
        let now = Instant::now();
        let (mut expired, mut waiting) = (0, 0);
        for slots in &live {
            let (e, w) = slots.expire(now);
            expired += e;
            waiting += w;
        }
        self.waits.swept(at, waiting);
        expired
    }

    /// A connection from the tenant's pool, waiting at most the configured time. `max` is
    /// the tenant's backend connection cap now (`crate::limits`; the pool follows changes).
    /// `handle` is the session's own: the pool it used last, found again without the shared
    /// map while the session's login has the same credentials.
    pub async fn checkout(
        &self,
        login: &Login,
        found_rows: bool,
        max: usize,
        handle: &mut PoolHandle,
    ) -> Result<Lease, CheckoutError> {
        let pool = match &handle.pool {
            Some((tenant, pool)) if *tenant == login.tenant_id && pool.creds.is(login) => {
                pool.clone()
            }
            _ => {
                let pool = self.pool(login);
                *handle = PoolHandle {
                    pool: Some((login.tenant_id, pool.clone())),
                    max: None,
                };
                pool
            }
        };
        if handle.max != Some(max) {
            pool.resize(max);
            handle.max = Some(max);
        }
        pool.checkout(found_rows).await
    }

    /// Connections idle in the tenant's pool (for tests and metrics).
    pub fn idle(&self, tenant_id: u64) -> usize {
        lock(&self.pools)
            .get(&tenant_id)
            .map(|p| {
                p.idle
                    .iter()
                    .map(|lists| lock(lists).iter().map(Vec::len).sum::<usize>())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Idle connections of the tenant's pool that a session took from another worker.
    pub fn moved(&self, tenant_id: u64) -> usize {
        lock(&self.pools)
            .get(&tenant_id)
            .map_or(0, |p| p.moved.load(Ordering::Relaxed))
    }

    /// Closes the connections idle for `pool_idle_secs` or longer in every pool. Checkouts
    /// close them too, but only in the pool they use: without this a quiet tenant, or a quiet
    /// proxy, would hold its idle connections (and the server's connection slots) forever.
    pub async fn reap(&self) -> usize {
        let pools: Vec<Arc<TenantPool>> = lock(&self.pools).values().cloned().collect();
        let now = Instant::now();
        let mut expired: Vec<Idle> = Vec::new();
        for p in pools {
            for lists in p.idle.iter() {
                for list in lock(lists).iter_mut() {
                    expired.extend(expire(list, self.settings.idle, now));
                }
            }
        }
        crate::metrics::backend_idle(-(expired.len() as f64));
        let closed = expired.len();
        // Said goodbye to after the locks are let go, so that the server does not count
        // them as aborted.
        for i in expired {
            i.conn.raw.disconnect().await;
        }
        closed
    }

    /// How often [`Backends::reap`] should run: often enough that an idle connection outlives
    /// `pool_idle_secs` by at most half of it (and by at most 30 s).
    pub fn reap_every(&self) -> Duration {
        (self.settings.idle / 2).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }

    /// Closes every idle connection (at shutdown); leases still out close when they end.
    pub async fn close(&self) {
        let pools: Vec<Arc<TenantPool>> = lock(&self.pools).drain().map(|(_, p)| p).collect();
        for p in pools {
            let idle: Vec<Idle> = p
                .idle
                .iter()
                .flat_map(|lists| {
                    lock(lists)
                        .iter_mut()
                        .flat_map(std::mem::take)
                        .collect::<Vec<_>>()
                })
                .collect();
            crate::metrics::backend_idle(-(idle.len() as f64));
            for i in idle {
                i.conn.raw.disconnect().await;
            }
        }
    }
}

impl TenantPool {
    fn opts(&self, found_rows: bool) -> ConnectOpts {
        ConnectOpts {
            host: self.creds.host.clone(),
            port: self.creds.port,
            user: self.creds.user.clone(),
            password: self.creds.password.clone(),
            found_rows,
            max_packet: self.settings.max_packet.max(1 << 20),
            connect_timeout: self.settings.connect_timeout,
        }
    }

    /// Follows a new cap (see [`Slots::resize`]).
    fn resize(&self, max: usize) {
        self.slots.resize(max.max(1));
    }

    async fn checkout(self: Arc<Self>, found_rows: bool) -> Result<Lease, CheckoutError> {
        let wait = self.settings.wait;
        let worker = crate::workers::current();
        // A free slot is taken without arming the wait timer (the common case), and without
        // reading the clock: nothing is waited for until a connection must be opened.
        let free = self.slots.try_take(worker);
        let waited_from = free.is_none().then(Instant::now);
        let slot = match free {
            Some(s) => Some(s),
            None => self.slots.take(worker, wait).await,
        };
        let elapsed = || waited_from.map(|t| t.elapsed());
        let slot = match slot {
            Some(s) => s,
            None => {
                crate::metrics::backend_checkout(crate::metrics::CHECKOUT_TIMEOUT, elapsed());
                return Err(CheckoutError::Timeout {
                    max: self.slots.max(),
                    waited: wait,
                });
            }
        };
        if let Some(idle) = self.take_idle(found_rows) {
            crate::metrics::backend_checkout(crate::metrics::CHECKOUT_IDLE, elapsed());
            crate::metrics::backend_active(1.0);
            return Ok(Lease {
                conn: Some(idle.conn),
                state: idle.state,
                from_idle: true,
                served: false,
                dirty: false,
                found_rows,
                pool: self,
                slot: Some(slot),
            });
        }
        let connecting = Instant::now();
        let opened = |outcome| {
            let connect = connecting.elapsed();
            let waited = elapsed().unwrap_or_default() + connect;
            crate::metrics::backend_checkout(outcome, Some(waited));
        };
        let raw = RawConn::connect(&self.opts(found_rows))
            .await
            .inspect_err(|_| opened(crate::metrics::CHECKOUT_ERROR))?;
        let conn = Box::new(BackendConn {
            raw,
            stmts: StmtCache::new(self.settings.stmt_cache),
            home: crate::workers::current(),
        });
        opened(crate::metrics::CHECKOUT_NEW);
        crate::metrics::backend_active(1.0);
        Ok(Lease {
            conn: Some(conn),
            state: ConnState::default(),
            from_idle: false,
            served: false,
            dirty: false,
            found_rows,
            pool: self,
            slot: Some(slot),
        })
    }

    /// The most recently used idle connection of this worker, else of another worker, moved
    /// here. Expired ones are left to [`Backends::reap`]: the most recently used one is the
    /// last to expire.
    fn take_idle(&self, found_rows: bool) -> Option<Idle> {
        let here = crate::workers::current();
        if let Some(mine) = self.idle.get(here) {
            if let Some(idle) = self.take_from(mine, found_rows) {
                return Some(idle);
            }
        }
        for (worker, lists) in self.idle.iter().enumerate() {
            if worker == here {
                continue;
            }
            let Some(mut idle) = self.take_from(lists, found_rows) else {
                continue;
            };
            // A failed move loses the connection: the permit opens a new one.
            idle.conn = idle.conn.move_here().ok()?;
            self.moved.fetch_add(1, Ordering::Relaxed);
            crate::metrics::backend_moved();
            return Some(idle);
        }
        None
    }

    fn take_from(&self, lists: &IdleLists, found_rows: bool) -> Option<Idle> {
        let taken = lock(lists)[usize::from(found_rows)].pop();
        if taken.is_some() {
            crate::metrics::backend_idle(-1.0);
        }
        taken
    }

    fn give_back(&self, conn: Box<BackendConn>, state: ConnState, found_rows: bool) {
        // A connection of a worker that no longer exists (cannot happen) goes to the last.
        let home = conn.home.min(self.idle.len().saturating_sub(1));
        let Some(lists) = self.idle.get(home) else {
            return;
        };
        let mut idle = lock(lists);
        // Taken under the lock, so the list stays in order of `since` ([`expire`]).
        let since = Instant::now();
        idle[usize::from(found_rows)].push(Idle { conn, state, since });
        drop(idle);
        crate::metrics::backend_idle(1.0);
    }
}

/// What went idle when.
trait Since {
    fn since(&self) -> Instant;
}

impl Since for Idle {
    fn since(&self) -> Instant {
        self.since
    }
}

/// Drops the connections idle for `ttl` or longer. The list is in the order connections came
/// back (oldest first), so the expired ones are a prefix, found by bisection.
fn expire<T: Since>(list: &mut Vec<T>, ttl: Duration, now: Instant) -> Vec<T> {
    let expired = list.partition_point(|i| now.saturating_duration_since(i.since()) >= ttl);
    if expired == 0 {
        return Vec::new();
    }
    list.drain(..expired).collect()
}

/// A borrowed backend connection. Dropped, it goes back to its pool as it is, unless it is
/// dirty (state that must not reach another session: call [`Lease::release`] to reset it
/// first) or broken, in which case it is closed.
pub struct Lease {
    conn: Option<Box<BackendConn>>,
    /// The session state applied on the connection.
    pub state: ConnState,
    /// Came from the idle list (so it may have died while idle), rather than just opened.
    pub from_idle: bool,
    /// A statement of the session has run on it (a failure after that is not retried).
    pub served: bool,
    dirty: bool,
    found_rows: bool,
    pool: Arc<TenantPool>,
    slot: Option<Slot>,
}

impl Lease {
    /// The connection. `None` only after [`Lease::discard`].
    pub fn conn(&mut self) -> Option<&mut BackendConn> {
        self.conn.as_deref_mut()
    }

    pub fn conn_ref(&self) -> Option<&BackendConn> {
        self.conn.as_deref()
    }

    /// Marks whether the connection holds state of its session that cannot move.
    pub fn set_dirty(&mut self, dirty: bool) {
        self.dirty = dirty;
    }

    /// Closes the connection instead of returning it (broken, or in an unknown state).
    pub fn discard(&mut self) {
        self.conn = None;
    }

    /// Ends the lease: a dirty connection is reset (rolling back any open transaction,
    /// dropping user variables, session settings and prepared statements) before it goes
    /// back; one that cannot be reset is closed.
    pub async fn release(mut self) {
        if !self.dirty {
            return;
        }
        if let Some(mut conn) = self.conn.take() {
            match conn.reset().await {
                Ok(()) => {
                    self.dirty = false;
                    self.state = ConnState::default();
                    self.conn = Some(conn);
                }
                Err(_) => conn.raw.disconnect().await,
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Every lease was counted active when lent (`checkout`).
        crate::metrics::backend_active(-1.0);
        // Given back when this returns: after the connection, so that the session it goes to
        // finds the connection in the pool.
        let _slot = self.slot.take();
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.dirty || !conn.reusable() {
            // Dropping a connection outside a pool closes it.
            drop(conn);
            return;
        }
        let state = std::mem::take(&mut self.state);
        self.pool.give_back(conn, state, self.found_rows);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    impl Since for Instant {
        fn since(&self) -> Instant {
            *self
        }
    }

    #[test]
    fn expired_idle_connections_are_a_prefix() {
        let now = Instant::now();
        let at = |s: u64| now - Duration::from_secs(s);
        let mut list = vec![at(90), at(61), at(60), at(59), at(1)];
        assert_eq!(
            expire(&mut list, Duration::from_secs(60), now),
            vec![at(90), at(61), at(60)]
        );
        assert_eq!(list, vec![at(59), at(1)]);
        assert!(expire(&mut list, Duration::from_secs(60), now).is_empty());
        assert_eq!(list.len(), 2);
        assert_eq!(expire(&mut list, Duration::from_secs(1), now).len(), 2);
        assert!(list.is_empty());
    }
}
