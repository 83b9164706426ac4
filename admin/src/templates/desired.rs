//! A database's desired schema: its template chain at a version (root first), then its own
//! overlay, merged. When the database already reached a version, the merge is an update from
//! the chain it is at, which finds the conflicts between its overlay (or a child template) and
//! the parents' changes (`octodb_schema::merge_update`).

use octodb_catalog::{Catalog, DatabaseTemplate};
use octodb_schema::{merge, merge_update, Conflict, DesiredSchema};

use super::TemplateError;

/// A database's desired schema at a target version.
#[derive(Debug, Clone)]
pub(crate) struct DesiredOutcome {
    /// The merged schema (children win); not to be applied while `conflicts` is not empty.
    pub schema: DesiredSchema,
    pub conflicts: Vec<Conflict>,
}

/// The parsed layers of `template_id` at `version`, root first.
pub(crate) async fn chain_layers(
    catalog: &Catalog,
    template_id: u64,
    version: u32,
) -> Result<Vec<DesiredSchema>, TemplateError> {
    let chain = catalog.template_chain(template_id, version).await?;
    let mut out = Vec::with_capacity(chain.len() + 1);
    for v in &chain {
        out.push(DesiredSchema::parse(&v.body)?);
    }
    Ok(out)
}

/// The parsed layers of `template_id` at `version` (root first), then `overlay`.
pub(crate) async fn layers(
    catalog: &Catalog,
    template_id: u64,
    version: u32,
    overlay: &str,
) -> Result<Vec<DesiredSchema>, TemplateError> {
    let mut out = chain_layers(catalog, template_id, version).await?;
    out.push(DesiredSchema::parse(overlay)?);
    Ok(out)
}

/// What `binding`'s database should look like at version `target` of its template.
pub(crate) async fn desired_for(
    catalog: &Catalog,
    binding: &DatabaseTemplate,
    target: u32,
) -> Result<DesiredOutcome, TemplateError> {
    let next = layers(catalog, binding.template_id, target, &binding.overlay).await?;
    if let (Some(current), Some(applied)) = (binding.version, binding.applied_overlay.as_deref()) {
        let previous = layers(catalog, binding.template_id, current, applied).await?;
        if previous.len() == next.len() {
            let outcome = merge_update(&previous, &next)?;
            return Ok(DesiredOutcome {
                schema: outcome.schema,
                conflicts: outcome.conflicts,
            });
        }
    }
    // First migration: nothing was promised before, so there is nothing to conflict with.
    Ok(DesiredOutcome {
        schema: merge(&next),
        conflicts: Vec::new(),
    })
}
