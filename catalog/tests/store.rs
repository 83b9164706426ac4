//! Catalog against a real MariaDB/MySQL: each test uses its own catalog schema and tenant names
//! (random suffixes) and drops what it created (physical databases, backend users, catalog).
//!
//! Server: `OCTODB_TEST_MYSQL_HOST` (127.0.0.1), `OCTODB_TEST_MYSQL_PORT` (3306),
//! `OCTODB_TEST_MYSQL_USER` (root), `OCTODB_TEST_MYSQL_PASSWORD` (empty).

#![allow(clippy::unwrap_used)]

use anyhow::{ensure, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use octodb_catalog::{
    verify_native_password, BackendAdmin, Catalog, CatalogConfig, CatalogError, DatabaseName,
    KeyScope, NewTenant, PhysicalName, SecretKey, TenantName, TenantStatus, UserName,
};
use rand::distributions::{Alphanumeric, DistString};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn admin() -> BackendAdmin {
    BackendAdmin {
        host: env_or("OCTODB_TEST_MYSQL_HOST", "127.0.0.1"),
        port: env_or("OCTODB_TEST_MYSQL_PORT", "3306")
            .parse()
            .unwrap_or(3306),
        user: env_or("OCTODB_TEST_MYSQL_USER", "root"),
        password: env_or("OCTODB_TEST_MYSQL_PASSWORD", ""),
    }
}

fn suffix() -> String {
    Alphanumeric
        .sample_string(&mut rand::thread_rng(), 10)
        .to_ascii_lowercase()
}

async fn connect_as(user: &str, password: &str, db: Option<&str>) -> mysql_async::Result<Conn> {
    let a = admin();
    let opts = OptsBuilder::default()
        .ip_or_hostname(a.host)
        .tcp_port(a.port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        .prefer_socket(false);
    Conn::new(opts).await
}

async fn admin_conn() -> Result<Conn> {
    let a = admin();
    Ok(connect_as(&a.user, &a.password, None).await?)
}

/// A fresh catalog schema and the tenants a test creates, all dropped by `run`.
struct Fixture {
    cfg: CatalogConfig,
    catalog_db: String,
    tenants: std::sync::Mutex<Vec<String>>,
}

impl Fixture {
    fn new() -> Self {
        let a = admin();
        let catalog_db = format!("octodb_meta_test_{}", suffix());
        let auth = if a.password.is_empty() {
            a.user.clone()
        } else {
            format!("{}:{}", a.user, a.password)
        };
        Fixture {
            cfg: CatalogConfig {
                url: format!(
                    "mysql://{auth}@{}:{}/{catalog_db}?prefer_socket=false",
                    a.host, a.port
                ),
                key: Some(SecretKey::generate().to_hex()),
                ..CatalogConfig::default()
            },
            catalog_db,
            tenants: Default::default(),
        }
    }

    /// A unique tenant name `<stem><suffix>`, registered for cleanup.
    fn tenant(&self, stem: &str) -> TenantName {
        self.tenant_named(&format!("{stem}{}", suffix()))
    }

    fn tenant_named(&self, name: &str) -> TenantName {
        if let Ok(mut t) = self.tenants.lock() {
            t.push(name.to_string());
        }
        TenantName::parse(name).expect("valid tenant name")
    }

    async fn cleanup(&self) -> Result<()> {
        let mut conn = admin_conn().await?;
        let tenants = self.tenants.lock().map(|t| t.clone()).unwrap_or_default();
        for t in tenants {
            let dbs: Vec<String> = conn
                .exec(
                    "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
                    (format!("t\\_{}\\_\\_%", t.replace('_', "\\_")),),
                )
                .await?;
            for db in dbs {
                conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                    .await?;
            }
            conn.query_drop(format!("DROP USER IF EXISTS 't_{t}'@'%'"))
                .await?;
        }
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.catalog_db))
            .await?;
        conn.disconnect().await?;
        Ok(())
    }

    /// Cleans up whatever the test body did, then reports its result.
    async fn finish(&self, result: Result<()>) -> Result<()> {
        let cleaned = self.cleanup().await;
        result?;
        cleaned
    }
}

fn new_tenant(name: &TenantName, dbs: &[&str], user: &str, password: &str) -> NewTenant {
    NewTenant {
        name: name.clone(),
        databases: dbs
            .iter()
            .map(|d| DatabaseName::parse(d).expect("db"))
            .collect(),
        username: UserName::parse(user).expect("user"),
        password: password.to_string(),
    }
}

async fn count(conn: &mut Conn, sql: &str, param: &str) -> Result<u64> {
    let n: Option<u64> = conn.exec_first(sql, (param,)).await?;
    n.context("count")
}

