//! The result cache (issue 6): a repeated SELECT answered from this proxy's memory.
//!
//! Off by default; a tenant opts in with `result_cache_ttl_ms` in its limits. Only what the
//! policy marked `cacheable` is cached (a plain SELECT whose answer depends on its text, the
//! session state the proxy replays and the rows of the tables it reads), only outside
//! transactions (a transaction sees its own uncommitted writes and its own snapshot), and only
//! results without warnings (SHOW WARNINGS after a hit must show none, as MySQL would).
//!
//! **Key.** The tenant, the session's current database, the session state the proxy replays
//! on every backend connection (character sets, sql_mode, time_zone... see
//! [`crate::backend::ConnState`]) and the rendered text: two tenants never share an entry, nor
//! two sessions whose state could make the same text answer differently.
//!
//! **Value.** The column definitions and text-protocol rows as they were sent (physical
//! names already mapped), so a hit writes the same bytes again. Bounded by the proxy's total
//! (`max_bytes`, by weight), each tenant's budget (`result_cache_max_bytes`, else
//! `tenant_max_bytes`) and a per-entry cap (`max_entry_bytes`): a result over any of them is
//! simply not cached. Binary-protocol (prepared) results are not cached.
//!
//! **Invalidation.** Every write statement a tenant runs through this proxy (INSERT, UPDATE,
//! DELETE, REPLACE; failed ones too) marks the tables it names as written *after* it ran, and
//! again when the transaction it ran in ends (COMMIT makes it visible to others). An entry
//! remembers the write sequence number when its statement was *sent*; it is stale as soon as
//! any table it read was marked at a later number, so a write racing with a fill cannot leave
//! an old answer behind. By default the mark covers the table's whole database
//! ([`Scope::Database`]): a foreign key `ON DELETE CASCADE` changes tables the statement does
//! not name; `invalidation = "table"` is finer for schemas without cascading keys.
//!
//! **Other proxies.** With Redis configured, every mark is shared with the proxies of the same
//! catalog and theirs with this one (`crate::peers`); the cache is used only while this proxy
//! hears them. Without Redis, writes made through another proxy are only bounded by the TTL.
//!
//! **Limits.** Writes made outside OctoDB (an operator, a schema migration) are only bounded
//! by the TTL: choose it as the staleness the tenant accepts. The write marks are kept for the most recently
//! written tables only (`TRACKED_WRITES`); when the table overflows, every entry filled before
//! is treated as stale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;
use octodb_policy::TableRef;
use serde::Deserialize;

use crate::backend::ConnState;
use crate::metrics;
use crate::peers::{Message, PeerLink, Written};

/// `[result_cache]`: this proxy's bounds for cached results (tenants opt in through their
/// limits). Env: `OCTODB_RESULT_CACHE__<FIELD>`. Needs a restart to change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResultCacheConfig {
    /// Bytes of cached results held by this proxy, all tenants together.
    pub max_bytes: u64,
    /// A tenant's budget when its limits do not set `result_cache_max_bytes`.
    pub tenant_max_bytes: u32,
    /// Largest result cached (column definitions and rows as sent); larger ones stream as usual.
    pub max_entry_bytes: u32,
    /// What one write invalidates: every cached result reading from the same `database`
    /// (default: safe with cascading foreign keys), or only those reading the same `table`.
    pub invalidation: Scope,
}

impl Default for ResultCacheConfig {
    fn default() -> Self {
        ResultCacheConfig {
            max_bytes: 64 << 20,
            tenant_max_bytes: 8 << 20,
            max_entry_bytes: 1 << 20,
            invalidation: Scope::Database,
        }
    }
}

impl ResultCacheConfig {
    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_bytes > 1 << 40 {
            return Err("result_cache.max_bytes must be at most 1 TiB".into());
        }
        if self.max_entry_bytes == 0 || self.tenant_max_bytes == 0 {
            return Err(
                "result_cache.max_entry_bytes and tenant_max_bytes must be at least 1".into(),
            );
        }
        Ok(())
    }
}

/// What a write marks as changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Database,
    Table,
}

/// Write marks kept at most; beyond, all older entries are stale (see the module doc).
const TRACKED_WRITES: usize = 100_000;
/// Statements longer than this are not cached (the key holds the text).
const MAX_SQL: usize = 16 * 1024;
/// Weight added to each packet and entry for bookkeeping.
const OVERHEAD: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant_id: u64,
    current_db: Option<Box<str>>,
    state: ConnState,
    sql: Box<str>,
}

