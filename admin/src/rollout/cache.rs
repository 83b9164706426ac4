//! Work shared by the databases of one rollout: a fleet of identical tenants needs one
//! workspace and one plan, not one per database.
//!
//! - desired key (SHA-256 of the merged desired schema and the database defaults,
//!   `Workspace::key_for`) -> the workspace's model. The workspace itself is dropped as soon as
//!   it has been read: only its model is needed (to plan, and to verify after applying), so no
//!   scratch database outlives the build, and a crash leaves at most one behind for
//!   `cleanup_leftovers`.
//! - (desired key, live fingerprint) -> the plan and its lint. A plan is computed once and
//!   rendered for any target; every database still checks that its own live state is the
//!   plan's starting point before the first statement (`ApplyOptions.live`).
//!
//! Entries are scoped by rollout and held in memory only (a restarted admin builds them again):
//! the driver forgets a rollout's entries when it ends, and any that sat unused for
//! [`IDLE`]. Migrations outside a rollout (an opt-in) do not use it. The cache also carries the
//! driver's wake-up: a migration that ends wakes the driver so the next database starts without
//! waiting for its tick.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use octodb_schema::{lint, LintReport, Plan, PlanError, SchemaModel};
use tokio::sync::{Notify, OnceCell};

/// How long a rollout's entries stay without being used.
pub const IDLE: Duration = Duration::from_secs(300);

/// A plan shared by every database that starts from the same live state.
#[derive(Debug)]
pub struct SharedPlan {
    pub plan: Plan,
    pub lint: LintReport,
    /// The desired key (the workspace it was planned against).
    pub key: String,
    /// The live state's fingerprint it starts from.
    pub from: String,
}

impl SharedPlan {
    /// Plans from `live` to `desired` (whose key is `key`).
    pub fn new(key: &str, live: &SchemaModel, desired: &SchemaModel) -> Result<Self, PlanError> {
        let plan = Plan::new(live, desired)?;
        let lint = lint(&plan);
        Ok(SharedPlan {
            plan,
            lint,
            key: key.to_string(),
            from: live.fingerprint(),
        })
    }

    /// `workspace <key> built|shared, from <fingerprint> planned|reused` (12 hex digits each):
    /// the same key and fingerprint for every database that shares this plan, and whether this
    /// database's migration built the workspace and computed the plan or took them from the
    /// cache.
    pub fn describe(&self, built: bool, planned: bool) -> String {
        format!(
            "workspace {} {}, from {} {}",
            &self.key[..self.key.len().min(12)],
            if built { "built" } else { "shared" },
            &self.from[..self.from.len().min(12)],
            if planned { "planned" } else { "reused" },
        )
    }
}

type ModelCell = Arc<OnceCell<Arc<SchemaModel>>>;

#[derive(Default)]
struct Entry {
    models: HashMap<String, ModelCell>,
    plans: HashMap<(String, String), Arc<SharedPlan>>,
    last_used: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    rollouts: Mutex<HashMap<u64, Entry>>,
    wake: Notify,
}

/// The cache, cheap to clone (shared by the driver and the migration jobs).
#[derive(Clone, Default)]
pub struct SharedPlans {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedPlans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPlans")
            .field("rollouts", &self.lock().len())
            .finish()
    }
}

impl SharedPlans {
    pub fn new() -> SharedPlans {
        SharedPlans::default()
    }