#[tokio::test]
async fn migrations_apply_once_even_concurrently() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let (a, b) = tokio::join!(Catalog::migrate(&fx.cfg), Catalog::migrate(&fx.cfg));
        let mut applied = [a?, b?].concat();
        applied.sort();
        ensure!(
            applied == vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "applied {applied:?}"
        );
        ensure!(Catalog::migrate(&fx.cfg).await?.is_empty());

        let catalog = Catalog::connect(&fx.cfg).await?;
        ensure!(catalog.database() == fx.catalog_db);
        catalog.ping().await?;
        ensure!(catalog.catalog_version().await? == 1);
        let mut conn = admin_conn().await?;
        let n = count(
            &mut conn,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?",
            &fx.catalog_db,
        )
        .await?;
        // 6 from "initial", 4 from "api_keys_jobs_audit", 5 from "schema_templates",
        // 2 from "tenant_webhooks", 1 from "tenant_limits", 1 from "schema_drift", 1 from
        // "query_digests".
        ensure!(n == 20, "tables: {n}");
        let rows: Vec<(u32, String)> = conn
            .query(format!(
                "SELECT version, name FROM `{}`.schema_migrations",
                fx.catalog_db
            ))
            .await?;
        ensure!(
            rows == vec![
                (1, "initial".to_string()),
                (2, "api_keys_jobs_audit".to_string()),
                (3, "audit_at_index".to_string()),
                (4, "audit_detail".to_string()),
                (5, "schema_templates".to_string()),
                (6, "tenant_webhooks".to_string()),
                (7, "tenant_limits".to_string()),
                (8, "schema_drift".to_string()),
                (9, "tenant_result_cache".to_string()),
                (10, "query_digests".to_string())
            ],
            "{rows:?}"
        );
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}

#[tokio::test]
async fn create_tenant_converges() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let catalog = Catalog::connect(&fx.cfg).await?;
        let name = fx.tenant("conv");
        let user = format!("u_{name}");
        let t = new_tenant(&name, &["app"], &user, "first");
        let id = catalog.create_tenant(&admin(), &t).await?;
        let v1 = catalog.catalog_version().await?;
        let t2 = new_tenant(&name, &["app"], &user, "second");
        ensure!(catalog.create_tenant(&admin(), &t2).await? == id);
        ensure!(catalog.catalog_version().await? > v1);

        let tenant = catalog.tenant_by_name(&name).await?.context("tenant")?;
        ensure!(tenant.status == TenantStatus::Ready);
        ensure!(tenant.databases.len() == 1);
        ensure!(tenant.users.iter().map(|u| u.as_str()).eq([user.as_str()]));
        ensure!(tenant.backend_user.as_deref() == Some(format!("t_{name}").as_str()));
        ensure!(
            tenant.mapping_version == 2,
            "mapping {}",
            tenant.mapping_version
        );

        let mut conn = admin_conn().await?;
        let physical = format!("t_{name}__app");
        let dbs = count(
            &mut conn,
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            &physical,
        )
        .await?;
        ensure!(dbs == 1);
        let users = count(
            &mut conn,
            "SELECT COUNT(*) FROM mysql.user WHERE user = ?",
            &format!("t_{name}"),
        )
        .await?;
        ensure!(users == 1, "backend users: {users}");
        let grants: Vec<String> = conn
            .query(format!("SHOW GRANTS FOR 't_{name}'@'%'"))
            .await?;
        ensure!(grants.len() == 2, "{grants:?}");
        ensure!(grants[0].starts_with("GRANT USAGE ON *.*"), "{grants:?}");
        ensure!(
            grants[1].starts_with(&format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON `{}`.*",
                physical.replace('_', "\\_")
            )),
            "{grants:?}"
        );

        // The second run's password is the one that counts.
        let login = catalog.login(&user).await?.context("login")?;
        ensure!(login.verifier == octodb_catalog::native_password_verifier(b"second"));

        // Another tenant of the same name (other user) conflicts; so does a taken user name.
        let other = new_tenant(&name, &["app"], &format!("x_{name}"), "pw");
        let err = catalog.create_tenant(&admin(), &other).await.unwrap_err();
        ensure!(matches!(err, CatalogError::Conflict(_)), "{err}");
        let name2 = fx.tenant("conv");
        let steal = new_tenant(&name2, &["app"], &user, "pw");
        let err = catalog.create_tenant(&admin(), &steal).await.unwrap_err();
        ensure!(matches!(err, CatalogError::Conflict(_)), "{err}");
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}

