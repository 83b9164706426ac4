//! `octodb-admin schema apply`: validates a schema file with the policy (CREATE TABLE only) and
//! runs it in a tenant's database.

use std::io::Read;
use std::path::Path;

use octodb_catalog::{Catalog, DatabaseName, PhysicalName, TenantName};
use serde::Serialize;

use crate::{AdminConfig, AdminError};

#[derive(Debug, Serialize)]
pub struct SchemaApplied {
    pub tenant: TenantName,
    pub database: DatabaseName,
    pub physical: PhysicalName,
    /// The statements run, as the policy rendered them.
    pub applied: Vec<String>,
}

/// Reads `file` (`-` for stdin).
pub fn read_schema(file: &Path) -> Result<String, AdminError> {
    let read_err = |error| AdminError::Read {
        path: file.display().to_string(),
        error,
    };
    if file == Path::new("-") {
        let mut sql = String::new();
        std::io::stdin()
            .read_to_string(&mut sql)
            .map_err(read_err)?;
        Ok(sql)
    } else {
        std::fs::read_to_string(file).map_err(read_err)
    }
}

pub async fn run(
    config: &AdminConfig,
    tenant: TenantName,
    database: DatabaseName,
    sql: &str,
) -> Result<SchemaApplied, AdminError> {
    let statements = octodb_policy::parse_schema(sql)?;
    let catalog = Catalog::connect(&config.catalog).await?;
    let result = catalog
        .apply_schema(&config.backend.admin(), &tenant, &database, &statements)
        .await;
    let _ = catalog.disconnect().await;
    let physical = result?;
    Ok(SchemaApplied {
        tenant,
        database,
        physical,
        applied: statements,
    })
}