    /// A poisoned lock only means a panic elsewhere mid-insert: the maps stay usable.
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.inner
            .rollouts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The model for `key` in `rollout`, built by `build` on first use, and whether this call
    /// built it. Concurrent callers with the same key wait for one build; a failed build is not
    /// remembered (the next caller tries).
    pub async fn model<F, Fut, E>(
        &self,
        rollout: u64,
        key: &str,
        build: F,
    ) -> Result<(Arc<SchemaModel>, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<SchemaModel, E>>,
    {
        let cell = {
            let mut map = self.lock();
            let entry = map.entry(rollout).or_default();
            entry.last_used = Some(Instant::now());
            entry.models.entry(key.to_string()).or_default().clone()
        };
        let mut built = false;
        let model = cell
            .get_or_try_init(|| async {
                let model = build().await?;
                built = true;
                Ok(Arc::new(model))
            })
            .await?;
        Ok((model.clone(), built))
    }

    /// The plan from `live` to `desired` (whose key is `key`) in `rollout`, computed once per
    /// live fingerprint, and whether this call computed it.
    pub fn plan(
        &self,
        rollout: u64,
        key: &str,
        live: &SchemaModel,
        desired: &SchemaModel,
    ) -> Result<(Arc<SharedPlan>, bool), PlanError> {
        let id = (key.to_string(), live.fingerprint());
        if let Some(p) = self
            .lock()
            .get(&rollout)
            .and_then(|e| e.plans.get(&id).cloned())
        {
            return Ok((p, false));
        }
        // Planning is CPU only: two callers racing compute the same plan; the first one stays.
        let ours = Arc::new(SharedPlan::new(key, live, desired)?);
        let mut map = self.lock();
        let entry = map.entry(rollout).or_default();
        entry.last_used = Some(Instant::now());
        let kept = entry
            .plans
            .entry(id)
            .or_insert_with(|| ours.clone())
            .clone();
        let planned = Arc::ptr_eq(&kept, &ours);
        Ok((kept, planned))
    }

    /// (models, plans) held for `rollout`.
    #[cfg(test)]
    pub fn sizes(&self, rollout: u64) -> (usize, usize) {
        self.lock()
            .get(&rollout)
            .map(|e| (e.models.len(), e.plans.len()))
            .unwrap_or_default()
    }

    /// Forgets every rollout not in `active`, and those unused for `idle`.
    pub fn retain(&self, active: &[u64], idle: Duration) {
        let now = Instant::now();
        self.lock().retain(|id, e| {
            active.contains(id)
                && e.last_used
                    .is_none_or(|t| now.saturating_duration_since(t) < idle)
        });
    }

    /// Wakes the driver (a migration ended: a slot is free).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Waits for [`wake`](Self::wake).
    pub async fn woken(&self) {
        self.inner.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use octodb_schema::model::{Column, TableModel};

    fn model(columns: &[&str]) -> SchemaModel {
        let mut m = SchemaModel::default();
        let t = TableModel {
            name: "items".into(),
            engine: "InnoDB".into(),
            charset: "utf8mb4".into(),
            collation: "utf8mb4_general_ci".into(),
            comment: String::new(),
            options: Default::default(),
            columns: columns
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    column_type: "int(11)".into(),
                    nullable: true,
                    default: None,
                    auto_increment: false,
                    on_update: None,
                    invisible: false,
                    generated: None,
                    charset: None,
                    collation: None,
                    comment: String::new(),
                    check: None,
                })
                .collect(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            create_sql: String::new(),
        };
        m.tables.insert("items".into(), t);
        m
    }

    #[tokio::test]
    async fn one_build_per_key_and_one_plan_per_live_state() {
        let cache = SharedPlans::new();
        let builds = std::sync::atomic::AtomicUsize::new(0);
        let build = || async {
            builds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, PlanError>(model(&["id", "c1"]))
        };
        let (a, b) = tokio::join!(cache.model(1, "k", build), cache.model(1, "k", build));
        let ((a, a_built), (b, b_built)) = (a.unwrap(), b.unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a_built != b_built, "exactly one caller builds");
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Another rollout builds its own.
        cache.model(2, "k", build).await.unwrap();
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 2);

        let desired = model(&["id", "c1"]);
        let (p1, planned1) = cache.plan(1, "k", &model(&["id"]), &desired).unwrap();
        let (p2, planned2) = cache.plan(1, "k", &model(&["id"]), &desired).unwrap();
        assert!(Arc::ptr_eq(&p1, &p2) && planned1 && !planned2);
        assert_eq!(p1.plan.steps.len(), 1);
        let (p3, planned3) = cache.plan(1, "k", &model(&["id", "c1"]), &desired).unwrap();
        assert!(p3.plan.is_empty() && planned3);
        assert_eq!(cache.sizes(1), (1, 2));

        cache.retain(&[2], IDLE);
        assert_eq!(cache.sizes(1), (0, 0));
        assert_eq!(cache.sizes(2), (1, 0));
        cache.retain(&[2], Duration::ZERO);
        assert_eq!(cache.sizes(2), (0, 0));
    }

    #[tokio::test]
    async fn a_failed_build_is_not_remembered() {
        let cache = SharedPlans::new();
        let r = cache
            .model(1, "k", || async { Err::<SchemaModel, _>("boom") })
            .await;
        assert!(r.is_err());
        let m = cache
            .model(1, "k", || async { Ok::<_, &str>(model(&["id"])) })
            .await
            .unwrap();
        assert!(m.1);
        assert_eq!(m.0.tables.len(), 1);
    }
}
