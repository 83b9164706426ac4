//! Scratch databases: a desired schema created for real on the backend server, so that the
//! server itself validates the DDL (its own message goes back to the author) and describes the
//! result through information_schema exactly as it will describe the live database.
//!
//! Names are `octodb_ws_<unix seconds>_<key prefix>_<random>`: never a tenant name (those start
//! with `t_`, and tenant users only have grants on their own `t\_<tenant>\_\_%` databases), never
//! two alike, and old enough ones can be recognised and dropped after a crash
//! ([`cleanup_leftovers`], run at admin start). Databases with the same desired schema and the
//! same defaults share one workspace ([`WorkspaceSet`]).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sha2::{Digest, Sha256};

use crate::desired::{DesiredError, DesiredSchema, ALLOWED_ENGINES};
use crate::ident::{quote_ident, SchemaName};
use crate::introspect::{introspect, DatabaseDefaults, IntrospectError};
use crate::model::SchemaModel;
use crate::session;
use crate::transient::is_transient;

/// Every workspace name starts with this.
pub const WORKSPACE_PREFIX: &str = "octodb_ws_";

/// Why a workspace could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The server or the connection failed.
    #[error("mysql: {0}")]
    Mysql(mysql_async::Error),

    /// The server refused a desired CREATE TABLE; `message` is its own (workspace name removed),
    /// for the author (an API answers 422 with it).
    #[error("table {table}: {message} (error {code})")]
    InvalidDdl {
        table: String,
        code: u16,
        message: String,
    },

    /// The desired schema is incomplete (a foreign key to a table it does not define).
    #[error(transparent)]
    Desired(#[from] DesiredError),

    /// Something refused before it reaches the server (an engine, a name).
    #[error("{0}")]
    Refused(String),

    /// Reading the workspace back failed.
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
}

