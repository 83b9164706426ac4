//! The decision cache: a repeated statement is not parsed again.
//!
//! A decision depends on the statement text and on everything the policy reads from the
//! session: the tenant and the version of its name mapping, the current database, the user
//! (USER() is answered from it) and whether the text arrives as a prepared statement. All of
//! it is in the key, so a cached decision is exactly what the policy would decide now.
//!
//! Two levels. The exact level is keyed by the text. The shape level serves COM_QUERY texts
//! that repeat a statement with new literals (`WHERE id=5012`, then `id=77`), which the exact
//! level would miss every time: it is keyed by the same context plus the statement's shape
//! (`octodb_policy::shape`) and holds the policy's template for it, which the statement's
//! literals are spliced into (`octodb_policy::instantiate`): a few hundred nanoseconds
//! instead of a full check. Decisions made that way are not stored in the exact level: with
//! a new literal in almost every text, they would only push out the statements that do
//! repeat. Refusals are never shape-cached; a shape whose decision cannot be shared is
//! remembered as such, so it costs one extra check once, not on every miss. In debug builds
//! every shape-level hit is also checked in full and must agree, so every test that goes
//! through the proxy is a differential test of the shape level.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use moka::sync::Cache;
use octodb_policy::{Decision, Pattern, Refusal, SessionContext, Template, Unfit};

use crate::metrics;

/// What a decision depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant_id: u64,
    mapping_version: u64,
    prepared: bool,
    current_db: Option<Box<str>>,
    user: Box<str>,
    sql: Box<str>,
}

/// What a shape's template depends on: the context of [`Key`] (COM_QUERY only, so no
/// `prepared`) and the shape instead of the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ShapeKey {
    tenant_id: u64,
    mapping_version: u64,
    current_db: Option<Box<str>>,
    user: Box<str>,
    shape: Box<str>,
}

/// The context of [`ShapeKey`] alone: whose latest patterns [`DecisionCache::seeds`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeedKey {
    tenant_id: u64,
    mapping_version: u64,
    current_db: Option<Box<str>>,
    user: Box<str>,
}

/// A statement's pattern and its shape's template.
type Seed = Arc<(Pattern, Arc<Template>)>;

/// A shape's entry: its template, or the fact that it has none.
#[derive(Clone)]
enum ShapeEntry {
    Template(Arc<Template>),
    Unfit,
}

/// A cached outcome of `octodb_policy::check`.
pub type Outcome = Arc<Result<Decision, Refusal>>;

/// Counts of the shape level's work, for tests and the report of a benchmark.
#[derive(Debug, Default)]
pub struct ShapeCounts {
    /// Decisions made from a template.
    pub hits: AtomicU64,
    /// Templates stored.
    pub templates: AtomicU64,
    /// Templates refused because instantiating them did not reproduce the full check.
    pub mismatches: AtomicU64,
}

/// Decisions shared by all sessions of a proxy, bounded by total statement size.
#[derive(Clone)]
pub struct DecisionCache {
    inner: Cache<Key, Outcome, ahash::RandomState>,
    shapes: Cache<ShapeKey, ShapeEntry, ahash::RandomState>,
    /// The latest patterns found per context, most recent first, which a session starts
    /// with: a short session (a connection per transaction) then recognises its statements
    /// without lexing them or reaching the shared levels either.
    seeds: Arc<std::sync::Mutex<std::collections::HashMap<SeedKey, Vec<Seed>, ahash::RandomState>>>,
    counts: Arc<ShapeCounts>,
}

/// A session's own copy of the templates it used, found by shape alone.
///
/// A template depends on the context as much as on the shape. The memo holds templates for
/// one context (tenant, name mapping version, current database, user) and empties itself when
/// the session's context changes, so a template is only ever used in the context the shared
/// level made it for. It holds at most [`ShapeMemo::CAPACITY`] shapes and starts over when
/// full: a session that cycles through many shapes goes to the shared level, as it did before.
#[derive(Default)]
pub struct ShapeMemo {
    tenant_id: u64,
    mapping_version: u64,
    current_db: Option<Box<str>>,
    user: Box<str>,
    templates: std::collections::HashMap<Box<str>, Arc<Template>, ahash::RandomState>,
    /// The latest statements' patterns with their templates, most recent first.
    patterns: Vec<Seed>,
    /// Whether `patterns` started from the shared seeds of the current context.
    seeded: bool,
}

