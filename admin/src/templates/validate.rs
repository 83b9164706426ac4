//! Validating a new template version and a database's overlay before they are stored.
//!
//! A version is parsed (`DesiredSchema::parse`), then merged into the chain of its template and
//! of every descendant template, and each merged schema is built in a scratch workspace on the
//! backend: the server decides whether the DDL is valid, and its own message is what the author
//! sees (422). The tree itself never holds conflicts: a version whose change conflicts with a
//! descendant template's own definitions is refused (422, the conflicts listed). Only a
//! database's overlay can conflict with a change, and that is reported per database at plan
//! time, never applied.

use mysql_async::Conn;
use octodb_catalog::{BackendAdmin, Catalog, CatalogError, Template};
use octodb_schema::{merge, merge_update, DesiredSchema, Workspace};

use super::{backend, chain_layers, TemplateError};

/// Checks `body` as the next version of `template`.
pub(crate) async fn validate_version(
    catalog: &Catalog,
    admin: &BackendAdmin,
    template: &Template,
    body: &str,
) -> Result<(), TemplateError> {
    let new_layer = DesiredSchema::parse(body)?;
    // The chains to build: this template's, then each descendant's (with the new layer).
    let mut chains: Vec<Vec<DesiredSchema>> = Vec::new();
    let own_parent = match template.parent_id {
        None => Vec::new(),
        Some(p) => {
            let parent = catalog
                .template(p)
                .await?
                .ok_or_else(|| CatalogError::NotFound(format!("template id {p}")))?;
            let v = parent.latest_version.ok_or_else(|| {
                CatalogError::Invalid(format!(
                    "the parent template {} has no version yet",
                    parent.name
                ))
            })?;
            chain_layers(catalog, p, v).await?
        }
    };
    let depth = own_parent.len();
    let mut own = own_parent;
    own.push(new_layer.clone());
    chains.push(own);
    for d in catalog
        .template_descendants(template.id)
        .await?
        .into_iter()
        .skip(1)
    {
        let Some(latest) = catalog.template(d).await?.and_then(|t| t.latest_version) else {
            continue;
        };
        let previous = chain_layers(catalog, d, latest).await?;
        let mut next = previous.clone();
        if let Some(layer) = next.get_mut(depth) {
            *layer = new_layer.clone();
        }
        let outcome = merge_update(&previous, &next)?;
        if !outcome.conflicts.is_empty() {
            return Err(TemplateError::Conflicts(outcome.conflicts));
        }
        chains.push(next);
    }
    let mut conn = backend::connect(admin).await?;
    let result = build_all(&mut conn, &chains).await;
    close(conn).await;
    result
}

/// Checks `overlay` on top of the latest version of `template`.
pub(crate) async fn validate_overlay(
    catalog: &Catalog,
    admin: &BackendAdmin,
    template: &Template,
    overlay: &str,
) -> Result<(), TemplateError> {
    let layer = DesiredSchema::parse(overlay)?;
    let version = template.latest_version.ok_or_else(|| {
        CatalogError::Invalid(format!("template {} has no version yet", template.name))
    })?;
    let mut chain = chain_layers(catalog, template.id, version).await?;
    chain.push(layer);
    let mut conn = backend::connect(admin).await?;
    let result = build_all(&mut conn, &[chain]).await;
    close(conn).await;
    result
}

/// Builds (then drops) a workspace for each merged chain.
async fn build_all(conn: &mut Conn, chains: &[Vec<DesiredSchema>]) -> Result<(), TemplateError> {
    let defaults = backend::server_defaults(conn).await?;
    for chain in chains {
        let ws = Workspace::create(conn, &merge(chain), &defaults).await?;
        ws.drop(conn).await?;
    }
    Ok(())
}

async fn close(conn: Conn) {
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend connection");
    }
}
