//! A tenant's proxy users: created, given a new password, deleted.
//!
//! Only the mysql_native_password verifier `SHA1(SHA1(password))` is stored, never the password.
//! Every change bumps the catalog version, which proxies follow. Each change locks the tenant row
//! first, so it is ordered with the tenant's deletion (no user is added to a tenant being
//! deleted).

use mysql_async::prelude::Queryable;
use mysql_async::{Transaction, TxOpts};

use crate::provision::{bump_catalog_version, DUPLICATE_KEY};
use crate::sql::take;
use crate::{native_password_verifier, Catalog, CatalogError, TenantStatus, UserName};

/// Longest password accepted (MySQL clients send at most 255 bytes comfortably).
pub const MAX_PASSWORD_LEN: usize = 128;

/// 422 for empty or over-long passwords.
fn check_password(password: &str) -> Result<(), CatalogError> {
    if password.is_empty() {
        return Err(CatalogError::Invalid(
            "the password must not be empty".into(),
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(CatalogError::Invalid(format!(
            "the password must be at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// Locks the tenant row for the rest of `tx` and returns its status (`NotFound` without one).
pub(crate) async fn lock_tenant(
    tx: &mut Transaction<'_>,
    tenant_id: u64,
) -> Result<TenantStatus, CatalogError> {
    let row: Option<mysql_async::Row> = tx
        .exec_first(
            "SELECT status FROM tenants WHERE id = ? FOR UPDATE",
            (tenant_id,),
        )
        .await?;
    let mut row = row.ok_or_else(|| CatalogError::NotFound(format!("tenant id {tenant_id}")))?;
    take::<String>(&mut row, 0, "tenants.status")?.parse()
}

/// Locks the tenant row; `Conflict` while it is being deleted.
async fn lock_live_tenant(tx: &mut Transaction<'_>, tenant_id: u64) -> Result<(), CatalogError> {
    match lock_tenant(tx, tenant_id).await? {
        TenantStatus::Deleting => Err(CatalogError::Conflict(format!(
            "tenant id {tenant_id} is being deleted"
        ))),
        _ => Ok(()),
    }
}

impl Catalog {
    /// Adds a proxy user to a tenant. User names are unique across tenants (the proxy finds the
    /// tenant by user name): a taken name is a `Conflict`.
    pub async fn create_user(
        &self,
        tenant_id: u64,
        username: &UserName,
        password: &str,
    ) -> Result<(), CatalogError> {
        check_password(password)?;
        let verifier = native_password_verifier(password.as_bytes());
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        lock_live_tenant(&mut tx, tenant_id).await?;
        let inserted = tx
            .exec_drop(
                "INSERT INTO users (tenant_id, username, verifier) VALUES (?, ?, ?)",
                (tenant_id, username.as_str(), &verifier[..]),
            )
            .await;
        if let Err(e) = inserted {
            let e = CatalogError::from(e);
            if e.server_code() == Some(DUPLICATE_KEY) {
                return Err(CatalogError::Conflict(format!(
                    "user {username} already exists"
                )));
            }
            return Err(e);
        }
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the password of one of the tenant's users (`NotFound` if it has no such user).
    pub async fn set_user_password(
        &self,
        tenant_id: u64,
        username: &UserName,
        password: &str,
    ) -> Result<(), CatalogError> {
        check_password(password)?;
        let verifier = native_password_verifier(password.as_bytes());
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        lock_live_tenant(&mut tx, tenant_id).await?;
        let exists: Option<u64> = tx
            .exec_first(
                "SELECT id FROM users WHERE tenant_id = ? AND username = ? FOR UPDATE",
                (tenant_id, username.as_str()),
            )
            .await?;
        if exists.is_none() {
            return Err(CatalogError::NotFound(format!("user {username}")));
        }
        tx.exec_drop(
            "UPDATE users SET verifier = ? WHERE tenant_id = ? AND username = ?",
            (&verifier[..], tenant_id, username.as_str()),
        )
        .await?;
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one of the tenant's users (`NotFound` if it has no such user).
    pub async fn delete_user(
        &self,
        tenant_id: u64,
        username: &UserName,
    ) -> Result<(), CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        lock_tenant(&mut tx, tenant_id).await?;
        tx.exec_drop(
            "DELETE FROM users WHERE tenant_id = ? AND username = ?",
            (tenant_id, username.as_str()),
        )
        .await?;
        if tx.affected_rows() == 0 {
            return Err(CatalogError::NotFound(format!("user {username}")));
        }
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletion step: removes all the tenant's users at once, so proxies refuse it. Returns how
    /// many there were (0 when re-run).
    pub async fn remove_tenant_users(&self, tenant_id: u64) -> Result<u64, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        tx.exec_drop("DELETE FROM users WHERE tenant_id = ?", (tenant_id,))
            .await?;
        let removed = tx.affected_rows();
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_checked() {
        assert!(check_password("").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        assert!(check_password("ok pw").is_ok());
    }
}