/// What a write marks: `(tenant, physical db, table or None for the whole database)`.
type Mark = (u64, String, Option<String>);

/// One cached result: the packets as sent, and what decides whether it is still good.
#[derive(Debug)]
pub struct Entry {
    /// Column definition payloads (Protocol::ColumnDefinition41).
    pub columns: Vec<Box<[u8]>>,
    /// Text-protocol row payloads.
    pub rows: Vec<Box<[u8]>>,
    tenant_id: u64,
    reads: Vec<Mark>,
    /// The write sequence number when the statement was sent.
    ticket: u64,
    filled: Instant,
    ttl: Duration,
    bytes: usize,
}

/// A statement the session may answer from, or put into, the cache: what `lookup` needs.
#[derive(Debug)]
pub struct Lookup {
    key: Key,
    ttl: Duration,
    budget: usize,
    reads: Vec<Mark>,
    ticket: u64,
}

impl Lookup {
    /// Largest result worth capturing for this statement.
    pub fn capture_limit(&self, config_max_entry: u32) -> usize {
        self.budget.min(config_max_entry as usize)
    }
}

struct PerEntry;

impl Expiry<Key, Arc<Entry>> for PerEntry {
    fn expire_after_create(&self, _: &Key, v: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// Write marks and the sequence they are numbered from.
struct Writes {
    seq: AtomicU64,
    /// Entries filled before this number are stale (the marks were dropped then).
    floor: AtomicU64,
    marks: Mutex<HashMap<Mark, u64>>,
}

use crate::sync::lock;

/// Bytes held, per tenant and in total (updated on insert and by the removal listener).
#[derive(Default)]
struct Usage {
    tenants: Mutex<HashMap<u64, usize>>,
    total: AtomicU64,
}

impl Usage {
    fn add(&self, tenant: u64, bytes: usize) {
        *lock(&self.tenants).entry(tenant).or_default() += bytes;
        let total = self.total.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        metrics::result_cache_bytes(total);
    }

    fn remove(&self, tenant: u64, bytes: usize) {
        let mut tenants = lock(&self.tenants);
        if let Some(used) = tenants.get_mut(&tenant) {
            *used = used.saturating_sub(bytes);
            if *used == 0 {
                tenants.remove(&tenant);
            }
        }
        drop(tenants);
        let total = self
            .total
            .fetch_sub(bytes as u64, Ordering::Relaxed)
            .saturating_sub(bytes as u64);
        metrics::result_cache_bytes(total);
    }

    fn of(&self, tenant: u64) -> usize {
        lock(&self.tenants).get(&tenant).copied().unwrap_or(0)
    }
}

/// Counters of this cache alone (the metrics are process-wide), for tests and diagnostics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
    pub stored: u64,
}

/// The proxy's result cache, shared by all sessions.
pub struct ResultCache {
    config: ResultCacheConfig,
    entries: Cache<Key, Arc<Entry>>,
    writes: Writes,
    usage: Arc<Usage>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    stored: AtomicU64,
    /// The other proxies of the catalog, when shared through Redis.
    peers: OnceLock<PeerLink>,
}

/// The session facts a cache decision depends on.
pub struct SessionView<'a> {
    pub tenant_id: u64,
    pub current_db: Option<&'a str>,
    pub state: &'a ConnState,
    /// The tenant's TTL now (`None`: not opted in).
    pub ttl_ms: Option<u32>,
    /// The tenant's own budget, if set.
    pub max_bytes: Option<u32>,
}