impl ShapeMemo {
    /// Shapes a session keeps at most.
    pub const CAPACITY: usize = 64;

    /// Empties the memo if `ctx` is not the context its templates were made for.
    fn follow(&mut self, tenant_id: u64, ctx: &SessionContext<'_>) {
        let same = self.tenant_id == tenant_id
            && self.mapping_version == ctx.mapping.version
            && self.current_db.as_deref() == ctx.current_db
            && &*self.user == ctx.user;
        if !same {
            self.templates.clear();
            self.patterns.clear();
            self.seeded = false;
            self.tenant_id = tenant_id;
            self.mapping_version = ctx.mapping.version;
            self.current_db = ctx.current_db.map(Into::into);
            self.user = ctx.user.into();
        }
    }

    /// Patterns a session keeps at most: each statement may be compared with all of them.
    pub const PATTERNS: usize = 8;

    /// Keeps `sql`'s pattern (when it has one) first, for the next statements of its shape;
    /// returns it, to be shared.
    fn remember(
        &mut self,
        shape: &octodb_policy::Shape,
        sql: &str,
        template: Arc<Template>,
    ) -> Option<Seed> {
        let seed = Arc::new((shape.pattern(sql)?, template));
        self.patterns.truncate(Self::PATTERNS - 1);
        self.patterns.insert(0, seed.clone());
        Some(seed)
    }

    fn seed_key(&self) -> SeedKey {
        SeedKey {
            tenant_id: self.tenant_id,
            mapping_version: self.mapping_version,
            current_db: self.current_db.clone(),
            user: self.user.clone(),
        }
    }

    fn insert(&mut self, shape: Box<str>, template: Arc<Template>) {
        if self.templates.len() >= Self::CAPACITY {
            self.templates.clear();
        }
        self.templates.insert(shape, template);
    }

