//! The decision cache: a repeated statement is not parsed again.
//!
//! A decision depends on the statement text and on everything the policy reads from the
//! session: the tenant and the version of its name mapping, the current database, the user
//! (USER() is answered from it) and whether the text arrives as a prepared statement. All of
//! it is in the key, so a cached decision is exactly what the policy would decide now.

use std::sync::Arc;

use moka::sync::Cache;
use octodb_policy::{Decision, Refusal, SessionContext};

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

/// A cached outcome of `octodb_policy::check`.
pub type Outcome = Arc<Result<Decision, Refusal>>;

/// Decisions shared by all sessions of a proxy, bounded by total statement size.
#[derive(Clone)]
pub struct DecisionCache {
    inner: Cache<Key, Outcome>,
}

/// Statements longer than this are checked every time rather than cached.
const MAX_CACHED_SQL: usize = 16 * 1024;

impl DecisionCache {
    /// A cache holding decisions for statements of about `max_bytes` bytes of text in total.
    pub fn new(max_bytes: u64) -> Self {
        let inner = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Key, _v: &Outcome| u32::try_from(k.sql.len() + 128).unwrap_or(u32::MAX))
            .build();
        DecisionCache { inner }
    }

    /// The policy's decision for `sql` in `ctx`, from the cache when possible.
    pub fn check(
        &self,
        tenant_id: u64,
        sql: &str,
        ctx: &SessionContext<'_>,
        prepared: bool,
    ) -> Outcome {
        if sql.len() > MAX_CACHED_SQL {
            return Arc::new(octodb_policy::check(sql, ctx, prepared));
        }
        let key = Key {
            tenant_id,
            mapping_version: ctx.mapping.version,
            prepared,
            current_db: ctx.current_db.map(Into::into),
            user: ctx.user.into(),
            sql: sql.into(),
        };
        self.inner
            .get_with(key, || Arc::new(octodb_policy::check(sql, ctx, prepared)))
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
        let m1 = mapping(1, "t_a__app");
        let ctx = SessionContext {
            mapping: &m1,
            current_db: Some("app"),
            user: "u",
        };
        let a = cache.check(1, "SELECT * FROM t", &ctx, false);
        let b = cache.check(1, "SELECT * FROM t", &ctx, false);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(forwarded(&a).contains("t_a__app"));
        // Another tenant with the same mapping version gets its own decision.
        let m2 = mapping(1, "t_b__app");
        let ctx2 = SessionContext {
            mapping: &m2,
            ..ctx
        };
        let c = cache.check(2, "SELECT * FROM t", &ctx2, false);
        assert!(forwarded(&c).contains("t_b__app"));
        // A new mapping version of the same tenant is decided afresh.
        let m3 = mapping(2, "t_a2__app");
        let ctx3 = SessionContext {
            mapping: &m3,
            ..ctx
        };
        assert!(forwarded(&cache.check(1, "SELECT * FROM t", &ctx3, false)).contains("t_a2__app"));
        // Refusals are cached too, and prepared-ness is part of the key.
        let r = cache.check(1, "SELECT ?", &ctx, false);
        assert!(r.is_err());
        assert!(cache.check(1, "SELECT ?", &ctx, true).is_ok());
        assert!(!cache.is_empty());
    }
}
