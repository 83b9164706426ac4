//! Backend connections: one `mysql_async` pool per tenant backend user, and the checkout that
//! hands a session its connection.
//!
//! Each pool logs in as the tenant's own backend user, which holds SELECT, INSERT, UPDATE and
//! DELETE on the tenant's physical databases only: even a policy bug cannot reach another
//! tenant. Pool connections never have a default database; every statement names its tables
//! fully. Connections come back to the pool only after COM_RESET_CONNECTION, so no session
//! state, open transaction or user variable leaks from one session to the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use octodb_catalog::Login;

/// Identifies a pool: the backend, the tenant's credentials, and the FOUND_ROWS capability
/// (it changes what UPDATE reports as affected rows, so a client asking for it needs
/// connections opened with it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    tenant_id: u64,
    host: String,
    port: u16,
    user: String,
    password: String,
    found_rows: bool,
}

/// All tenant pools of this proxy.
pub struct Backends {
    pools: Mutex<HashMap<PoolKey, Pool>>,
    pool_max: usize,
    max_packet: usize,
    wait: Duration,
}

/// Why a backend connection could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("timed out waiting for a backend connection")]
    Timeout,
    #[error(transparent)]
    Mysql(#[from] mysql_async::Error),
}

impl Backends {
    pub fn new(pool_max: usize, max_packet: usize, wait: Duration) -> Arc<Self> {
        Arc::new(Backends {
            pools: Mutex::new(HashMap::new()),
            pool_max,
            max_packet,
            wait,
        })
    }

    fn pool(&self, login: &Login, found_rows: bool) -> Pool {
        let key = PoolKey {
            tenant_id: login.tenant_id,
            host: login.backend_host.clone(),
            port: login.backend_port,
            user: login.backend_user.clone(),
            password: login.backend_password.clone(),
            found_rows,
        };
        let mut pools = match self.pools.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(p) = pools.get(&key) {
            return p.clone();
        }
        // Pools of the same tenant with other credentials are stale (rotated password).
        let stale: Vec<PoolKey> = pools
            .keys()
            .filter(|k| k.tenant_id == key.tenant_id && k.found_rows == found_rows)
            .cloned()
            .collect();
        for k in stale {
            if let Some(p) = pools.remove(&k) {
                tokio::spawn(async move {
                    let _ = p.disconnect().await;
                });
            }
        }
        let constraints = PoolConstraints::new(0, self.pool_max).unwrap_or_default();
        let opts = OptsBuilder::default()
            .ip_or_hostname(key.host.clone())
            .tcp_port(key.port)
            .user(Some(key.user.clone()))
            .pass(Some(key.password.clone()))
            .db_name(None::<String>)
            .prefer_socket(false)
            .client_found_rows(found_rows)
            .max_allowed_packet(Some(self.max_packet.max(1 << 20)))
            .stmt_cache_size(256)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    .with_reset_connection(false),
            );
        let pool = Pool::new(opts);
        pools.insert(key, pool.clone());
        pool
    }

    /// A connection from the tenant's pool, waiting at most the configured time.
    pub async fn checkout(&self, login: &Login, found_rows: bool) -> Result<Conn, CheckoutError> {
        let pool = self.pool(login, found_rows);
        match tokio::time::timeout(self.wait, pool.get_conn()).await {
            Ok(conn) => Ok(conn?),
            Err(_) => Err(CheckoutError::Timeout),
        }
    }

    /// Returns a session's connection: reset (rolling back any open transaction, dropping
    /// user variables, session settings and prepared statements), then back to its pool.
    /// A connection that cannot be reset is closed instead.
    pub async fn release(conn: Conn) {
        let mut conn = conn;
        match conn.reset().await {
            Ok(true) => drop(conn),
            _ => {
                let _ = conn.disconnect().await;
            }
        }
    }

    /// Closes every pool (at shutdown).
    pub async fn close(&self) {
        let pools: Vec<Pool> = match self.pools.lock() {
            Ok(mut p) => p.drain().map(|(_, v)| v).collect(),
            Err(poisoned) => poisoned.into_inner().drain().map(|(_, v)| v).collect(),
        };
        for p in pools {
            let _ = p.disconnect().await;
        }
    }
}