    /// Number of shapes held (for tests).
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

/// Statements longer than this are checked every time rather than cached.
const MAX_CACHED_SQL: usize = 16 * 1024;

impl DecisionCache {
    /// A cache holding decisions for statements of about `max_bytes` bytes of text in total,
    /// and shape templates in a quarter of that again.
    pub fn new(max_bytes: u64) -> Self {
        let inner = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Key, _v: &Outcome| u32::try_from(k.sql.len() + 128).unwrap_or(u32::MAX))
            .build_with_hasher(ahash::RandomState::new());
        let shapes = Cache::builder()
            .max_capacity(max_bytes / 4)
            .weigher(|k: &ShapeKey, v: &ShapeEntry| {
                let template = match v {
                    ShapeEntry::Template(t) => t.sql().len() + 128,
                    ShapeEntry::Unfit => 0,
                };
                u32::try_from(k.shape.len() + template + 128).unwrap_or(u32::MAX)
            })
            .build_with_hasher(ahash::RandomState::new());
        DecisionCache {
            inner,
            shapes,
            seeds: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// The policy's decision for `sql` in `ctx`, from the cache when possible.
    pub fn check(
        &self,
        tenant_id: u64,
        sql: &str,
        ctx: &SessionContext<'_>,
        prepared: bool,
        memo: &mut ShapeMemo,
    ) -> Outcome {
        if sql.len() > MAX_CACHED_SQL {
            return Arc::new(octodb_policy::check(sql, ctx, prepared));
        }
        // A COM_QUERY text with literals: the session's own templates first, without the
        // shared levels' keys and lookups; first by the patterns of its latest statements,
        // which need no lexing, then by shape.
        let shape = if prepared {
            None
        } else {
            memo.follow(tenant_id, ctx);
            if !memo.seeded {
                self.seed(memo);
            }
            if let Some(decided) = self.by_patterns(memo, sql, ctx) {
                return decided;
            }
            octodb_policy::shape(sql)
        };
        if let Some(shape) = &shape {
            if let Some(template) = memo.templates.get(shape.key()).cloned() {
                if let Some(decided) = self.by_template(&template, shape, sql, ctx) {
                    let seed = memo.remember(shape, sql, template);
                    self.share(memo, seed);
                    return decided;
                }
            }
        }
        let key = Key {
            tenant_id,
            mapping_version: ctx.mapping.version,
            prepared,
            current_db: ctx.current_db.map(Into::into),
            user: ctx.user.into(),
            sql: sql.into(),
        };
        if let Some(hit) = self.inner.get(&key) {
            return hit;
        }
        let Some(shape) = shape else {
            return self.decide(key, sql, ctx);
        };
        let shape_key = ShapeKey {
            tenant_id,
            mapping_version: ctx.mapping.version,
            current_db: key.current_db.clone(),
            user: key.user.clone(),
            shape: shape.key().into(),
        };
        match self.shapes.get(&shape_key) {
            Some(ShapeEntry::Template(template)) => {
                if let Some(decided) = self.by_template(&template, &shape, sql, ctx) {
                    let seed = memo.remember(&shape, sql, template.clone());
                    self.share(memo, seed);
                    memo.insert(shape_key.shape, template);
                    return decided;
                }
                self.decide(key, sql, ctx)
            }
            Some(ShapeEntry::Unfit) => self.decide(key, sql, ctx),
            None => {
                metrics::shape_cache(metrics::SHAPE_MISS);
                let outcome = self.decide(key, sql, ctx);
                // Refusals are never shape-cached: the next statement of the shape may pass.
                if let Ok(decided) = outcome.as_ref() {
                    let entry = match octodb_policy::template(sql, &shape, decided, ctx) {
                        Ok(template) => {
                            self.counts.templates.fetch_add(1, Ordering::Relaxed);
                            ShapeEntry::Template(Arc::new(template))
                        }
                        Err(Unfit::Ineligible) => ShapeEntry::Unfit,
                        Err(Unfit::Mismatch) => {
                            self.counts.mismatches.fetch_add(1, Ordering::Relaxed);
                            metrics::shape_cache(metrics::SHAPE_MISMATCH);
                            tracing::warn!(
                                shape_literals = shape.literals(),
                                "a shape template did not reproduce the full check; not used"
                            );
                            ShapeEntry::Unfit
                        }
                    };
                    if let ShapeEntry::Template(template) = &entry {
                        let seed = memo.remember(&shape, sql, template.clone());
                        self.share(memo, seed);
                        memo.insert(shape_key.shape.clone(), template.clone());
                    }
                    self.shapes.insert(shape_key, entry);
                }
                outcome
            }
        }
    }

    /// The decision for `sql` made from its shape's template, `None` if the template does
    /// not fit the shape.
    fn by_template(
        &self,
        template: &Template,
        shape: &octodb_policy::Shape,
        sql: &str,
        ctx: &SessionContext<'_>,
    ) -> Option<Outcome> {
        let forward = octodb_policy::instantiate(template, shape)?;
        Some(self.shape_hit(forward, sql, ctx))
    }

    /// A decision made from a template: counted, and in debug builds checked in full.
    fn shape_hit(
        &self,
        forward: octodb_policy::Forward,
        sql: &str,
        ctx: &SessionContext<'_>,
    ) -> Outcome {
        self.counts.hits.fetch_add(1, Ordering::Relaxed);
        metrics::shape_cache(metrics::SHAPE_HIT);
        let decided = Ok(Decision::Forward(forward));
        if cfg!(debug_assertions) {
            let full = octodb_policy::check(sql, ctx, false);
            debug_assert_eq!(decided, full, "shape cache disagrees on {sql:?}");
        }
        Arc::new(decided)
    }

    /// Contexts whose patterns are shared at most; beyond, the seeds start over.
    const SEED_CONTEXTS: usize = 4096;

    /// Starts the memo's patterns from the ones shared for its context.
    fn seed(&self, memo: &mut ShapeMemo) {
        memo.seeded = true;
        let seeds = crate::backend::lock(&self.seeds);
        if seeds.is_empty() {
            return;
        }
        if let Some(shared) = seeds.get(&memo.seed_key()) {
            memo.patterns.clone_from(shared);
        }
    }

    /// Shares a pattern the session just found (by lexing) for its context.
    fn share(&self, memo: &ShapeMemo, seed: Option<Seed>) {
        let Some(seed) = seed else {
            return;
        };
        let mut seeds = crate::backend::lock(&self.seeds);
        if seeds.len() >= Self::SEED_CONTEXTS {
            seeds.clear();
        }
        let shared = seeds.entry(memo.seed_key()).or_default();
        shared.retain(|s| !Arc::ptr_eq(&s.1, &seed.1));
        shared.truncate(ShapeMemo::PATTERNS - 1);
        shared.insert(0, seed);
    }

    /// The decision for `sql` from the first of the memo's patterns it matches, which then
    /// comes first.
    fn by_patterns(
        &self,
        memo: &mut ShapeMemo,
        sql: &str,
        ctx: &SessionContext<'_>,
    ) -> Option<Outcome> {
        let (at, literals) = memo
            .patterns
            .iter()
            .enumerate()
            .find_map(|(i, seed)| Some((i, seed.0.literals(sql)?)))?;
        let forward = octodb_policy::instantiate_literals(&memo.patterns[at].1, &literals)?;
        memo.patterns[..=at].rotate_right(1);
        Some(self.shape_hit(forward, sql, ctx))
    }

    /// The full check, stored in the exact level.
    fn decide(&self, key: Key, sql: &str, ctx: &SessionContext<'_>) -> Outcome {
        let outcome = Arc::new(octodb_policy::check(sql, ctx, key.prepared));
        self.inner.insert(key, outcome.clone());
        outcome
    }

    /// The shape level's counts.
    pub fn shape_counts(&self) -> &ShapeCounts {
        &self.counts
    }

    /// Number of cached decisions (approximate; for metrics and tests).
    pub fn len(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use octodb_policy::Mapping;

    fn mapping(version: u64, physical: &str) -> Mapping {
        let mut m = Mapping {
            version,
            ..Mapping::default()
        };
        m.databases.insert("app".into(), physical.into());
        m
    }

    fn forwarded(o: &Outcome) -> String {
        match o.as_ref() {
            Ok(Decision::Forward(f)) => f.sql.clone(),
            other => panic!("not forwarded: {other:?}"),
        }
    }

    #[test]
    fn decisions_are_reused_only_for_the_same_context() {
        let cache = DecisionCache::new(1 << 20);
        let mut memo = ShapeMemo::default();
        let m1 = mapping(1, "t_a__app");
        let ctx = SessionContext {
            mapping: &m1,
            current_db: Some("app"),
            user: "u",
        };
        let a = cache.check(1, "SELECT * FROM t", &ctx, false, &mut memo);
        let b = cache.check(1, "SELECT * FROM t", &ctx, false, &mut memo);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(forwarded(&a).contains("t_a__app"));
        // Another tenant with the same mapping version gets its own decision.
        let m2 = mapping(1, "t_b__app");
        let ctx2 = SessionContext {
            mapping: &m2,
            ..ctx
        };
        let c = cache.check(2, "SELECT * FROM t", &ctx2, false, &mut memo);
        assert!(forwarded(&c).contains("t_b__app"));
        // A new mapping version of the same tenant is decided afresh.
        let m3 = mapping(2, "t_a2__app");
        let ctx3 = SessionContext {
            mapping: &m3,
            ..ctx
        };
        assert!(
            forwarded(&cache.check(1, "SELECT * FROM t", &ctx3, false, &mut memo))
                .contains("t_a2__app")
        );
        // Refusals are cached too, and prepared-ness is part of the key.
        let r = cache.check(1, "SELECT ?", &ctx, false, &mut memo);
        assert!(r.is_err());
        assert!(cache.check(1, "SELECT ?", &ctx, true, &mut memo).is_ok());
        assert!(!cache.is_empty());
    }

    fn ctx_of<'a>(m: &'a Mapping, db: Option<&'a str>, user: &'a str) -> SessionContext<'a> {
        SessionContext {
            mapping: m,
            current_db: db,
            user,
        }
    }

