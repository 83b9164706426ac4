//! Creating a rollout: which databases, at which target version, in which wave.
//!
//! Every database on channel `auto` of the template or a descendant template is reached, at the
//! latest version of its own template whose chain includes the rolled-out version. One that is
//! already there (same version, same overlay) is `skipped`. The others go in order of database
//! id: the first `canary` form wave 0, then waves of `batch`.

use octodb_catalog::{Catalog, CatalogError, Channel, NewRollout};
use octodb_schema::Allow;

/// What the caller asked for.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub template_id: u64,
    pub version: u32,
    pub canary: u32,
    pub batch: u32,
    pub max_failures: u32,
    pub per_backend: u32,
    pub allow: Allow,
    pub created_by: Option<u64>,
    pub request_id: String,
}

/// Records the rollout; returns (rollout id, databases to migrate, databases skipped).
pub(crate) async fn create(
    catalog: &Catalog,
    req: &Request,
) -> Result<(u64, usize, usize), CatalogError> {
    if req.batch == 0 || req.per_backend == 0 {
        return Err(CatalogError::Invalid(
            "batch and per_backend must be at least 1".into(),
        ));
    }
    let templates = catalog.template_descendants(req.template_id).await?;
    let bindings = catalog
        .databases_following(&templates, Channel::Auto)
        .await?;
    let mut targets = std::collections::HashMap::new();
    for t in &templates {
        let v = catalog
            .version_following(*t, req.template_id, req.version)
            .await?;
        targets.insert(*t, v);
    }
    let mut rows = Vec::new();
    let (mut pending, mut skipped) = (0usize, 0usize);
    for b in &bindings {
        let Some(target) = targets.get(&b.template_id).copied().flatten() else {
            continue;
        };
        let at_target = b.version.is_some_and(|v| v >= target)
            && b.applied_overlay.as_deref() == Some(b.overlay.as_str());
        if at_target {
            rows.push((b.database_id, b.tenant_id, 0, target, "skipped"));
            skipped += 1;
            continue;
        }
        let wave = wave_of(pending as u32, req.canary, req.batch);
        rows.push((b.database_id, b.tenant_id, wave, target, "pending"));
        pending += 1;
    }
    let allow =
        serde_json::to_string(&req.allow).map_err(|e| CatalogError::Invalid(e.to_string()))?;
    let id = catalog
        .create_rollout(&NewRollout {
            template_id: req.template_id,
            version: req.version,
            max_failures: req.max_failures,
            per_backend: req.per_backend,
            allow: &allow,
            created_by: req.created_by,
            request_id: Some(&req.request_id),
            databases: rows,
        })
        .await?;
    Ok((id, pending, skipped))
}

/// The wave of the `i`-th database to migrate (0-based).
fn wave_of(i: u32, canary: u32, batch: u32) -> u32 {
    if i < canary {
        0
    } else {
        let first = u32::from(canary > 0);
        first + (i - canary) / batch.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::wave_of;

    #[test]
    fn canary_then_batches() {
        let waves: Vec<u32> = (0..7).map(|i| wave_of(i, 1, 2)).collect();
        assert_eq!(waves, [0, 1, 1, 2, 2, 3, 3]);
        let waves: Vec<u32> = (0..5).map(|i| wave_of(i, 0, 2)).collect();
        assert_eq!(waves, [0, 0, 1, 1, 2]);
        let waves: Vec<u32> = (0..4).map(|i| wave_of(i, 3, 5)).collect();
        assert_eq!(waves, [0, 0, 0, 1]);
    }
}