impl WorkspaceError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            WorkspaceError::Mysql(_) => "mysql",
            WorkspaceError::InvalidDdl { .. } => "invalid_ddl",
            WorkspaceError::Desired(_) => "desired",
            WorkspaceError::Refused(_) => "refused",
            WorkspaceError::Introspect(_) => "introspect",
        }
    }

    /// Whether trying again later may succeed (never for invalid DDL).
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkspaceError::Mysql(e) => is_transient(e),
            WorkspaceError::Introspect(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<mysql_async::Error> for WorkspaceError {
    fn from(e: mysql_async::Error) -> Self {
        WorkspaceError::Mysql(e)
    }
}

/// A built workspace. Drop it explicitly with [`Workspace::drop`]; one that is merely dropped
/// in Rust stays on the server until [`cleanup_leftovers`] (a warning says so).
#[derive(Debug)]
pub struct Workspace {
    name: SchemaName,
    key: String,
    model: SchemaModel,
    live: bool,
}

impl Workspace {
    /// The sharing key of a desired schema built with `defaults`.
    pub fn key_for(desired: &DesiredSchema, defaults: &DatabaseDefaults) -> String {
        key_of(&desired.normalized_sql(), defaults)
    }

    /// Builds `desired` in a new workspace whose defaults are `defaults` (those of the
    /// databases it will be compared with). Invalid DDL gives [`WorkspaceError::InvalidDdl`];
    /// on any error the workspace is already gone.
    pub async fn create(
        conn: &mut Conn,
        desired: &DesiredSchema,
        defaults: &DatabaseDefaults,
    ) -> Result<Workspace, WorkspaceError> {
        desired.check_references()?;
        let key = Workspace::key_for(desired, defaults);
        let name = new_name(&key)?;
        let (order, cycle) = desired.creation_order();
        let statements = order
            .iter()
            .filter_map(|t| desired.table(t))
            .map(|t| (t.name().to_string(), t.render(Some(&name))))
            .collect();
        build(conn, name, key, defaults, statements, cycle).await
    }

    /// Builds a workspace from SHOW CREATE TABLE texts (a snapshot's), foreign key checks off
    /// (the tables are empty). Only allowed engines; no file placement options.
    pub async fn create_from_server_text(
        conn: &mut Conn,
        tables: &[(String, String)],
        defaults: &DatabaseDefaults,
    ) -> Result<Workspace, WorkspaceError> {
        let joined: String = tables.iter().map(|(_, sql)| format!("{sql};\n")).collect();
        let key = key_of(&joined, defaults);
        let name = new_name(&key)?;
        let mut statements = Vec::with_capacity(tables.len());
        for (table, sql) in tables {
            statements.push((table.clone(), requalify(table, sql, &name)?));
        }
        build(conn, name, key, defaults, statements, true).await
    }

    /// The database's name.
    pub fn name(&self) -> &SchemaName {
        &self.name
    }

    /// The sharing key (SHA-256 of the desired text and the defaults).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The desired schema as the server built it.
    pub fn model(&self) -> &SchemaModel {
        &self.model
    }

    /// Drops the workspace database.
    pub async fn drop(mut self, conn: &mut Conn) -> Result<(), WorkspaceError> {
        conn.query_drop(format!("DROP DATABASE IF EXISTS {}", self.name.quoted()))
            .await?;
        self.live = false;
        Ok(())
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if self.live {
            tracing::warn!(workspace = %self.name, "workspace not dropped; cleanup_leftovers will remove it");
        }
    }
}

fn key_of(text: &str, defaults: &DatabaseDefaults) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.update(b"\0");
    h.update(defaults.charset.as_bytes());
    h.update(b"\0");
    h.update(defaults.collation.as_bytes());
    hex::encode(h.finalize())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn new_name(key: &str) -> Result<SchemaName, WorkspaceError> {
    let random: [u8; 4] = rand::random();
    let name = format!(
        "{WORKSPACE_PREFIX}{}_{}_{}",
        unix_now(),
        &key[..key.len().min(12)],
        hex::encode(random)
    );
    SchemaName::new(name).map_err(|e| WorkspaceError::Refused(e.to_string()))
}

/// The creation time encoded in a workspace name, if `name` is one of ours.
fn created_at(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(WORKSPACE_PREFIX)?;
    let mut parts = rest.split('_');
    let secs = parts.next()?.parse().ok()?;
    let key = parts.next()?;
    let random = parts.next()?;
    let hexish = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    (parts.next().is_none() && hexish(key) && hexish(random)).then_some(secs)
}

/// `CREATE TABLE `t` (...` as the server prints it, aimed at `schema`. Refuses texts that do
/// not start that way or place files.
fn requalify(table: &str, sql: &str, schema: &SchemaName) -> Result<String, WorkspaceError> {
    let prefix = format!("CREATE TABLE {} (", quote_ident(table));
    let body = sql.strip_prefix(&prefix).ok_or_else(|| {
        WorkspaceError::Refused(format!("unexpected CREATE TABLE text for {table}"))
    })?;
    let options = body.rsplit_once("\n)").map(|(_, o)| o).unwrap_or_default();
    let upper = options.to_ascii_uppercase();
    if upper.contains("DIRECTORY=") || upper.contains("CONNECTION=") || upper.contains("UNION=") {
        return Err(WorkspaceError::Refused(format!(
            "table {table} has file or connection options"
        )));
    }
    let engine = options
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ENGINE="))
        .unwrap_or("InnoDB");
    if !ALLOWED_ENGINES
        .iter()
        .any(|e| e.eq_ignore_ascii_case(engine))
    {
        return Err(WorkspaceError::Refused(format!(
            "table {table} uses engine {engine}"
        )));
    }
    Ok(format!(
        "CREATE TABLE {}.{} ({body}",
        schema.quoted(),
        quote_ident(table)
    ))
}

/// Creates the database and its tables, then reads it back. Drops it again on any failure.
async fn build(
    conn: &mut Conn,
    name: SchemaName,
    key: String,
    defaults: &DatabaseDefaults,
    statements: Vec<(String, String)>,
    foreign_key_checks_off: bool,
) -> Result<Workspace, WorkspaceError> {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !word(&defaults.charset) || !word(&defaults.collation) {
        return Err(WorkspaceError::Refused(format!(
            "unexpected database defaults {defaults:?}"
        )));
    }
    let saved = session::prepare(conn, None).await?;
    let created = conn
        .query_drop(format!(
            "CREATE DATABASE {} CHARACTER SET {} COLLATE {}",
            name.quoted(),
            defaults.charset,
            defaults.collation
        ))
        .await;
    let result = match created {
        Ok(()) => fill(conn, &name, statements, foreign_key_checks_off).await,
        Err(e) => Err(e.into()),
    };
    let result = match result {
        Ok(()) => introspect(conn, &name).await.map_err(WorkspaceError::from),
        Err(e) => Err(e),
    };
    let restored = session::restore(conn, saved).await;
    match result.and_then(|model| restored.map(|()| model).map_err(WorkspaceError::from)) {
        Ok(model) => Ok(Workspace {
            name,
            key,
            model,
            live: true,
        }),
        Err(e) => {
            let _ = conn
                .query_drop(format!("DROP DATABASE IF EXISTS {}", name.quoted()))
                .await;
            Err(e)
        }
    }
}

async fn fill(
    conn: &mut Conn,
    name: &SchemaName,
    statements: Vec<(String, String)>,
    foreign_key_checks_off: bool,
) -> Result<(), WorkspaceError> {
    if foreign_key_checks_off {
        conn.query_drop("SET SESSION foreign_key_checks = 0")
            .await?;
    }
    let mut result = Ok(());
    for (table, sql) in statements {
        if let Err(e) = conn.query_drop(sql).await {
            result = Err(match e {
                mysql_async::Error::Server(s) => WorkspaceError::InvalidDdl {
                    table,
                    code: s.code,
                    message: without_workspace(&s.message, name),
                },
                other => other.into(),
            });
            break;
        }
    }
    if foreign_key_checks_off {
        conn.query_drop("SET SESSION foreign_key_checks = 1")
            .await?;
    }
    result
}

/// The server's message with the workspace's name taken out (`` `octodb_ws_..`.`t` `` -> `` `t` ``).
fn without_workspace(message: &str, name: &SchemaName) -> String {
    message
        .replace(&format!("{}.", name.quoted()), "")
        .replace(&format!("{}.", name.as_str()), "")
        .replace(name.as_str(), "workspace")
}

/// Drops workspaces left behind (a crash, a lost connection) created more than `older_than`
/// ago. Returns the names dropped. Only names this module generates are considered.
pub async fn cleanup_leftovers(
    conn: &mut Conn,
    older_than: Duration,
) -> Result<Vec<String>, WorkspaceError> {
    let names: Vec<String> = conn
        .exec(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
            (format!("{}%", WORKSPACE_PREFIX.replace('_', "\\_")),),
        )
        .await?;
    let now = unix_now();
    let mut dropped = Vec::new();
    for name in names {
        let Some(at) = created_at(&name) else {
            continue;
        };
        if now.saturating_sub(at) >= older_than.as_secs() {
            conn.query_drop(format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)))
                .await?;
            dropped.push(name);
        }
    }
    Ok(dropped)
}