    /// Statements differing only in literals share one template, each decision is exactly
    /// the full check's (debug builds also assert that on every hit), and the exact level
    /// is not filled with them.
    #[test]
    fn literals_share_one_template() {
        let cache = DecisionCache::new(1 << 20);
        let mut memo = ShapeMemo::default();
        let m = mapping(1, "t_a__app");
        let ctx = ctx_of(&m, Some("app"), "u");
        for id in 0..200 {
            for sql in [
                format!("SELECT c FROM sbtest1 WHERE id={id}"),
                format!("SELECT c FROM sbtest1 WHERE name='n\\{id}''s' LIMIT {id}, 5"),
            ] {
                let got = cache.check(1, &sql, &ctx, false, &mut memo);
                assert_eq!(*got, octodb_policy::check(&sql, &ctx, false), "{sql}");
            }
        }
        let counts = cache.shape_counts();
        assert_eq!(counts.templates.load(Ordering::Relaxed), 2);
        assert_eq!(counts.hits.load(Ordering::Relaxed), 398);
        assert_eq!(counts.mismatches.load(Ordering::Relaxed), 0);
        assert_eq!(cache.len(), 2);
        assert!(forwarded(&cache.check(
            1,
            "SELECT c FROM sbtest1 WHERE id=77",
            &ctx,
            false,
            &mut memo
        ))
        .ends_with("WHERE id = 77"));
    }