#[tokio::test]
async fn concurrent_creates_converge() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let catalog = Catalog::connect(&fx.cfg).await?;
        let name = fx.tenant("race");
        let t = new_tenant(&name, &["app", "logs"], &format!("u_{name}"), "pw");
        let backend = admin();
        let (a, b) = tokio::join!(
            catalog.create_tenant(&backend, &t),
            catalog.create_tenant(&backend, &t)
        );
        ensure!(a? == b?);
        let login = catalog
            .login(&format!("u_{name}"))
            .await?
            .context("login")?;
        ensure!(login.databases.len() == 2);
        // The stored backend password is the one the backend has.
        let conn = connect_as(&login.backend_user, &login.backend_password, None).await?;
        conn.disconnect().await?;
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}

#[tokio::test]
async fn backend_user_is_confined_to_its_databases() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let catalog = Catalog::connect(&fx.cfg).await?;
        // `w<s>_b` and `w<s>xb`: an unescaped GRANT on `t_w<s>_b__c`.* would match both.
        let s = suffix();
        let a_name = fx.tenant_named(&format!("w{s}_b"));
        let b_name = fx.tenant_named(&format!("w{s}xb"));
        let (a_user, b_user) = (format!("a{s}"), format!("b{s}"));
        catalog
            .create_tenant(&admin(), &new_tenant(&a_name, &["c"], &a_user, "pa"))
            .await?;
        catalog
            .create_tenant(&admin(), &new_tenant(&b_name, &["c"], &b_user, "pb"))
            .await?;
        let c = DatabaseName::parse("c")?;
        for t in [&a_name, &b_name] {
            let applied = catalog
                .apply_schema(
                    &admin(),
                    t,
                    &c,
                    &["CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20))".to_string()],
                )
                .await?;
            ensure!(applied == PhysicalName::new(t, &c));
        }

        let login = catalog.login(&a_user).await?.context("login")?;
        ensure!(login.tenant_name == a_name.as_str());
        ensure!(login.tenant_status == TenantStatus::Ready);
        ensure!(login.backend_user == format!("t_{a_name}"));
        ensure!(login.backend_password.len() == 32);
        let own = PhysicalName::new(&a_name, &c);
        ensure!(login.databases == vec![(c.clone(), own.clone())]);

        let mut conn = connect_as(
            &login.backend_user,
            &login.backend_password,
            Some(own.as_str()),
        )
        .await?;
        conn.query_drop("INSERT INTO items VALUES (1, 'one')")
            .await?;
        conn.query_drop("UPDATE items SET v = 'uno' WHERE id = 1")
            .await?;
        let v: Option<String> = conn.query_first("SELECT v FROM items WHERE id = 1").await?;
        ensure!(v.as_deref() == Some("uno"));
        conn.query_drop("DELETE FROM items").await?;

        let other = PhysicalName::new(&b_name, &c);
        let denied = conn
            .query_drop(format!("SELECT * FROM `{other}`.items"))
            .await
            .unwrap_err();
        ensure!(server_code(&denied) == Some(1142), "{denied}");
        let denied = conn.query_drop(format!("USE `{other}`")).await.unwrap_err();
        ensure!(server_code(&denied) == Some(1044), "{denied}");
        let denied = conn
            .query_drop("CREATE TABLE t2 (id INT)")
            .await
            .unwrap_err();
        ensure!(server_code(&denied) == Some(1142), "{denied}");
        let denied = conn.query_drop("DROP TABLE items").await.unwrap_err();
        ensure!(server_code(&denied) == Some(1142), "{denied}");
        let denied = conn
            .query_drop("CREATE DATABASE t_evil__x")
            .await
            .unwrap_err();
        ensure!(server_code(&denied) == Some(1044), "{denied}");
        conn.disconnect().await?;

        // Connecting straight to the other tenant's database is refused too.
        let refused = connect_as(
            &login.backend_user,
            &login.backend_password,
            Some(other.as_str()),
        )
        .await
        .unwrap_err();
        ensure!(server_code(&refused) == Some(1044), "{refused}");
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}

#[tokio::test]
async fn login_and_verifier_with_client_scramble() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let catalog = Catalog::connect(&fx.cfg).await?;
        let name = fx.tenant("login");
        let user = format!("U.{name}-x");
        catalog
            .create_tenant(&admin(), &new_tenant(&name, &["app"], &user, "s3cret pw"))
            .await?;
        let login = catalog.login(&user).await?.context("login")?;

        let scramble: [u8; 20] = rand::random();
        let response =
            mysql_common::scramble::scramble_native(&scramble, b"s3cret pw").context("scramble")?;
        ensure!(verify_native_password(
            &scramble,
            &response,
            &login.verifier
        ));
        let wrong =
            mysql_common::scramble::scramble_native(&scramble, b"s3cret PW").context("scramble")?;
        ensure!(!verify_native_password(&scramble, &wrong, &login.verifier));
        ensure!(!verify_native_password(&scramble, b"", &login.verifier));

        ensure!(catalog.login("nobody_here").await?.is_none());
        ensure!(catalog.login("not a user name").await?.is_none());
        ensure!(!format!("{login:?}").contains(&login.backend_password));
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}