/// Workspaces shared by key: one per distinct (desired schema, defaults) during a rollout.
#[derive(Debug, Default)]
pub struct WorkspaceSet {
    by_key: HashMap<String, Workspace>,
}

impl WorkspaceSet {
    pub fn new() -> WorkspaceSet {
        WorkspaceSet::default()
    }

    /// The workspace for `desired` with `defaults`, built on first use.
    pub async fn get_or_create(
        &mut self,
        conn: &mut Conn,
        desired: &DesiredSchema,
        defaults: &DatabaseDefaults,
    ) -> Result<&Workspace, WorkspaceError> {
        let key = Workspace::key_for(desired, defaults);
        if !self.by_key.contains_key(&key) {
            let ws = Workspace::create(conn, desired, defaults).await?;
            self.by_key.insert(key.clone(), ws);
        }
        self.by_key
            .get(&key)
            .ok_or_else(|| WorkspaceError::Refused("workspace vanished".into()))
    }

    /// How many workspaces are built.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Drops every workspace (all are attempted; the first error is returned).
    pub async fn drop_all(self, conn: &mut Conn) -> Result<(), WorkspaceError> {
        let mut first = Ok(());
        for (_, ws) in self.by_key {
            if let Err(e) = ws.drop(conn).await {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_their_age_and_are_recognised() {
        let name = new_name(&"ab".repeat(32)).unwrap();
        assert!(name.as_str().starts_with(WORKSPACE_PREFIX));
        assert!(name.as_str().len() <= 64);
        let at = created_at(name.as_str()).unwrap();
        assert!(unix_now() - at < 5);
        assert_ne!(new_name("abc").unwrap(), new_name("abc").unwrap());
        for foreign in [
            "octodb_ws_",
            "octodb_ws_x_ab_cd",
            "octodb_ws_1_ab_cd_e",
            "octodb_ws_1_zz_cd",
            "t_acme__shop",
        ] {
            assert_eq!(created_at(foreign), None, "{foreign}");
        }
        assert_eq!(created_at("octodb_ws_100_ab12_cd34"), Some(100));
    }

    #[test]
    fn keys_depend_on_text_and_defaults() {
        let d = |cs: &str| DatabaseDefaults {
            charset: cs.into(),
            collation: format!("{cs}_bin"),
        };
        assert_eq!(key_of("a", &d("utf8mb4")), key_of("a", &d("utf8mb4")));
        assert_ne!(key_of("a", &d("utf8mb4")), key_of("a", &d("latin1")));
        assert_ne!(key_of("a", &d("utf8mb4")), key_of("b", &d("utf8mb4")));
    }

    #[test]
    fn server_text_is_requalified_and_checked() {
        let ws = SchemaName::new("octodb_ws_1_ab_cd").unwrap();
        let sql = "CREATE TABLE `t``x` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
        assert_eq!(
            requalify("t`x", sql, &ws).unwrap(),
            "CREATE TABLE `octodb_ws_1_ab_cd`.`t``x` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
        assert!(requalify("other", sql, &ws).is_err());
        let files = "CREATE TABLE `t` (\n  `id` int\n) ENGINE=InnoDB DATA DIRECTORY='/tmp/'";
        assert!(requalify("t", files, &ws).is_err());
        let connect = "CREATE TABLE `t` (\n  `id` int\n) ENGINE=CONNECT";
        assert!(requalify("t", connect, &ws).is_err());
    }

    #[test]
    fn messages_lose_the_workspace_name() {
        let ws = SchemaName::new("octodb_ws_1_ab_cd").unwrap();
        assert_eq!(
            without_workspace(
                "Can't create table `octodb_ws_1_ab_cd`.`t` (errno: 150)",
                &ws
            ),
            "Can't create table `t` (errno: 150)"
        );
        assert_eq!(
            without_workspace("Table 'octodb_ws_1_ab_cd.t' doesn't exist", &ws),
            "Table 't' doesn't exist"
        );
    }
}