    /// A new session starts with the patterns other sessions of its context found: its first
    /// statement of a known shape is recognised without lexing (so it adds no template to its
    /// memo), and another context gets none of them.
    #[test]
    fn new_sessions_start_with_the_patterns_of_their_context() {
        let cache = DecisionCache::new(1 << 20);
        let (m1, m2) = (mapping(1, "t_a__app"), mapping(1, "t_b__app"));
        let ctx = ctx_of(&m1, Some("app"), "u");
        let mut first = ShapeMemo::default();
        cache.check(1, "SELECT a FROM t WHERE id=1", &ctx, false, &mut first);
        assert_eq!(first.len(), 1, "the first session lexes the statement");
        let hits = cache.shape_counts().hits.load(Ordering::Relaxed);
        for (id, session) in (2..6).zip(std::iter::repeat_with(ShapeMemo::default)) {
            let mut memo = session;
            let sql = format!("SELECT a FROM t WHERE id={id}");
            let o = cache.check(1, &sql, &ctx, false, &mut memo);
            assert!(forwarded(&o).ends_with(&format!("id = {id}")), "{o:?}");
            assert!(forwarded(&o).contains("t_a__app"));
            assert!(
                memo.is_empty(),
                "session {id} lexed a statement of a known shape"
            );
        }
        assert_eq!(cache.shape_counts().hits.load(Ordering::Relaxed), hits + 4);
        // Another user, another tenant: nothing shared with them.
        for (tenant, ctx, physical) in [
            (1, ctx_of(&m1, Some("app"), "v"), "t_a__app"),
            (2, ctx_of(&m2, Some("app"), "u"), "t_b__app"),
        ] {
            let mut memo = ShapeMemo::default();
            let o = cache.check(tenant, "SELECT a FROM t WHERE id=9", &ctx, false, &mut memo);
            assert!(forwarded(&o).contains(physical), "{o:?}");
            assert_eq!(memo.len(), 1, "a pattern of another context was used");
        }
    }