#[tokio::test]
async fn add_database_bumps_mapping_version() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let catalog = Catalog::connect(&fx.cfg).await?;
        let name = fx.tenant("grow");
        let user = format!("u_{name}");
        catalog
            .create_tenant(&admin(), &new_tenant(&name, &["app"], &user, "pw"))
            .await?;
        let before = catalog.login(&user).await?.context("login")?;
        let more = DatabaseName::parse("more")?;
        let physical = catalog.add_database(&admin(), &name, &more).await?;
        ensure!(physical.as_str() == format!("t_{name}__more"));
        let after = catalog.login(&user).await?.context("login")?;
        ensure!(after.mapping_version == before.mapping_version + 1);
        ensure!(after.databases.len() == 2);
        // Idempotent: no second bump.
        catalog.add_database(&admin(), &name, &more).await?;
        let again = catalog.login(&user).await?.context("login")?;
        ensure!(again.mapping_version == after.mapping_version);

        let conn = connect_as(
            &after.backend_user,
            &after.backend_password,
            Some(physical.as_str()),
        )
        .await?;
        conn.disconnect().await?;

        let missing = fx.tenant("missing");
        let err = catalog
            .add_database(&admin(), &missing, &more)
            .await
            .unwrap_err();
        ensure!(matches!(err, CatalogError::NotFound(_)), "{err}");
        let err = catalog
            .apply_schema(&admin(), &name, &DatabaseName::parse("nope")?, &[])
            .await
            .unwrap_err();
        ensure!(matches!(err, CatalogError::NotFound(_)), "{err}");
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}

#[tokio::test]
async fn wrong_key_cannot_read_passwords() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let catalog = Catalog::connect(&fx.cfg).await?;
        let name = fx.tenant("key");
        let user = format!("u_{name}");
        catalog
            .create_tenant(&admin(), &new_tenant(&name, &["app"], &user, "pw"))
            .await?;
        let mut cfg = fx.cfg.clone();
        cfg.key = Some(SecretKey::generate().to_hex());
        let other = Catalog::connect(&cfg).await?;
        let err = other.login(&user).await.unwrap_err();
        ensure!(err.kind() == "crypto", "{err}");
        other.disconnect().await?;
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn api_keys_authenticate_by_hash() -> Result<()> {
    let fx = &Fixture::new();
    let result: Result<()> = async {
        let catalog = Catalog::connect(&fx.cfg).await?;
        let created = catalog.create_api_key(KeyScope::Operator).await?;
        let secret = &created.secret;
        ensure!(
            secret.starts_with(&format!("okey_{}_", created.key.id)),
            "{secret}"
        );
        ensure!(catalog.authenticate_key(secret).await? == Some(created.key));
        // One character changed, another id, garbage: no key.
        let mut tampered = secret.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'a' { 'b' } else { 'a' });
        ensure!(catalog.authenticate_key(&tampered).await?.is_none());
        ensure!(catalog.authenticate_key("okey_1_x").await?.is_none());
        // Only the hash is stored.
        let mut conn = admin_conn().await?;
        let stored: Option<Vec<u8>> = conn
            .exec_first(
                format!(
                    "SELECT key_hash FROM `{}`.api_keys WHERE id = ?",
                    fx.catalog_db
                ),
                (created.key.id,),
            )
            .await?;
        ensure!(stored.map(|h| h.len()) == Some(32));
        // Tenant keys need a tenant; revoked keys stop working.
        let missing = catalog.create_api_key(KeyScope::Tenant(999_999)).await;
        ensure!(
            matches!(missing, Err(CatalogError::NotFound(_))),
            "{missing:?}"
        );
        conn.exec_drop(
            format!(
                "UPDATE `{}`.api_keys SET revoked_at = CURRENT_TIMESTAMP(6) WHERE id = ?",
                fx.catalog_db
            ),
            (created.key.id,),
        )
        .await?;
        ensure!(catalog.authenticate_key(secret).await?.is_none());
        conn.disconnect().await?;
        catalog.disconnect().await?;
        Ok(())
    }
    .await;
    fx.finish(result).await
}
