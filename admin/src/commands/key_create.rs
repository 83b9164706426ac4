//! `octodb-admin key create --operator | --tenant <name>`: creates an API key and returns its
//! secret, shown once (only its SHA-256 is stored).

use octodb_catalog::{Catalog, CatalogError, KeyScope, NewAudit, TenantName, OUTCOME_SUCCESS};
use serde::Serialize;

use crate::{AdminConfig, AdminError};

#[derive(Debug, Serialize)]
pub struct KeyCreated {
    pub id: u64,
    pub scope: &'static str,
    pub tenant_id: Option<u64>,
    pub secret: String,
}

/// `operator` or a tenant key for `tenant` (exactly one of them).
pub async fn run(
    config: &AdminConfig,
    operator: bool,
    tenant: Option<TenantName>,
) -> Result<KeyCreated, AdminError> {
    let catalog = Catalog::connect(&config.catalog).await?;
    let result = create(&catalog, operator, tenant).await;
    let _ = catalog.disconnect().await;
    result
}

async fn create(
    catalog: &Catalog,
    operator: bool,
    tenant: Option<TenantName>,
) -> Result<KeyCreated, AdminError> {
    let scope = match (operator, tenant) {
        (true, None) => KeyScope::Operator,
        (false, Some(name)) => {
            let t = catalog
                .tenant_by_name(&name)
                .await?
                .ok_or_else(|| CatalogError::NotFound(format!("tenant {name}")))?;
            KeyScope::Tenant(t.id)
        }
        _ => {
            return Err(CatalogError::Invalid(
                "give exactly one of --operator and --tenant".to_string(),
            )
            .into())
        }
    };
    let created = catalog.create_api_key(scope).await?;
    let target = format!("key/{}", created.key.id);
    catalog
        .audit(&NewAudit {
            actor: None,
            action: "key.create",
            tenant_id: scope.tenant_id(),
            target: Some(&target),
            outcome: OUTCOME_SUCCESS,
            request_id: None,
            detail: None,
        })
        .await?;
    Ok(KeyCreated {
        id: created.key.id,
        scope: scope.name(),
        tenant_id: scope.tenant_id(),
        secret: created.secret,
    })
}
