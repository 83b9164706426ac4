//! A tenant's own backend account, for services that run the tenant's statements with the
//! tenant's privileges and nothing more (the admin's query endpoint; the proxy reads the same
//! account through [`Catalog::login`]).

use std::fmt;

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::sql::take;
use crate::{Catalog, CatalogError};

/// Where a tenant's databases live and the account that may use them (SELECT, INSERT, UPDATE,
/// DELETE on its own physical databases only).
#[derive(Clone)]
pub struct TenantBackend {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Decrypted from the catalog.
    pub password: String,
}

impl fmt::Debug for TenantBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantBackend")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Tenant `tenant_id`'s backend server and account; `None` if there is no such tenant or
    /// provisioning has not stored its account yet.
    pub async fn tenant_backend(
        &self,
        tenant_id: u64,
    ) -> Result<Option<TenantBackend>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                "SELECT b.host, b.port, t.backend_user, t.backend_password_enc \
                 FROM tenants t JOIN backends b ON b.id = t.backend_id WHERE t.id = ?",
                (tenant_id,),
            )
            .await?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        let user: Option<String> = take(&mut row, 2, "tenants.backend_user")?;
        let enc: Option<String> = take(&mut row, 3, "tenants.backend_password_enc")?;
        let (Some(user), Some(enc)) = (user, enc) else {
            return Ok(None);
        };
        Ok(Some(TenantBackend {
            host: take(&mut row, 0, "backends.host")?,
            port: take(&mut row, 1, "backends.port")?,
            user,
            password: self.key.decrypt(&enc)?,
        }))
    }
}