    /// A template is used only in the context it was made in: another tenant, mapping
    /// version, current database or user gets its own.
    #[test]
    fn templates_are_reused_only_for_the_same_context() {
        let cache = DecisionCache::new(1 << 20);
        let mut memo = ShapeMemo::default();
        let (m1, m2, m3) = (
            mapping(1, "t_a__app"),
            mapping(1, "t_b__app"),
            mapping(2, "t_a2__app"),
        );
        // One session's memo throughout: it must follow each change of context.
        let warm = |tenant, ctx: &SessionContext<'_>, memo: &mut ShapeMemo| {
            cache.check(tenant, "SELECT a FROM t WHERE id=1", ctx, false, memo);
            forwarded(&cache.check(tenant, "SELECT a FROM t WHERE id=2", ctx, false, memo))
        };
        assert!(warm(1, &ctx_of(&m1, Some("app"), "u"), &mut memo).contains("t_a__app"));
        assert!(warm(2, &ctx_of(&m2, Some("app"), "u"), &mut memo).contains("t_b__app"));
        assert!(warm(1, &ctx_of(&m3, Some("app"), "u"), &mut memo).contains("t_a2__app"));
        // No current database: the unqualified table is refused, never templated.
        let none = ctx_of(&m1, None, "u");
        assert!(cache
            .check(1, "SELECT a FROM t WHERE id=3", &none, false, &mut memo)
            .is_err());
        assert!(cache
            .check(1, "SELECT a FROM t WHERE id=4", &none, false, &mut memo)
            .is_err());
        let other_user = ctx_of(&m1, Some("app"), "v");
        assert!(warm(1, &other_user, &mut memo).contains("t_a__app"));
        // Back in the first context: the memo starts over from the shared level's template.
        assert!(warm(1, &ctx_of(&m1, Some("app"), "u"), &mut memo).contains("t_a__app"));
        assert_eq!(cache.shape_counts().templates.load(Ordering::Relaxed), 4);
    }

    /// Refusals, prepared statements and decisions that depend on more than the literals'
    /// positions never go through a template.
    #[test]
    fn no_template_where_it_cannot_be_shared() {
        let cache = DecisionCache::new(1 << 20);
        let mut memo = ShapeMemo::default();
        let m = mapping(1, "t_a__app");
        let ctx = ctx_of(&m, Some("app"), "u");
        for i in 0..3 {
            for (sql, prepared) in [
                (format!("SELECT SLEEP({i}) FROM t"), false),
                (format!("SELECT a FROM t WHERE id = ? AND b = {i}"), true),
                (
                    format!(
                        "SELECT table_name FROM information_schema.tables \
                         WHERE table_schema = 'app' AND table_rows > {i}"
                    ),
                    false,
                ),
                (format!("SET autocommit = {}", i % 2), false),
            ] {
                let got = cache.check(1, &sql, &ctx, prepared, &mut memo);
                assert_eq!(*got, octodb_policy::check(&sql, &ctx, prepared), "{sql}");
            }
        }
        let counts = cache.shape_counts();
        assert_eq!(counts.templates.load(Ordering::Relaxed), 0);
        assert_eq!(counts.hits.load(Ordering::Relaxed), 0);
    }

    /// A session's memo serves the shapes it saw, in its own context only, and stays within
    /// its capacity.
    #[test]
    fn a_session_memo_serves_its_own_shapes() {
        let cache = DecisionCache::new(1 << 20);
        let m = mapping(1, "t_a__app");
        let ctx = ctx_of(&m, Some("app"), "u");
        let mut memo = ShapeMemo::default();
        for id in 0..10 {
            let sql = format!("SELECT c FROM sbtest1 WHERE id={id}");
            let got = cache.check(1, &sql, &ctx, false, &mut memo);
            assert_eq!(*got, octodb_policy::check(&sql, &ctx, false), "{sql}");
        }
        assert_eq!(memo.len(), 1);
        assert_eq!(cache.shape_counts().hits.load(Ordering::Relaxed), 9);
        // Another database: same shape, other template, memo emptied first.
        let db2 = ctx_of(&m, None, "u");
        let refused = cache.check(
            1,
            "SELECT c FROM sbtest1 WHERE id=5",
            &db2,
            false,
            &mut memo,
        );
        assert!(refused.is_err());
        assert!(memo.is_empty());
        // Many shapes: the memo stays bounded, and every decision is still the full check's.
        for n in 0..(ShapeMemo::CAPACITY * 2 + 5) {
            let sql = format!("SELECT c{n} FROM sbtest1 WHERE id={n}");
            for _ in 0..2 {
                let got = cache.check(1, &sql, &ctx, false, &mut memo);
                assert_eq!(*got, octodb_policy::check(&sql, &ctx, false), "{sql}");
            }
            assert!(memo.len() <= ShapeMemo::CAPACITY);
        }
    }
}