impl ResultCache {
    pub fn new(config: ResultCacheConfig) -> Self {
        let usage = Arc::new(Usage::default());
        let listener_usage = usage.clone();
        let entries = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_: &Key, v: &Arc<Entry>| u32::try_from(v.bytes).unwrap_or(u32::MAX))
            .expire_after(PerEntry)
            .eviction_listener(move |_: Arc<Key>, v: Arc<Entry>, _: RemovalCause| {
                listener_usage.remove(v.tenant_id, v.bytes);
            })
            .build();
        ResultCache {
            config,
            entries,
            writes: Writes {
                seq: AtomicU64::new(0),
                floor: AtomicU64::new(0),
                marks: Mutex::new(HashMap::new()),
            },
            usage,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            peers: OnceLock::new(),
        }
    }

    /// Shares write marks with the other proxies through `link` (once, at start): from now
    /// on the cache is used only while [`ResultCache::hearing`] says so.
    pub fn share(&self, link: PeerLink) {
        let _ = self.peers.set(link);
    }

    /// Subscribed to the other proxies' marks (`true`), or no longer. On subscribing, every
    /// entry filled before is stale: writes made meanwhile were heard by no one.
    pub fn hearing(&self, on: bool) {
        let Some(peers) = self.peers.get() else {
            return;
        };
        let was = peers.set_listening(on);
        if on && !was {
            self.all_stale();
        }
    }

    /// Applies a message of another proxy; `follows`: nothing of its sender was missed
    /// before it (else every entry is stale first).
    pub fn heard(&self, m: &Message, follows: bool) {
        if !follows {
            self.all_stale();
            metrics::result_cache_peer_gap();
        }
        for w in &m.writes {
            // Marked even where this proxy holds nothing of the tenant: a fill may be on its
            // way.
            self.mark(w.tenant, &w.table_refs());
        }
        metrics::result_cache_peer_heard();
    }

    /// Every entry filled before now is stale.
    fn all_stale(&self) {
        let at = self.writes.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.writes.floor.store(at, Ordering::SeqCst);
    }

    pub fn config(&self) -> &ResultCacheConfig {
        &self.config
    }

    fn marks_of(&self, tenant_id: u64, tables: &[TableRef]) -> Vec<Mark> {
        let mut out: Vec<Mark> = Vec::with_capacity(tables.len());
        for t in tables {
            let table = match self.config.invalidation {
                Scope::Database => None,
                Scope::Table => Some(t.table.clone()),
            };
            let mark = (tenant_id, t.db.clone(), table);
            if !out.contains(&mark) {
                out.push(mark);
            }
        }
        out
    }

    /// Where a cacheable statement (reading `reads`, rendered as `sql`) stands for this
    /// session: `None` when the tenant has not opted in or the statement is too long. Taken
    /// *before* the statement is sent (it numbers the fill against concurrent writes).
    pub fn prepare(&self, s: &SessionView<'_>, sql: &str, reads: &[TableRef]) -> Option<Lookup> {
        let ttl = Duration::from_millis(u64::from(s.ttl_ms.filter(|ms| *ms > 0)?));
        if sql.len() > MAX_SQL {
            return None;
        }
        if self.peers.get().is_some_and(|p| !p.listening()) {
            // Deaf to the other proxies' writes: nothing from the cache, nothing into it.
            return None;
        }
        let budget = s.max_bytes.unwrap_or(self.config.tenant_max_bytes) as usize;
        Some(Lookup {
            key: Key {
                tenant_id: s.tenant_id,
                current_db: s.current_db.map(Into::into),
                state: s.state.clone(),
                sql: sql.into(),
            },
            ttl,
            budget,
            reads: self.marks_of(s.tenant_id, reads),
            ticket: self.writes.seq.load(Ordering::SeqCst),
        })
    }

    /// The cached result for `l`, if there is a good one (counted as a hit or a miss).
    pub fn get(&self, l: &Lookup) -> Option<Arc<Entry>> {
        let found = self.entries.get(&l.key).filter(|e| {
            // The tenant may have shortened its TTL since the fill.
            let fresh = e.filled.elapsed() < e.ttl.min(l.ttl);
            let good = fresh && self.unwritten(e);
            if !good {
                self.entries.invalidate(&l.key);
            }
            good
        });
        match &found {
            Some(_) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                metrics::result_cache_hit();
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                metrics::result_cache_miss();
            }
        }
        found
    }

    /// No table `e` read was written since its statement was sent.
    fn unwritten(&self, e: &Entry) -> bool {
        if e.ticket < self.writes.floor.load(Ordering::SeqCst) {
            return false;
        }
        let marks = lock(&self.writes.marks);
        e.reads
            .iter()
            .all(|m| marks.get(m).is_none_or(|at| *at <= e.ticket))
    }

    /// Stores a captured result for `l` if it fits the tenant's budget; true if stored.
    pub fn put(&self, l: Lookup, columns: Vec<Box<[u8]>>, rows: Vec<Box<[u8]>>) -> bool {
        let packets: usize = columns
            .iter()
            .chain(&rows)
            .map(|p| p.len() + OVERHEAD)
            .sum();
        let bytes = packets + l.key.sql.len() + OVERHEAD * 8;
        if bytes > l.budget || self.usage.of(l.key.tenant_id) + bytes > l.budget {
            return false;
        }
        let entry = Arc::new(Entry {
            columns,
            rows,
            tenant_id: l.key.tenant_id,
            reads: l.reads,
            ticket: l.ticket,
            filled: Instant::now(),
            ttl: l.ttl,
            bytes,
        });
        // Written meanwhile: an entry that would be stale at once is not worth its room.
        if !self.unwritten(&entry) {
            return false;
        }
        self.usage.add(entry.tenant_id, bytes);
        self.entries.insert(l.key, entry);
        self.stored.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Marks `tables` of `tenant_id` as written now: entries that read them and were filled
    /// from a statement sent before are stale. Call after the write ran (and again when its
    /// transaction ends). Nothing to mark for a tenant that has not `opted_in` and holds no
    /// entries (it may have held some before opting out: those are marked too).
    pub fn invalidate(&self, tenant_id: u64, tables: &[TableRef], opted_in: bool) {
        if tables.is_empty() || (!opted_in && self.usage.of(tenant_id) == 0) {
            return;
        }
        self.mark(tenant_id, tables);
        if let Some(peers) = self.peers.get() {
            peers.send(Written::new(tenant_id, tables));
        }
    }

    fn mark(&self, tenant_id: u64, tables: &[TableRef]) {
        if tables.is_empty() {
            return;
        }
        let marks = self.marks_of(tenant_id, tables);
        let at = self.writes.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut held = lock(&self.writes.marks);
        for m in marks {
            held.insert(m, at);
        }
        if held.len() > TRACKED_WRITES {
            held.clear();
            self.writes.floor.store(at, Ordering::SeqCst);
        }
        drop(held);
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        metrics::result_cache_invalidation();
    }

    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
        }
    }

    /// Bytes the tenant's entries hold now (removals are applied lazily by the cache).
    pub fn tenant_bytes(&self, tenant_id: u64) -> usize {
        self.entries.run_pending_tasks();
        self.usage.of(tenant_id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cache(scope: Scope) -> ResultCache {
        ResultCache::new(ResultCacheConfig {
            invalidation: scope,
            ..ResultCacheConfig::default()
        })
    }

    fn view(tenant_id: u64, state: &ConnState) -> SessionView<'_> {
        SessionView {
            tenant_id,
            current_db: Some("app"),
            state,
            ttl_ms: Some(60_000),
            max_bytes: None,
        }
    }

    fn t(table: &str) -> TableRef {
        TableRef::new("t_1__app", table)
    }

    fn fill(c: &ResultCache, v: &SessionView<'_>, sql: &str, reads: &[TableRef]) -> bool {
        let l = c.prepare(v, sql, reads).unwrap();
        c.put(
            l,
            vec![b"col".to_vec().into()],
            vec![b"row".to_vec().into()],
        )
    }

    fn hit(c: &ResultCache, v: &SessionView<'_>, sql: &str, reads: &[TableRef]) -> bool {
        let l = c.prepare(v, sql, reads).unwrap();
        c.get(&l).is_some()
    }

    #[tokio::test]
    async fn shared_with_other_proxies_only_while_hearing_them() {
        let c = cache(Scope::Table);
        let state = ConnState::default();
        let v = view(1, &state);
        assert!(fill(&c, &v, "SELECT a FROM t", &[t("t")]));
        let (link, _outbox) = PeerLink::new();
        c.share(link);
        // Not subscribed (yet, or any more): the cache is neither read nor filled.
        assert!(c.prepare(&v, "SELECT a FROM t", &[t("t")]).is_none());
        // Subscribing makes what was filled before stale: writes meanwhile went unheard.
        c.hearing(true);
        assert!(!hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(fill(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(fill(&c, &v, "SELECT b FROM u", &[t("u")]));
        assert!(hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        // Another proxy's write to t: only t's entry goes (table scope).
        let m = |first, tables: &[TableRef]| Message {
            from: "p2".into(),
            first,
            writes: vec![Written::new(1, tables)],
        };
        c.heard(&m(1, &[t("t")]), true);
        assert!(!hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(hit(&c, &v, "SELECT b FROM u", &[t("u")]));
        // A message of another tenant changes nothing here.
        c.heard(
            &Message {
                writes: vec![Written::new(2, &[t("u")])],
                ..m(2, &[])
            },
            true,
        );
        assert!(hit(&c, &v, "SELECT b FROM u", &[t("u")]));
        // A missed message: everything is stale.
        c.heard(&m(9, &[]), false);
        assert!(!hit(&c, &v, "SELECT b FROM u", &[t("u")]));
        // Deaf again: no cache.
        c.hearing(false);
        assert!(c.prepare(&v, "SELECT b FROM u", &[t("u")]).is_none());
    }

    #[test]
    fn keys_separate_tenants_databases_and_session_state() {
        let c = cache(Scope::Table);
        let state = ConnState::default();
        let v = view(1, &state);
        assert!(fill(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(!hit(&c, &view(2, &state), "SELECT a FROM t", &[t("t")]));
        let other_db = SessionView {
            current_db: Some("other"),
            ..view(1, &state)
        };
        assert!(!hit(&c, &other_db, "SELECT a FROM t", &[t("t")]));
        let mut latin = ConnState::default();
        latin.set("names", "SET NAMES latin1".into());
        assert!(!hit(&c, &view(1, &latin), "SELECT a FROM t", &[t("t")]));
        let off = SessionView {
            ttl_ms: None,
            ..view(1, &state)
        };
        assert!(c.prepare(&off, "SELECT a FROM t", &[t("t")]).is_none());
        assert_eq!(c.stats().hits, 1);
    }

    #[test]
    fn writes_invalidate_by_table_or_database() {
        let c = cache(Scope::Table);
        let state = ConnState::default();
        let v = view(1, &state);
        fill(&c, &v, "SELECT a FROM t", &[t("t")]);
        // Another tenant's write, or another table, leaves it alone.
        c.invalidate(2, &[t("t")], true);
        c.invalidate(1, &[t("u")], true);
        assert!(hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        c.invalidate(1, &[t("t")], true);
        assert!(!hit(&c, &v, "SELECT a FROM t", &[t("t")]));

        let c = cache(Scope::Database);
        fill(&c, &v, "SELECT a FROM t", &[t("t")]);
        c.invalidate(1, &[t("u")], true);
        assert!(!hit(&c, &v, "SELECT a FROM t", &[t("t")]));

        // A tenant that opted out still has its old entries marked; one with none, nothing.
        fill(&c, &v, "SELECT a FROM t", &[t("t")]);
        c.invalidate(1, &[t("t")], false);
        assert!(!hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        let before = c.stats().invalidations;
        c.invalidate(9, &[t("t")], false);
        assert_eq!(c.stats().invalidations, before);
    }

    #[test]
    fn a_write_during_the_fill_makes_it_stale() {
        let c = cache(Scope::Table);
        let state = ConnState::default();
        let v = view(1, &state);
        let l = c.prepare(&v, "SELECT a FROM t", &[t("t")]).unwrap();
        // The statement was sent, then a write ran before its answer was stored.
        c.invalidate(1, &[t("t")], true);
        assert!(!c.put(l, Vec::new(), Vec::new()));
        assert!(!hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        // Sent after the write: good.
        assert!(fill(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(hit(&c, &v, "SELECT a FROM t", &[t("t")]));
    }

    #[test]
    fn budgets_and_ttl() {
        let c = cache(Scope::Table);
        let state = ConnState::default();
        let small = SessionView {
            max_bytes: Some(300),
            ..view(1, &state)
        };
        assert!(fill(&c, &small, "SELECT a FROM t", &[t("t")]));
        // The tenant's budget is used up; another tenant has its own.
        assert!(!fill(&c, &small, "SELECT b FROM t", &[t("t")]));
        assert!(fill(&c, &view(2, &state), "SELECT b FROM t", &[t("t")]));
        assert!(c.tenant_bytes(1) > 0 && c.tenant_bytes(1) <= 300);
        // A shorter TTL applies to entries already there.
        let short = SessionView {
            ttl_ms: Some(1),
            ..view(2, &state)
        };
        std::thread::sleep(Duration::from_millis(5));
        assert!(!hit(&c, &short, "SELECT b FROM t", &[t("t")]));
    }

    #[test]
    fn too_many_marks_make_everything_older_stale() {
        let c = cache(Scope::Table);
        let state = ConnState::default();
        let v = view(1, &state);
        fill(&c, &v, "SELECT a FROM t", &[t("t")]);
        for i in 0..=TRACKED_WRITES {
            c.invalidate(3, &[TableRef::new("x", &i.to_string())], true);
        }
        assert!(!hit(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(fill(&c, &v, "SELECT a FROM t", &[t("t")]));
        assert!(hit(&c, &v, "SELECT a FROM t", &[t("t")]));
    }
}
