//! `octodb-admin tenant create`: provisions a tenant (idempotent).

use octodb_catalog::{
    generate_password, Catalog, DatabaseName, NewTenant, PhysicalName, TenantName, UserName,
};
use serde::Serialize;

use crate::{AdminConfig, AdminError};

/// Length of generated proxy passwords.
const GENERATED_PASSWORD_LEN: usize = 24;

/// What to create.
#[derive(Debug, Clone)]
pub struct CreateTenant {
    pub name: TenantName,
    pub databases: Vec<DatabaseName>,
    pub user: UserName,
    /// `None`: generate one (returned once in [`TenantCreated::password`]).
    pub password: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TenantCreated {
    pub tenant_id: u64,
    pub name: TenantName,
    pub databases: Vec<DatabaseMapping>,
    pub user: UserName,
    /// Only when generated: shown once, stored nowhere in clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DatabaseMapping {
    pub logical: DatabaseName,
    pub physical: PhysicalName,
}

pub async fn run(config: &AdminConfig, req: CreateTenant) -> Result<TenantCreated, AdminError> {
    let catalog = Catalog::connect(&config.catalog).await?;
    let (password, generated) = match req.password {
        Some(p) => (p, false),
        None => (generate_password(GENERATED_PASSWORD_LEN), true),
    };
    let new = NewTenant {
        name: req.name.clone(),
        databases: req.databases.clone(),
        username: req.user.clone(),
        password: password.clone(),
    };
    let result = catalog.create_tenant(&config.backend.admin(), &new).await;
    let _ = catalog.disconnect().await;
    let tenant_id = result?;
    let mut databases: Vec<DatabaseMapping> = req
        .databases
        .iter()
        .map(|db| DatabaseMapping {
            logical: db.clone(),
            physical: PhysicalName::new(&req.name, db),
        })
        .collect();
    databases.sort_by(|a, b| a.logical.cmp(&b.logical));
    databases.dedup_by(|a, b| a.logical == b.logical);
    Ok(TenantCreated {
        tenant_id,
        name: req.name,
        databases,
        user: req.user,
        password: generated.then_some(password),
    })
}
