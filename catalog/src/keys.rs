//! API keys: bearer secrets `okey_<id>_<random>`, stored as the SHA-256 of the whole secret.
//!
//! The id in the secret finds the row in one indexed read; the hash is compared in constant
//! time. A revoked key authenticates as no key at all.

use std::fmt;
use std::str::FromStr;

use mysql_async::prelude::Queryable;
use mysql_async::TxOpts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{generate_password, Catalog, CatalogError};

/// Length of the random part of a secret (alphanumeric: about 250 bits).
const SECRET_RANDOM_LEN: usize = 43;
const SECRET_PREFIX: &str = "okey_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// Everything.
    Operator,
    /// Only its own tenant.
    Tenant(u64),
}

impl KeyScope {
    pub fn name(self) -> &'static str {
        match self {
            KeyScope::Operator => "operator",
            KeyScope::Tenant(_) => "tenant",
        }
    }

    pub fn tenant_id(self) -> Option<u64> {
        match self {
            KeyScope::Operator => None,
            KeyScope::Tenant(id) => Some(id),
        }
    }
}

/// An authenticated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKey {
    pub id: u64,
    pub scope: KeyScope,
}

/// A key just created: the secret exists only here, shown once.
pub struct NewApiKey {
    pub key: ApiKey,
    pub secret: String,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The key id a secret claims, if it has the `okey_<id>_<random>` shape.
fn parse_secret(secret: &str) -> Option<u64> {
    let rest = secret.strip_prefix(SECRET_PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    if random.len() != SECRET_RANDOM_LEN || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str(id).ok()
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Catalog {
    /// Creates a key (a tenant key needs an existing tenant). Returns its secret once.
    pub async fn create_api_key(&self, scope: KeyScope) -> Result<NewApiKey, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        if let KeyScope::Tenant(tenant_id) = scope {
            let exists: Option<u64> = tx
                .exec_first("SELECT id FROM tenants WHERE id = ?", (tenant_id,))
                .await?;
            if exists.is_none() {
                return Err(CatalogError::NotFound(format!("tenant id {tenant_id}")));
            }
        }
        // The secret embeds the id: insert a placeholder hash, then store the real one.
        tx.exec_drop(
            "INSERT INTO api_keys (key_hash, scope, tenant_id) VALUES (?, ?, ?)",
            (&[0u8; 32][..], scope.name(), scope.tenant_id()),
        )
        .await?;
        let id = tx
            .last_insert_id()
            .ok_or_else(|| CatalogError::Corrupt("no id for the api_keys row".to_string()))?;
        let secret = format!(
            "{SECRET_PREFIX}{id}_{}",
            generate_password(SECRET_RANDOM_LEN)
        );
        tx.exec_drop(
            "UPDATE api_keys SET key_hash = ? WHERE id = ?",
            (&hash(&secret)[..], id),
        )
        .await?;
        tx.commit().await?;
        Ok(NewApiKey {
            key: ApiKey { id, scope },
            secret,
        })
    }

    /// The key a bearer secret belongs to; `None` if malformed, unknown, wrong or revoked.
    pub async fn authenticate_key(&self, secret: &str) -> Result<Option<ApiKey>, CatalogError> {
        let Some(id) = parse_secret(secret) else {
            return Ok(None);
        };
        let mut conn = self.pool.get_conn().await?;
        let row: Option<(Vec<u8>, String, Option<u64>)> = conn
            .exec_first(
                "SELECT key_hash, scope, tenant_id FROM api_keys \
                 WHERE id = ? AND revoked_at IS NULL",
                (id,),
            )
            .await?;
        let Some((stored, scope, tenant_id)) = row else {
            return Ok(None);
        };
        if !bool::from(stored.as_slice().ct_eq(&hash(secret)[..])) {
            return Ok(None);
        }
        let scope = match (scope.as_str(), tenant_id) {
            ("operator", None) => KeyScope::Operator,
            ("tenant", Some(t)) => KeyScope::Tenant(t),
            _ => {
                return Err(CatalogError::Corrupt(format!(
                    "api key {id} has scope {scope:?} and tenant {tenant_id:?}"
                )))
            }
        };
        Ok(Some(ApiKey { id, scope }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shape() {
        let random = "a".repeat(SECRET_RANDOM_LEN);
        assert_eq!(parse_secret(&format!("okey_12_{random}")), Some(12));
        assert_eq!(parse_secret(&format!("okey_x_{random}")), None);
        assert_eq!(parse_secret("okey_12_short"), None);
        assert_eq!(parse_secret(&format!("key_12_{random}")), None);
        assert_eq!(parse_secret(""), None);
    }
}
